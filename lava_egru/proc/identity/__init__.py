"""The graded linear (identity) neuron: ``s_out = a_in + bias``."""
