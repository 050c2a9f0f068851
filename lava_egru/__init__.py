"""The EGRU as Lava (lava-nc 0.10.0) Processes, built from the ``egru-network`` file format.

- :class:`EGRUNetwork` (path or spec): a whole network from a format file (as
  lava-dl netx's ``hdf5.Network(net_config=path)``, whose subclass it is) or from an
  :class:`egru_format.NetworkSpec` in memory; ``sparse=`` chooses the Lava
  ``Sparse``/``Dense`` synapses (:mod:`lava_egru.proc.network`).
- :func:`simulate` (network, x): run it on Lava's CPU backend; outputs aligned with
  the inputs (:mod:`lava_egru.simulation` documents the timing).
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

Rule: modules here never import ``snntorch_egru``, ``torch`` or ``snntorch``
(checked by tests/test_architecture.py; lava-dl's netx imports torch on its own).
Lava needs Python 3.10 and numpy<2.

Imports are lazy: ``import lava_egru`` imports none of the names above; each is
imported from its submodule on first access (``lava_egru.EGRUNetwork`` imports
:mod:`lava_egru.proc.network`, and with it netx and torch). Lava's model discovery
imports the model modules of :mod:`lava_egru.proc` (and so this package) in every
worker process: they stay free of torch and netx (tests/lava/test_lava_imports.py).

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

import importlib
import typing as ty

#: Exported name -> the submodule that defines it. Imported on first access (module ``__getattr__``):
#: Python runs this ``__init__`` before any submodule, and Lava's model discovery imports the model
#: modules of :mod:`lava_egru.proc` in every worker process, so importing them eagerly here would load
#: lava-dl's netx (and torch) there. Only :mod:`lava_egru.proc.network` imports netx.
_EXPORTS = {
    "EGRUNetwork": "lava_egru.proc.network.process",
    "simulate": "lava_egru.simulation",
    "SimulationResult": "lava_egru.simulation",
    "SaturationWarning": "lava_egru.simulation",
    "export": "lava_egru.exchange",
    "network_spec": "lava_egru.exchange",
    "EGRUNeuron": "lava_egru.proc.egru.process",
    "Identity": "lava_egru.proc.identity.process",
    "OneHot": "lava_egru.proc.one_hot.process",
    "InputBlock": "lava_egru.proc.blocks.process",
    "DenseBlock": "lava_egru.proc.blocks.process",
    "EGRUBlock": "lava_egru.proc.blocks.process",
}

__all__ = [
    "EGRUNetwork", "simulate", "SimulationResult", "SaturationWarning", "export", "network_spec",
    "EGRUNeuron", "Identity", "OneHot", "InputBlock", "DenseBlock", "EGRUBlock",
]

if ty.TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .exchange import export, network_spec
    from .proc.blocks.process import DenseBlock, EGRUBlock, InputBlock
    from .proc.egru.process import EGRUNeuron
    from .proc.identity.process import Identity
    from .proc.network.process import EGRUNetwork
    from .proc.one_hot.process import OneHot
    from .simulation import SaturationWarning, SimulationResult, simulate


def __getattr__(name: str):
    """The exported ``name``, imported from its submodule on first access (then cached here)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
