"""A whole network from an ``egru-network`` file or spec (a subclass of lava-dl netx's ``hdf5.Network``)."""
