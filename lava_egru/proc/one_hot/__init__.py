"""Token ids to one-hot spikes: the input neuron of a token network."""
