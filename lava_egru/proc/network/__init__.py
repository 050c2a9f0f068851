"""A whole network from an ``egru-network`` file (a subclass of lava-dl netx's ``hdf5.Network``)."""
