"""A whole network from an ``egru-network`` file or spec: a hierarchical Lava Process and its SubProcessModel."""
