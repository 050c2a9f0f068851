"""``egru_format``: the versioned HDF5 network format (``egru-network``, version 3), the hub.

A trained EGRU network is one HDF5 file laid out like lava-dl netx's network
description: root attributes ``format``, ``format_version``, ``producer``; groups
``layer/0 .. layer/{n-1}`` in order (an ``input`` layer, then ``dense`` and ``egru``
layers); and a ``model`` group of attributes that the format keeps as they are (the
torch side stores there what it needs to rebuild its module, and checks it itself).
docs/format.md documents every entry and docs/fixed-point.md the integer arithmetic of
a quantised (version >= 2) file.

This package is the leaf of the repository: it imports numpy and h5py only and no
sibling package. The snnTorch side (``snntorch_egru``), the Lava side (``lava_egru``) and
the bridge between them (``converters``) all import it; it owns

- the constants (:mod:`egru_format.constants`): versions, gate order, reset
  mechanisms, event polarities, fixed-point widths and bounds;
- the spec dataclasses (:mod:`egru_format.spec`): :class:`NetworkSpec`,
  :class:`InputLayer`, :class:`DenseLayer`, :class:`EGRULayer`, :class:`SurrogateSpec`
  and the fixed-point formats :class:`InputQuantization`, :class:`DenseQuantization`,
  :class:`EGRUQuantization`;
- validation (:func:`validate_spec`) and the errors :class:`FormatError`,
  :class:`QuantizationError`;
- CSR helpers (:mod:`egru_format.csr`);
- the numpy integer primitives (:mod:`egru_format.integer`), the fixed-point view of
  a quantised network (:mod:`egru_format.fixed_point`, :func:`integer_network`) and the
  EGRU step in numpy, float and fixed point (:mod:`egru_format.arithmetic`), shared by
  the Lava neuron models and the snnTorch side's event-driven engine;
- reading and writing network files (:func:`read_network`, :func:`write_network`,
  :func:`network_image`);
- the one atomic writer of every file the project writes (:mod:`egru_format.atomic`:
  :func:`atomic_write`, :func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`atomic_write_stream`).

Example::

    >>> import numpy as np, os, tempfile
    >>> from egru_format import NetworkSpec, InputLayer, EGRULayer, DenseLayer, write_network, read_network
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> spec = NetworkSpec(
    ...     layers=[InputLayer(3),
    ...             EGRULayer(f32(12, 3), f32(12, 4), f32(12), f32(12), np.full(4, 0.1, np.float32)),
    ...             DenseLayer(f32(2, 4), f32(2))],
    ...     model={"description": "EGRU + readout"})
    >>> path = write_network(spec, os.path.join(tempfile.mkdtemp(), "net.h5"))
    >>> back = read_network(path)
    >>> [layer.type for layer in back.layers], back.layers[1].shape
    (['input', 'egru', 'dense'], (4,))
    >>> back.layers == spec.layers                 # exact: dtypes, shapes and bits
    True
    >>> back.model                                 # no 'class': a generic layer stack
    {'description': 'EGRU + readout'}
"""

from __future__ import annotations

from . import constants
from .constants import (
    EGRU_OVERFLOW_KEYS,
    EXP_LIMIT,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAC_GATE,
    FRAC_LIMIT,
    GATE_ONE,
    GATE_ORDER,
    INPUT_ENCODINGS,
    INT24_MAX,
    INT24_MIN,
    INT32_MAX,
    INT32_MIN,
    MANTISSA_MAX,
    MANTISSA_MIN,
    OVERFLOW_KEYS,
    PRODUCER,
    POLARITIES,
    RESET_MECHANISMS,
    SPARSE_AUTO_FRACTION,
    SUPPORTED_VERSIONS,
    SURROGATE_TYPES,
    WEIGHT_EXP_MAX,
    WEIGHT_EXP_MIN,
)
from .atomic import PathLike, atomic_write, atomic_write_bytes, atomic_write_stream, atomic_write_text
from .csr import csr_from_dense, dense_from_csr, zero_fraction
from .errors import FormatError, QuantizationError
from .fixed_point import SPEC_SOURCE, FixedPointDense, FixedPointEGRU, FixedPointInput
from .io import network_image, read_network, write_network
from .spec import (
    LAYER_TYPES,
    DenseLayer,
    DenseQuantization,
    EGRULayer,
    EGRUQuantization,
    InputLayer,
    InputQuantization,
    NetworkSpec,
    SurrogateSpec,
)
from .validation import integer_network, validate_spec

__all__ = [
    # constants
    "FORMAT_NAME", "FORMAT_VERSION", "SUPPORTED_VERSIONS", "PRODUCER", "GATE_ORDER", "RESET_MECHANISMS", "POLARITIES",
    "INPUT_ENCODINGS", "SURROGATE_TYPES", "SPARSE_AUTO_FRACTION", "FRAC_GATE", "GATE_ONE",
    "INT24_MIN", "INT24_MAX", "INT32_MIN", "INT32_MAX", "MANTISSA_MIN", "MANTISSA_MAX", "WEIGHT_EXP_MIN",
    "WEIGHT_EXP_MAX", "FRAC_LIMIT", "EXP_LIMIT", "OVERFLOW_KEYS",
    "EGRU_OVERFLOW_KEYS",
    # errors
    "FormatError", "QuantizationError",
    # spec
    "NetworkSpec", "InputLayer", "DenseLayer", "EGRULayer", "SurrogateSpec", "LAYER_TYPES",
    "InputQuantization", "DenseQuantization", "EGRUQuantization",
    # validation, fixed point, CSR, files
    "validate_spec", "integer_network", "FixedPointInput", "FixedPointDense", "FixedPointEGRU", "SPEC_SOURCE",
    "csr_from_dense", "dense_from_csr", "zero_fraction",
    "read_network", "write_network", "network_image", "PathLike",
    "atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_write_stream",
]


def __getattr__(name: str):
    if name == "MODEL_CLASSES":   # deprecated (see egru_format.constants)
        return getattr(constants, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
