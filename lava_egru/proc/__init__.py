"""Lava Processes of the EGRU and their ProcessModels, one subpackage per Process family.

Lava's model discovery executes every module in a Process's folder, so each
subpackage holds only ``process.py`` (ports and Vars) and ``models.py`` (behaviour)
and imports nothing heavy: Lava, :mod:`egru_format`, numpy and scipy (no torch, no
lava-dl).

- :mod:`~lava_egru.proc.egru`: the EGRU neuron (gates, state, threshold, reset).
- :mod:`~lava_egru.proc.identity`: a graded linear neuron (``a_in + bias``).
- :mod:`~lava_egru.proc.one_hot`: token id -> one-hot spikes.
- :mod:`~lava_egru.proc.blocks`: hierarchical layers (Dense/Sparse + neuron).
- :mod:`~lava_egru.proc.network`: a whole network from an ``egru-network`` file or spec
  (a hierarchical Process over its chained blocks).

Shared by the subpackages (outside every Process's folder, so model discovery
never executes them): :mod:`~lava_egru.proc.abstract_models` (the abstract base of
the neuron ProcessModels and the Lava types of both precisions) and
:mod:`~lava_egru.proc.checks` (argument checks of the Processes).
"""
