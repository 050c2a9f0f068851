"""The EGRU neuron Process (:class:`~lava_egru.proc.egru.process.EGRUNeuron`) and its models."""
