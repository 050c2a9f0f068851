"""The versioned HDF5 network format and the converters between the snnTorch and Lava EGRU.

The format (:mod:`egru_format`, numpy + h5py only, documented in docs/format.md)
is the hub: a trained snnTorch model is written to it, and the Lava network is built
from it. This package is the only one that knows both sides; importing it does not
import torch or Lava: the entry points below import their side lazily.

- :func:`export` (model, path): write a model to a file (dispatches on the model's type).
- :func:`load_snntorch` (path): the ``snntorch_egru`` model a file describes.
- :func:`load_lava` (path, precision=None, sparse="keep"): the Lava network a file
  describes (implemented in :mod:`converters.lava_bridge`).
- :func:`from_evnn` (source): a language model of the reference implementation (EvNN), from its
  run directory or checkpoint file (:mod:`converters.evnn`, which also writes that layout).
- :func:`read_network` / :func:`write_network` and the :class:`NetworkSpec` dataclasses:
  the format itself, with :class:`FormatError` for every invalid file (re-exported
  from their home, :mod:`egru_format`: new code imports them from there).
- :func:`integer_network` (spec): the integers of a quantised network (format version 2,
  docs/fixed-point.md), numpy only: what a Lava fixed-point model loads (also
  :mod:`egru_format`'s).

Example::

    >>> import os, tempfile, torch
    >>> import converters, egru_format
    >>> from snntorch_egru import EGRU
    >>> rnn = EGRU(4, [8, 6])
    >>> path = converters.export(rnn, os.path.join(tempfile.mkdtemp(), "egru.h5"))
    >>> [layer.type for layer in egru_format.read_network(path).layers]
    ['input', 'egru', 'egru']
    >>> again = converters.load_snntorch(path)
    >>> all(torch.equal(a, b) for a, b in zip(rnn.state_dict().values(), again.state_dict().values()))
    True
"""

from __future__ import annotations

from egru_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    GATE_ORDER,
    PRODUCER,
    RESET_MECHANISMS,
    SUPPORTED_VERSIONS,
    DenseLayer,
    DenseQuantization,
    EGRULayer,
    EGRUQuantization,
    FixedPointDense,
    FixedPointEGRU,
    FixedPointInput,
    FormatError,
    InputLayer,
    InputQuantization,
    NetworkSpec,
    SurrogateSpec,
    integer_network,
    read_network,
    validate_spec,
    write_network,
)

__all__ = [
    "export", "load_snntorch", "load_lava", "from_evnn",
    "FORMAT_NAME", "FORMAT_VERSION", "GATE_ORDER", "PRODUCER", "RESET_MECHANISMS", "FormatError",
    "NetworkSpec", "InputLayer", "DenseLayer", "EGRULayer", "SurrogateSpec",
    "read_network", "write_network", "validate_spec",
    "SUPPORTED_VERSIONS", "InputQuantization", "DenseQuantization", "EGRUQuantization", "integer_network",
    "FixedPointInput", "FixedPointDense", "FixedPointEGRU",
]

_SUPPORTED = "snntorch_egru.EGRU, snntorch_egru.EGRULanguageModel, lava_egru.EGRUNetwork"


def _defined_in(model, packages: tuple) -> bool:
    """Whether ``model``'s class, or one of its base classes, comes from one of ``packages``."""
    return any(cls.__module__.split(".")[0] in packages for cls in type(model).__mro__)


def export(model, path, *, sparse=None, quantization=None):
    """Write ``model`` to the network file ``path`` (atomically); return the path as a ``Path``.

    Dispatch on the model's type, by the package that defines its class, so that the
    torch side is imported only for torch models:

    - ``snntorch_egru`` objects (``EGRU``, ``EGRULanguageModel``) go to
      :func:`converters.snntorch_bridge.export_snntorch`;
    - ``lava_egru`` networks (:class:`lava_egru.EGRUNetwork`) go to
      :func:`converters.lava_bridge.export_lava` (their current weights, read from the
      Lava Vars);
    - anything else: ``TypeError`` naming the supported types.

    ``sparse``: ``"auto"`` (CSR for weight matrices that are at least half zeros),
    ``True`` or ``False``; see :func:`egru_format.write_network`. Default: ``"auto"``
    for torch models, ``"keep"`` for Lava networks (exactly the ``Sparse`` synapses
    become CSR, so torch -> file -> Lava -> file is lossless).
    ``quantization``: a :class:`snntorch_egru.quantization.QuantizationSpec` to store
    (format version 2, docs/fixed-point.md), or None for a float network.
    """
    if _defined_in(model, ("snntorch_egru",)):
        from .snntorch_bridge import export_snntorch

        return export_snntorch(model, path, sparse="auto" if sparse is None else sparse,
                               quantization=quantization)
    if _defined_in(model, ("lava_egru",)):
        if quantization is not None:
            raise NotImplementedError("exporting a quantization from a Lava network is not implemented")
        from .lava_bridge import export_lava

        return export_lava(model, path, sparse="keep" if sparse is None else sparse)
    raise TypeError(f"cannot export a {type(model).__name__}: supported types are {_SUPPORTED}")


def load_snntorch(path, *, with_quantization: bool = False):
    """The ``snntorch_egru`` model (``EGRU`` or ``EGRULanguageModel``) stored in ``path``.

    ``with_quantization=True``: ``(model, QuantizationSpec or None)``.
    """
    from .snntorch_bridge import load_snntorch as _load_snntorch

    return _load_snntorch(path, with_quantization=with_quantization)


def load_lava(path, precision=None, *, sparse="keep"):
    """The Lava network stored in ``path``: :func:`converters.lava_bridge.load_lava`.

    ``precision`` (``"floating_pt"``, ``"fixed_pt"`` or None: the file decides) and
    ``sparse`` (``"keep"``, ``"auto"``, True, False) go to
    :class:`lava_egru.EGRUNetwork`. Imports :mod:`converters.lava_bridge` (and so
    Lava) on first call; an ``ImportError`` there propagates.
    """
    from . import lava_bridge

    return lava_bridge.load_lava(path, precision, sparse=sparse)


def from_evnn(source, **sizes):
    """The reference implementation's language model at ``source`` (a run directory or a checkpoint
    file) as a model of this library: :func:`converters.evnn.from_evnn` (imports torch on first call)."""
    from .evnn import from_evnn as _from_evnn

    return _from_evnn(source, **sizes)
