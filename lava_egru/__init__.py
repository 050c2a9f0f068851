"""The EGRU as Lava (lava-nc 0.10.0) Processes, built from the ``egru-network`` file format.

- :class:`EGRUNetwork` (path or spec): a whole network, one hierarchical Lava Process,
  from a format file (called as lava-dl netx's ``hdf5.Network(net_config=path)``) or
  from an :class:`egru_format.NetworkSpec` in memory; ``sparse=`` chooses the Lava
  ``Sparse``/``Dense`` synapses (:mod:`lava_egru.proc.network`).
- :func:`simulate` (network, x): run that network on Lava's CPU backend; outputs
  aligned with the inputs (:mod:`lava_egru.simulation` documents the timing).
- :func:`export` (network, path) and :func:`network_spec` (network): its current
  parameters back to the format (:mod:`lava_egru.exchange`).
- :mod:`lava_egru.proc`: the Processes: :class:`EGRUNeuron`, the identity and
  one-hot neurons, and the blocks (:class:`EGRUBlock`, :class:`DenseBlock`,
  :class:`InputBlock`) a network is made of.

Precision: floating-point models (``select_tag="floating_pt"``) and Loihi-style
fixed-point models (``select_tag="fixed_pt"``, tagged ``bit_accurate_loihi`` too):
the integer arithmetic of docs/fixed-point.md on Lava's own bit-accurate
``Dense``/``Sparse``, bit for bit ``snntorch_egru.quantization``'s integer mode.
``simulate(network, x, precision="fixed_pt", return_details=True)`` needs a
quantised (version 2) network file and returns the output integers, their float
view (``integer / 2**frac_state`` of the output layer) and the overflow counters.

Rule: modules here never import ``snntorch_egru``, ``torch`` or ``snntorch`` (checked
by tests/test_architecture.py), nor lava-dl: ``import lava_egru`` loads neither torch
nor ``lava.lib.dl`` (checked in a fresh interpreter by
tests/lava_egru/test_imports.py). Lava's model discovery imports the model modules of
:mod:`lava_egru.proc`, and so this package, in every worker process: everything here
is Lava, :mod:`egru_format` and numpy/scipy. Lava needs Python 3.10 and numpy<2.

Example::

    >>> import os, tempfile
    >>> import numpy as np
    >>> from egru_format import DenseLayer, EGRULayer, InputLayer, NetworkSpec, write_network
    >>> import lava_egru
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> vocab, emb, hidden = 5, 4, 6
    >>> spec = NetworkSpec(
    ...     [InputLayer(vocab, "tokens"), DenseLayer(f32(emb, vocab)),
    ...      EGRULayer(f32(3 * hidden, emb), f32(3 * hidden, hidden), f32(3 * hidden), f32(3 * hidden),
    ...                np.full(hidden, 0.2, np.float32)),
    ...      DenseLayer(f32(vocab, hidden), f32(vocab))],
    ...     {"class": "EGRULanguageModel"})
    >>> net = lava_egru.EGRUNetwork(write_network(spec, os.path.join(tempfile.mkdtemp(), "lm.h5")))
    >>> len(net), net.latency
    (4, 3)
    >>> logits = lava_egru.simulate(net, np.array([1, 4, 0, 2]))
    >>> logits.shape
    (4, 5)
    >>> in_memory = lava_egru.EGRUNetwork(spec)          # the same network, no file
    >>> bool(np.array_equal(lava_egru.simulate(in_memory, np.array([1, 4, 0, 2])), logits))
    True
"""

from lava_egru.exchange import export, network_spec
from lava_egru.proc.blocks.process import DenseBlock, EGRUBlock, InputBlock
from lava_egru.proc.egru.process import EGRUNeuron
from lava_egru.proc.identity.process import Identity
from lava_egru.proc.network.process import EGRUNetwork
from lava_egru.proc.one_hot.process import OneHot
from lava_egru.simulation import SaturationWarning, SimulationResult, simulate

__all__ = [
    "EGRUNetwork", "simulate", "SimulationResult", "SaturationWarning", "export", "network_spec",
    "EGRUNeuron", "Identity", "OneHot", "InputBlock", "DenseBlock", "EGRUBlock",
]
