"""File format and converters between the snnTorch and Lava EGRU (not implemented yet).

This package will hold the versioned HDF5 file format for trained EGRU
weights, the hub between the two sides, and the converters from the snnTorch
layer (``snntorch_egru``) to the format and from the format to the Lava
process (``lava_egru``). It is the only package that may import both sides.

Nothing is implemented yet (planned: format, converters and Lava float
model). This package defines nothing else.
"""
