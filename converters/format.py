"""The versioned HDF5 network format (``egru-network``, version 2): the hub between the two sides.

A trained EGRU network is one HDF5 file laid out like lava-dl netx's network
description: root attributes ``format``, ``format_version``, ``producer``; groups
``layer/0 .. layer/{n-1}`` in order (an ``input`` layer, then ``dense`` and ``egru``
layers); and a ``model`` group with what the torch side needs to rebuild the module.
docs/format.md documents every group, dataset and attribute.

This module imports only numpy and h5py (plus the standard library): the snnTorch
side (through :mod:`converters.snntorch_bridge`) and the Lava side both read and write
through it.

Python API:

- dataclasses :class:`NetworkSpec`, :class:`InputLayer`, :class:`DenseLayer`,
  :class:`EGRULayer`, :class:`SurrogateSpec` (float32 numpy arrays inside);
- version 2: the optional fixed-point formats of a quantised network
  (:class:`InputQuantization`, :class:`DenseQuantization`, :class:`EGRUQuantization`,
  one per layer, docs/fixed-point.md) and :func:`integer_network`, which derives every
  integer the fixed-point arithmetic uses (Lava weights, ``weight_exp``, integer biases
  and thresholds) with numpy only;
- :func:`write_network` (validates, then writes atomically) and :func:`read_network`
  (reads and validates);
- :class:`FormatError` (a ``ValueError``): every problem found in a file or a spec,
  with a message that names the file and the field;
- CSR helpers :func:`csr_from_dense`, :func:`dense_from_csr` (numpy only) and
  :func:`to_scipy_csr` (needs scipy).

Example::

    >>> import numpy as np, os, tempfile
    >>> from converters.format import (NetworkSpec, InputLayer, EGRULayer, DenseLayer,
    ...                                write_network, read_network)
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> spec = NetworkSpec(
    ...     layers=[InputLayer(3),
    ...             EGRULayer(f32(12, 3), f32(12, 4), f32(12), f32(12), np.full(4, 0.1, np.float32)),
    ...             DenseLayer(f32(2, 4), f32(2))],
    ...     model={"description": "EGRU + readout"})
    >>> path = os.path.join(tempfile.mkdtemp(), "net.h5")
    >>> _ = write_network(spec, path)
    >>> back = read_network(path)
    >>> [layer.type for layer in back.layers], back.layers[1].shape
    (['input', 'egru', 'dense'], (4,))
    >>> back.layers == spec.layers                 # exact: dtypes, shapes and bits
    True
    >>> back.model                                 # no 'class': a generic layer stack
    {'description': 'EGRU + readout'}
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar, Optional, Union

import h5py
import numpy as np

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "PRODUCER", "GATE_ORDER", "RESET_MECHANISMS", "INPUT_ENCODINGS",
    "MODEL_CLASSES", "SPARSE_AUTO_FRACTION", "FormatError", "SurrogateSpec", "InputLayer", "DenseLayer",
    "EGRULayer", "NetworkSpec", "write_network", "read_network", "validate_spec", "csr_from_dense",
    "dense_from_csr", "to_scipy_csr", "zero_fraction", "SUPPORTED_VERSIONS", "InputQuantization",
    "DenseQuantization", "EGRUQuantization", "FixedPointInput", "FixedPointDense", "FixedPointEGRU",
    "integer_network", "FRAC_GATE",
]

FORMAT_NAME = "egru-network"
FORMAT_VERSION = 2
#: Versions this reader accepts (version 1 files have no quantization groups).
SUPPORTED_VERSIONS = (1, 2)
PRODUCER = "egru 0.1.0"
GATE_ORDER = "rzn"
RESET_MECHANISMS = ("subtract", "zero", "none")
INPUT_ENCODINGS = ("vector", "tokens")
MODEL_CLASSES = ("EGRU", "EGRULanguageModel")
SURROGATE_TYPES = ("triangle",)
#: ``sparse="auto"`` stores a matrix as CSR when at least this fraction of its entries is exactly +0.0.
SPARSE_AUTO_FRACTION = 0.5

PathLike = Union[str, "os.PathLike[str]"]
SPEC_SOURCE = "<NetworkSpec>"


class FormatError(ValueError):
    """A file or spec that breaks the format. The message names the file and the field.

    Attributes: ``source`` (the file, or ``<NetworkSpec>`` for an in-memory spec),
    ``field`` (the HDF5 path of the offending entry, e.g. ``layer/2/weight_ih``),
    ``problem`` (what is wrong).
    """

    def __init__(self, source, field: str, problem: str):
        self.source = str(source)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.source}: {field}: {problem}")


# --------------------------------------------------------------------------- dataclasses


def _identical(a, b) -> bool:
    """Exact equality: arrays must agree in dtype, shape and bytes (so -0.0 != +0.0)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == \
            np.ascontiguousarray(b).tobytes()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    return bool(a == b)


class _ExactEq:
    """``==`` that compares numpy fields exactly (dtype, shape, bits)."""

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(_identical(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None  # mutable containers of arrays


def _as_array(value):
    return None if value is None else np.asarray(value)


@dataclass(eq=False)
class SurrogateSpec(_ExactEq):
    """The event function's pseudo-derivative (used by training only): ``dampening * max(0, 1 - width*|v|)``."""

    type: str = "triangle"
    dampening: float = 0.7
    width: float = 1.0


#: Fractional bits of the gates in the fixed-point arithmetic (docs/fixed-point.md).
FRAC_GATE = 12
_FRAC_LIMIT = 23        # fractional-bit counts are in [0, 23]
_EXP_LIMIT = 64         # weight scale exponents are in [-64, 64]
_INT24_MIN, _INT24_MAX = -(1 << 23), (1 << 23) - 1
_MANTISSA_MIN, _MANTISSA_MAX = -127, 127   # symmetric: see docs/fixed-point.md, section 3
_WEIGHT_EXP_MIN, _WEIGHT_EXP_MAX = -8, 7


@dataclass(frozen=True)
class InputQuantization:
    """Version 2, ``layer/0/quantization``: ``frac_input``, the fractional bits of the
    input messages (0 for token inputs: a one-hot entry is the integer 1)."""

    frac_input: int


@dataclass(frozen=True)
class DenseQuantization:
    """Version 2, ``layer/k/quantization`` of a dense layer: ``frac_state`` (fractional bits
    of its output and bias) and ``scale_exp`` (s: weights are 8-bit mantissas times 2**s)."""

    frac_state: int
    scale_exp: int


@dataclass(frozen=True)
class EGRUQuantization:
    """Version 2, ``layer/k/quantization`` of an egru layer (docs/fixed-point.md).

    ``frac_preact`` F_a (pre-activations, biases), ``frac_state`` F_c (state,
    thresholds, graded output), ``scale_exp_ih``/``scale_exp_hh`` (s of W_ih, W_hh),
    ``frac_gate`` F_g = 12.
    """

    frac_preact: int
    frac_state: int
    scale_exp_ih: int
    scale_exp_hh: int
    frac_gate: int = FRAC_GATE


@dataclass(eq=False)
class InputLayer(_ExactEq):
    """``layer/0``: the network input, ``size`` features per step.

    ``encoding="vector"``: float vectors of size ``size`` per step. ``encoding="tokens"``:
    token ids in ``[0, size)`` (``size`` = vocabulary), fed as one-hot vectors of size ``size``.
    """

    size: int
    encoding: str = "vector"
    quantization: Optional[InputQuantization] = None
    type: ClassVar[str] = "input"

    @property
    def shape(self) -> tuple:
        return (int(self.size),)


@dataclass(eq=False)
class DenseLayer(_ExactEq):
    """A graded linear layer ``y = weight @ x + bias`` (neuron type ``identity``).

    ``weight`` [out, in] float32, ``bias`` [out] float32 or None, ``quantization`` a
    :class:`DenseQuantization` (version 2) or None.
    """

    weight: np.ndarray
    bias: Optional[np.ndarray] = None
    quantization: Optional[DenseQuantization] = None
    type: ClassVar[str] = "dense"

    def __post_init__(self):
        self.weight = _as_array(self.weight)
        self.bias = _as_array(self.bias)

    @property
    def shape(self) -> tuple:
        return (int(self.weight.shape[0]),)


@dataclass(eq=False)
class EGRULayer(_ExactEq):
    """One EGRU layer of ``H`` units (equations in docs/format.md), gate order r, z, n.

    ``weight_ih`` [3H, in], ``weight_hh`` [3H, H], ``bias_ih``/``bias_hh`` [3H] or None,
    ``threshold`` [H] (the thresholds used in the forward pass: finite, > 0 and
    >= ``min_threshold``), all float32; ``quantization`` an :class:`EGRUQuantization`
    (version 2) or None.
    """

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias_ih: Optional[np.ndarray]
    bias_hh: Optional[np.ndarray]
    threshold: np.ndarray
    reset_mechanism: str = "subtract"
    events: bool = True
    min_threshold: float = 1e-3
    surrogate: SurrogateSpec = field(default_factory=SurrogateSpec)
    quantization: Optional[EGRUQuantization] = None
    type: ClassVar[str] = "egru"

    def __post_init__(self):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "threshold"):
            setattr(self, name, _as_array(getattr(self, name)))

    @property
    def hidden_size(self) -> int:
        return int(self.weight_hh.shape[1])

    @property
    def shape(self) -> tuple:
        return (self.hidden_size,)


LAYER_TYPES = {cls.type: cls for cls in (InputLayer, DenseLayer, EGRULayer)}


@dataclass(eq=False)
class NetworkSpec(_ExactEq):
    """A whole network: ``layers`` (``InputLayer`` first, then ``DenseLayer``/``EGRULayer``)
    and ``model`` (the ``model`` group's attributes: ``class`` and the torch-side settings).
    """

    layers: list
    model: dict = field(default_factory=dict)

    @property
    def egru_layers(self) -> list:
        return [layer for layer in self.layers if isinstance(layer, EGRULayer)]

    @property
    def quantized(self) -> bool:
        """Whether the layers carry fixed-point formats (then every layer does)."""
        return any(getattr(layer, "quantization", None) is not None for layer in self.layers)


# --------------------------------------------------------------------------- CSR helpers


def _nonzero_mask(matrix: np.ndarray) -> np.ndarray:
    # -0.0 is kept as an explicit entry: reading back must give the identical bits.
    return (matrix != 0) | np.signbit(matrix)


def zero_fraction(matrix) -> float:
    """Fraction of entries that are exactly +0.0 (what ``sparse="auto"`` looks at)."""
    matrix = np.asarray(matrix)
    if matrix.size == 0:
        return 0.0
    return 1.0 - np.count_nonzero(_nonzero_mask(matrix)) / matrix.size


def csr_from_dense(matrix) -> tuple:
    """``(data, indices, indptr)`` of a 2-D matrix in CSR form, column indices sorted per row.

    Every entry other than +0.0 is stored (including -0.0), so :func:`dense_from_csr`
    gives back the identical matrix. Indices are int32 when they fit, else int64.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"CSR needs a 2-D matrix, got shape {matrix.shape}")
    rows, cols = np.nonzero(_nonzero_mask(matrix))
    data = matrix[rows, cols]
    index_dtype = np.int32 if max(matrix.shape[1], rows.size) < 2**31 - 1 else np.int64
    indptr = np.zeros(matrix.shape[0] + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=matrix.shape[0]), out=indptr[1:])
    return data, cols.astype(index_dtype), indptr


def dense_from_csr(data, indices, indptr, shape) -> np.ndarray:
    """The dense matrix of a CSR triple (no validation: see :func:`read_network` for that)."""
    data = np.asarray(data)
    out = np.zeros(tuple(int(s) for s in shape), dtype=data.dtype)
    row_ids = np.repeat(np.arange(out.shape[0]), np.diff(np.asarray(indptr)))
    out[row_ids, np.asarray(indices)] = data
    return out


def to_scipy_csr(matrix):
    """A ``scipy.sparse.csr_matrix`` with exactly the entries :func:`csr_from_dense` stores.

    Needs scipy (installed with lava-nc; possibly absent in other environments).
    """
    try:
        import scipy.sparse
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_scipy_csr needs scipy (pip install scipy); use csr_from_dense instead") from exc
    matrix = np.asarray(matrix)
    data, indices, indptr = csr_from_dense(matrix)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=matrix.shape)


# --------------------------------------------------------------------------- validation

_EGRU_MODEL_DEFAULTS = {"batch_first": False, "dropout": 0.0, "learn_threshold": True}
_LM_MODEL_DEFAULTS = {
    "tie_weights": False, "dropout_embedding": 0.0, "dropout_between": 0.0, "dropout_output": 0.0,
    "learn_threshold": True,
}
_BOOL_KEYS = {"batch_first", "learn_threshold", "tie_weights"}
_FLOAT_KEYS = {"dropout", "dropout_embedding", "dropout_between", "dropout_output"}
_INT_KEYS = {"vocab_size", "embedding_size"}


def _check_matrix_or_vector(source, name: str, value, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise FormatError(source, name, f"must be a numpy array, got {type(value).__name__}")
    if value.dtype != np.float32:
        raise FormatError(source, name, f"has dtype {value.dtype}, expected float32")
    if value.ndim != ndim:
        raise FormatError(source, name, f"must be {ndim}-D, got shape {value.shape}")
    bad = np.count_nonzero(~np.isfinite(value))
    if bad:
        raise FormatError(source, name, f"contains {bad} NaN/Inf value(s)")
    return value


def _check_positive_float(source, name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise FormatError(source, name, f"must be a number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise FormatError(source, name, f"must be finite and > 0, got {value!r}")
    return value


def _check_layer(source, k: int, layer, in_size: int) -> None:
    prefix = f"layer/{k}"
    if isinstance(layer, DenseLayer):
        weight = _check_matrix_or_vector(source, f"{prefix}/weight", layer.weight, 2)
        if weight.shape[0] < 1:
            raise FormatError(source, f"{prefix}/weight", f"has no rows (shape {weight.shape})")
        if weight.shape[1] != in_size:
            raise FormatError(source, f"{prefix}/weight",
                              f"has {weight.shape[1]} columns but the previous layer (layer/{k - 1}) "
                              f"has {in_size} outputs")
        if layer.bias is not None:
            bias = _check_matrix_or_vector(source, f"{prefix}/bias", layer.bias, 1)
            if bias.shape[0] != weight.shape[0]:
                raise FormatError(source, f"{prefix}/bias",
                                  f"has {bias.shape[0]} entries but weight has {weight.shape[0]} rows")
        return
    if not isinstance(layer, EGRULayer):
        raise FormatError(source, f"{prefix}/type",
                          f"unknown layer type {type(layer).__name__} (expected DenseLayer or EGRULayer)")
    weight_hh = _check_matrix_or_vector(source, f"{prefix}/weight_hh", layer.weight_hh, 2)
    hidden = weight_hh.shape[1]
    if hidden < 1:
        raise FormatError(source, f"{prefix}/weight_hh", f"has no columns (shape {weight_hh.shape})")
    if weight_hh.shape[0] != 3 * hidden:
        raise FormatError(source, f"{prefix}/weight_hh",
                          f"must be [3H, H] (gate order r, z, n), got shape {weight_hh.shape}")
    weight_ih = _check_matrix_or_vector(source, f"{prefix}/weight_ih", layer.weight_ih, 2)
    if weight_ih.shape[0] != 3 * hidden:
        raise FormatError(source, f"{prefix}/weight_ih",
                          f"has {weight_ih.shape[0]} rows but weight_hh says 3H = {3 * hidden} (H = {hidden})")
    if weight_ih.shape[1] != in_size:
        raise FormatError(source, f"{prefix}/weight_ih",
                          f"has {weight_ih.shape[1]} columns but the previous layer (layer/{k - 1}) "
                          f"has {in_size} outputs")
    for name in ("bias_ih", "bias_hh"):
        value = getattr(layer, name)
        if value is not None:
            value = _check_matrix_or_vector(source, f"{prefix}/{name}", value, 1)
            if value.shape[0] != 3 * hidden:
                raise FormatError(source, f"{prefix}/{name}",
                                  f"has {value.shape[0]} entries, expected 3H = {3 * hidden}")
    neuron = f"{prefix}/neuron"
    threshold = _check_matrix_or_vector(source, f"{neuron}/threshold", layer.threshold, 1)
    if threshold.shape[0] != hidden:
        raise FormatError(source, f"{neuron}/threshold",
                          f"has {threshold.shape[0]} entries but weight_hh has 3H = {3 * hidden} rows "
                          f"(H = {hidden} units)")
    minimum = _check_positive_float(source, f"{neuron}/min_threshold", layer.min_threshold)
    if not bool((threshold > 0).all()):
        raise FormatError(source, f"{neuron}/threshold",
                          f"must be > 0 for every unit, got minimum {threshold.min():g}")
    if not bool((threshold >= np.float32(minimum)).all()):
        raise FormatError(source, f"{neuron}/threshold",
                          f"holds the thresholds in use, which are >= min_threshold={minimum:g}; "
                          f"got minimum {threshold.min():g}")
    if layer.reset_mechanism not in RESET_MECHANISMS:
        raise FormatError(source, f"{neuron}/reset_mechanism",
                          f"must be one of {RESET_MECHANISMS}, got {layer.reset_mechanism!r}")
    if not isinstance(layer.events, (bool, np.bool_)):
        raise FormatError(source, f"{neuron}/events", f"must be a bool, got {type(layer.events).__name__}")
    surrogate = layer.surrogate
    if not isinstance(surrogate, SurrogateSpec):
        raise FormatError(source, f"{neuron}/surrogate",
                          f"must be a SurrogateSpec, got {type(surrogate).__name__}")
    if surrogate.type not in SURROGATE_TYPES:
        raise FormatError(source, f"{neuron}/surrogate/type",
                          f"must be one of {SURROGATE_TYPES}, got {surrogate.type!r}")
    _check_positive_float(source, f"{neuron}/surrogate/dampening", surrogate.dampening)
    _check_positive_float(source, f"{neuron}/surrogate/width", surrogate.width)


def _model_key(key: str) -> str:
    return f"model.attrs[{key!r}]"


def _normalize_model(source, model, layers) -> dict:
    if not isinstance(model, dict):
        raise FormatError(source, "model", f"must be a dict, got {type(model).__name__}")
    cls = model.get("class")
    if cls is None:
        model = {key: value for key, value in model.items() if key != "class"}
    elif cls not in MODEL_CLASSES:
        raise FormatError(source, _model_key("class"), f"unknown model class {cls!r} (expected one of {MODEL_CLASSES})")
    defaults = {"EGRU": _EGRU_MODEL_DEFAULTS, "EGRULanguageModel": _LM_MODEL_DEFAULTS}.get(cls, {})
    out = dict(model)
    for key, value in defaults.items():
        out.setdefault(key, value)
    for key in list(out):
        value = out[key]
        if key in _BOOL_KEYS:
            if not isinstance(value, (bool, np.bool_)):
                raise FormatError(source, _model_key(key), f"must be a bool, got {value!r}")
            out[key] = bool(value)
        elif key in _FLOAT_KEYS:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise FormatError(source, _model_key(key), f"must be a number, got {value!r}")
            if not 0.0 <= float(value) < 1.0:
                raise FormatError(source, _model_key(key), f"must be in [0, 1), got {value!r}")
            out[key] = float(value)
        elif key in _INT_KEYS:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise FormatError(source, _model_key(key), f"must be an integer, got {value!r}")
            out[key] = int(value)
        elif key == "class" or isinstance(value, (str, np.ndarray)):
            pass
        elif isinstance(value, (bool, int, float, np.generic)):
            out[key] = _attr_value(value).item()
        else:
            raise FormatError(source, _model_key(key),
                              f"must be a bool, number, string or numpy array, got {type(value).__name__}")
    if cls is None:  # a generic layer stack: valid for the format, no torch-side class
        return out
    first = layers[0]
    egru_positions = [k for k, layer in enumerate(layers) if isinstance(layer, EGRULayer)]
    if cls == "EGRU":
        if first.encoding != "vector":
            raise FormatError(source, "layer/0/encoding", f"class EGRU needs a 'vector' input, got {first.encoding!r}")
        for k, layer in enumerate(layers[1:], start=1):
            if not isinstance(layer, EGRULayer):
                raise FormatError(source, f"layer/{k}/type",
                                  f"class EGRU is an input layer followed by egru layers only, got {layer.type!r}")
        return out
    # EGRULanguageModel: input(tokens) -> dense (embedding, no bias) -> egru+ -> dense (readout, bias)
    n = len(layers)
    if first.encoding != "tokens":
        raise FormatError(source, "layer/0/encoding",
                          f"class EGRULanguageModel needs a 'tokens' input, got {first.encoding!r}")
    if n < 4 or not isinstance(layers[1], DenseLayer) or not isinstance(layers[-1], DenseLayer) \
            or egru_positions != list(range(2, n - 1)):
        types = [layer.type for layer in layers]
        raise FormatError(source, "layer",
                          f"class EGRULanguageModel needs layers input, dense, egru (one or more), dense; got {types}")
    embedding, readout = layers[1], layers[-1]
    if embedding.bias is not None:
        raise FormatError(source, "layer/1/bias", "the embedding layer of an EGRULanguageModel has no bias")
    if readout.bias is None:
        raise FormatError(source, f"layer/{n - 1}/bias", "the readout layer of an EGRULanguageModel needs a bias")
    vocab, emb = first.size, embedding.weight.shape[0]
    for key, actual in (("vocab_size", vocab), ("embedding_size", emb)):
        if key in out and out[key] != actual:
            raise FormatError(source, _model_key(key), f"is {out[key]} but the layers say {actual}")
        out[key] = int(actual)
    if readout.weight.shape[0] != vocab:
        raise FormatError(source, f"layer/{n - 1}/weight",
                          f"has {readout.weight.shape[0]} rows but the vocabulary (layer/0/shape) is {vocab}")
    if out["tie_weights"]:
        if layers[-2].hidden_size != emb:
            raise FormatError(source, _model_key("tie_weights"),
                              f"is true but the last EGRU layer has {layers[-2].hidden_size} units "
                              f"and the embedding {emb}")
        if not _identical(np.ascontiguousarray(readout.weight.T), np.ascontiguousarray(embedding.weight)):
            raise FormatError(source, f"layer/{n - 1}/weight",
                              "tie_weights is true but the readout weight is not the transposed embedding "
                              "(layer/1/weight)")
    return out


# --------------------------------------------------------------------------- fixed point (version 2)


@dataclass(frozen=True, eq=False)
class FixedPointInput:
    """The input in the fixed-point arithmetic: messages are integers with ``frac_input`` fractional bits."""

    size: int
    encoding: str
    frac_input: int


@dataclass(frozen=True, eq=False)
class FixedPointDense:
    """A dense identity layer in integers: ``out = sat24(wrap32(shift(weight @ x, weight_exp)) + bias)``.

    ``weight``: int64 [out, in], the Lava integer weights ``2 * mantissa`` (even, in
    [-254, 254]); ``bias``: int64 [out] with ``frac_state`` fractional bits, or None.
    """

    weight: np.ndarray
    weight_exp: int
    bias: Optional[np.ndarray]
    frac_source: int
    frac_state: int


@dataclass(frozen=True, eq=False)
class FixedPointEGRU:
    """An egru layer in integers (docs/fixed-point.md, "The EGRU step").

    ``weight_ih`` [3H, in], ``weight_hh`` [3H, H]: int64 Lava integer weights (2 * mantissa);
    ``bias_ih``, ``bias_hh``: int64 [3H] in F_a (zeros where the file has no bias);
    ``threshold``: int64 [H] in F_c, >= 1 (None with ``events = false``).
    """

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    weight_exp_ih: int
    weight_exp_hh: int
    bias_ih: np.ndarray
    bias_hh: np.ndarray
    threshold: Optional[np.ndarray]
    frac_source: int
    frac_preact: int
    frac_state: int
    frac_gate: int
    reset_mechanism: str
    events: bool


def _round_half_away(values: np.ndarray) -> np.ndarray:
    """``sign(v) * floor(|v| + 1/2)`` in float64 (the only float -> int rounding of the arithmetic)."""
    values = np.asarray(values, dtype=np.float64)
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def _quant_int(source, name: str, value, low: int, high: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise FormatError(source, name, f"must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise FormatError(source, name, f"must be in [{low}, {high}], got {int(value)}")
    return int(value)


def _mantissas(source, name: str, matrix: np.ndarray, scale_exp: int) -> np.ndarray:
    k = _round_half_away(np.ldexp(matrix.astype(np.float64), -scale_exp))
    bad = (k < _MANTISSA_MIN) | (k > _MANTISSA_MAX)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FormatError(source, name,
                          f"weight {matrix[index]:g} at {list(index)} needs mantissa {int(k[index])} at scale "
                          f"2**{scale_exp}, outside the 8-bit range [{_MANTISSA_MIN}, {_MANTISSA_MAX}]")
    return k.astype(np.int64)


def _fixed_vector(source, name: str, values: np.ndarray, frac: int, low: int = _INT24_MIN) -> np.ndarray:
    q = _round_half_away(np.ldexp(values.astype(np.float64), frac))
    bad = (q < low) | (q > _INT24_MAX)
    if bad.any():
        i = int(np.argmax(bad))
        raise FormatError(source, name,
                          f"value {values[i]:g} at [{i}] quantises to {int(q[i])} with {frac} fractional bits, "
                          f"outside [{low}, {_INT24_MAX}]")
    return q.astype(np.int64)


def _weight_exp(source, name: str, scale_exp: int, frac_source: int, frac_dest: int) -> int:
    exp = scale_exp - frac_source + frac_dest - 1
    if not _WEIGHT_EXP_MIN <= exp <= _WEIGHT_EXP_MAX:
        raise FormatError(source, name,
                          f"weight_exp = s - F_src + F_dst - 1 = {scale_exp} - {frac_source} + {frac_dest} - 1 = "
                          f"{exp} is outside Loihi's range [{_WEIGHT_EXP_MIN}, {_WEIGHT_EXP_MAX}]")
    return exp


def _integer_network(source, layers) -> list:
    """The fixed-point view of already checked layers (every layer has its quantization)."""
    missing = [k for k, layer in enumerate(layers) if layer.quantization is None]
    if missing:
        present = next(k for k, layer in enumerate(layers) if layer.quantization is not None)
        raise FormatError(source, f"layer/{missing[0]}/quantization",
                          f"missing: a quantised network has a quantization group in every layer "
                          f"(layer/{present} has one)")
    out = []
    frac_source = 0
    for k, layer in enumerate(layers):
        q = layer.quantization
        prefix = f"layer/{k}/quantization"
        expected = {InputLayer: InputQuantization, DenseLayer: DenseQuantization, EGRULayer: EGRUQuantization}
        if not isinstance(q, expected[type(layer)]):
            raise FormatError(source, prefix, f"a {layer.type} layer needs a {expected[type(layer)].__name__}, "
                                              f"got {type(q).__name__}")
        if isinstance(layer, InputLayer):
            frac = _quant_int(source, f"{prefix}/frac_input", q.frac_input, 0, _FRAC_LIMIT)
            if layer.encoding == "tokens" and frac != 0:
                raise FormatError(source, f"{prefix}/frac_input",
                                  f"must be 0 for token inputs (one-hot messages are the integer 1), got {frac}")
            out.append(FixedPointInput(int(layer.size), layer.encoding, frac))
            frac_source = frac
            continue
        if isinstance(layer, DenseLayer):
            frac = _quant_int(source, f"{prefix}/frac_state", q.frac_state, 0, _FRAC_LIMIT)
            s = _quant_int(source, f"{prefix}/scale_exp", q.scale_exp, -_EXP_LIMIT, _EXP_LIMIT)
            exp = _weight_exp(source, f"{prefix}/scale_exp", s, frac_source, frac)
            weight = 2 * _mantissas(source, f"layer/{k}/weight", layer.weight, s)
            bias = None if layer.bias is None else _fixed_vector(source, f"layer/{k}/bias", layer.bias, frac)
            out.append(FixedPointDense(weight, exp, bias, frac_source, frac))
            frac_source = frac
            continue
        fa = _quant_int(source, f"{prefix}/frac_preact", q.frac_preact, 1, _FRAC_LIMIT)
        fc = _quant_int(source, f"{prefix}/frac_state", q.frac_state, 0, _FRAC_LIMIT)
        if _quant_int(source, f"{prefix}/frac_gate", q.frac_gate, -_EXP_LIMIT, _EXP_LIMIT) != FRAC_GATE:
            raise FormatError(source, f"{prefix}/frac_gate", f"must be {FRAC_GATE}, got {q.frac_gate}")
        s_ih = _quant_int(source, f"{prefix}/scale_exp_ih", q.scale_exp_ih, -_EXP_LIMIT, _EXP_LIMIT)
        s_hh = _quant_int(source, f"{prefix}/scale_exp_hh", q.scale_exp_hh, -_EXP_LIMIT, _EXP_LIMIT)
        exp_ih = _weight_exp(source, f"{prefix}/scale_exp_ih", s_ih, frac_source, fa)
        exp_hh = _weight_exp(source, f"{prefix}/scale_exp_hh", s_hh, fc, fa)
        three_h = layer.weight_hh.shape[0]
        biases = []
        for name in ("bias_ih", "bias_hh"):
            value = getattr(layer, name)
            biases.append(np.zeros(three_h, np.int64) if value is None
                          else _fixed_vector(source, f"layer/{k}/{name}", value, fa))
        threshold = None
        if layer.events:
            threshold = _fixed_vector(source, f"layer/{k}/neuron/threshold", layer.threshold, fc, low=1)
        out.append(FixedPointEGRU(
            2 * _mantissas(source, f"layer/{k}/weight_ih", layer.weight_ih, s_ih),
            2 * _mantissas(source, f"layer/{k}/weight_hh", layer.weight_hh, s_hh),
            exp_ih, exp_hh, biases[0], biases[1], threshold, frac_source, fa, fc, FRAC_GATE,
            layer.reset_mechanism, bool(layer.events)))
        frac_source = fc
    return out


def integer_network(spec: NetworkSpec, source=SPEC_SOURCE) -> list:
    """The integers of a quantised network, one entry per layer (numpy only).

    Returns ``[FixedPointInput, FixedPointDense | FixedPointEGRU, ...]``: the Lava
    integer weights (``2 * round_half_away(W / 2**s)``), each Dense ``weight_exp =
    s - F_src + F_dst - 1``, the integer biases ``round_half_away(b * 2**F)`` and
    thresholds ``round_half_away(theta * 2**F_c)`` (docs/fixed-point.md). The spec is
    validated first; :class:`FormatError` if it is not quantised or invalid.
    """
    validate_spec(spec, source=source)
    if not spec.quantized:
        raise FormatError(source, "layer/0/quantization", "missing: the network is not quantised (a float network)")
    return _integer_network(source, spec.layers)


def validate_spec(spec: NetworkSpec, source=SPEC_SOURCE) -> dict:
    """Check ``spec`` against the format; return its ``model`` dict completed with defaults.

    Raises :class:`FormatError` (naming ``source`` and the field) on the first problem.
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"expected a NetworkSpec, got {type(spec).__name__}")
    layers = spec.layers
    if not isinstance(layers, (list, tuple)) or len(layers) < 2:
        raise FormatError(source, "layer", "needs an input layer and at least one more layer")
    first = layers[0]
    if not isinstance(first, InputLayer):
        raise FormatError(source, "layer/0/type",
                          f"the first layer must be 'input', got {getattr(first, 'type', first)!r}")
    if isinstance(first.size, (bool, np.bool_)) or not isinstance(first.size, (int, np.integer)) or first.size < 1:
        raise FormatError(source, "layer/0/shape", f"input size must be a positive integer, got {first.size!r}")
    if first.encoding not in INPUT_ENCODINGS:
        raise FormatError(source, "layer/0/encoding", f"must be one of {INPUT_ENCODINGS}, got {first.encoding!r}")
    size = int(first.size)
    for k, layer in enumerate(layers[1:], start=1):
        if isinstance(layer, InputLayer):
            raise FormatError(source, f"layer/{k}/type", "only layer/0 may be an input layer")
        _check_layer(source, k, layer, size)
        size = layer.shape[0]
    if any(getattr(layer, "quantization", None) is not None for layer in layers):
        _integer_network(source, layers)
    return _normalize_model(source, spec.model, layers)


# --------------------------------------------------------------------------- writing


def _write_string(group: h5py.Group, name: str, value: str) -> None:
    # netx's convention: a 1-element fixed-length ASCII string dataset.
    encoded = value.encode("ascii")
    group.create_dataset(name, data=np.array([encoded], dtype=f"S{max(len(encoded), 1)}"))


def _write_matrix(group: h5py.Group, name: str, matrix: np.ndarray, sparse) -> None:
    use_csr = sparse is True or (sparse == "auto" and zero_fraction(matrix) >= SPARSE_AUTO_FRACTION)
    if not use_csr:
        group.create_dataset(name, data=np.ascontiguousarray(matrix, dtype=np.float32))
        return
    data, indices, indptr = csr_from_dense(matrix)
    sub = group.create_group(name)
    sub.attrs["sparse"] = "csr"
    sub.create_dataset("data", data=data.astype(np.float32))
    sub.create_dataset("indices", data=indices)
    sub.create_dataset("indptr", data=indptr)
    sub.create_dataset("shape", data=np.array(matrix.shape, dtype=np.int64))


_QUANTIZATION_FIELDS = {
    "input": ("frac_input",),
    "dense": ("frac_state", "scale_exp"),
    "egru": ("frac_preact", "frac_state", "frac_gate", "scale_exp_ih", "scale_exp_hh"),
}
_QUANTIZATION_CLASSES = {"input": InputQuantization, "dense": DenseQuantization, "egru": EGRUQuantization}


def _write_layer(group: h5py.Group, layer, sparse) -> None:
    _write_string(group, "type", layer.type)
    group.create_dataset("shape", data=np.array(layer.shape, dtype=np.int64))
    if layer.quantization is not None:
        quant = group.create_group("quantization")
        for name in _QUANTIZATION_FIELDS[layer.type]:
            quant.create_dataset(name, data=np.int64(getattr(layer.quantization, name)))
    if isinstance(layer, InputLayer):
        _write_string(group, "encoding", layer.encoding)
        return
    neuron = group.create_group("neuron")
    if isinstance(layer, DenseLayer):
        _write_matrix(group, "weight", layer.weight, sparse)
        if layer.bias is not None:
            group.create_dataset("bias", data=layer.bias)
        _write_string(neuron, "type", "identity")
        return
    _write_matrix(group, "weight_ih", layer.weight_ih, sparse)
    _write_matrix(group, "weight_hh", layer.weight_hh, sparse)
    for name in ("bias_ih", "bias_hh"):
        if getattr(layer, name) is not None:
            group.create_dataset(name, data=getattr(layer, name))
    _write_string(group, "gate_order", GATE_ORDER)
    _write_string(neuron, "type", "egru")
    neuron.create_dataset("threshold", data=layer.threshold)
    _write_string(neuron, "reset_mechanism", layer.reset_mechanism)
    neuron.create_dataset("events", data=np.bool_(layer.events))
    neuron.create_dataset("min_threshold", data=np.float64(layer.min_threshold))
    surrogate = neuron.create_group("surrogate")
    _write_string(surrogate, "type", layer.surrogate.type)
    surrogate.create_dataset("dampening", data=np.float64(layer.surrogate.dampening))
    surrogate.create_dataset("width", data=np.float64(layer.surrogate.width))


def _attr_value(value):
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    return value


def _write_contents(f: h5py.File, spec: NetworkSpec, model: dict, sparse) -> None:
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = np.int64(FORMAT_VERSION)
    f.attrs["producer"] = PRODUCER
    layer_root = f.create_group("layer")
    for k, layer in enumerate(spec.layers):
        _write_layer(layer_root.create_group(str(k)), layer, sparse)
    model_group = f.create_group("model")
    for key, value in model.items():
        model_group.attrs[key] = _attr_value(value)


def _fsync_path(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_network(spec: NetworkSpec, path: PathLike, *, sparse: Union[str, bool] = "auto") -> Path:
    """Validate ``spec`` and write it to ``path`` atomically; return the path.

    ``sparse``: ``"auto"`` stores a weight matrix as CSR when at least
    :data:`SPARSE_AUTO_FRACTION` of its entries are exactly zero; ``True`` stores every
    weight matrix as CSR, ``False`` every one dense. Values are exact either way.

    The file is written to a temporary file in the same directory, flushed and
    fsynced, then moved over ``path`` with ``os.replace``: an error at any point
    leaves no partial file (and no temporary file) behind and an existing file
    untouched. Raises :class:`FormatError` if ``spec`` breaks the format (nothing is
    written then), ``FileNotFoundError`` if the directory does not exist.
    """
    if not (isinstance(sparse, bool) or (isinstance(sparse, str) and sparse == "auto")):
        raise ValueError(f"sparse must be 'auto', True or False, got {sparse!r}")
    path = Path(os.fspath(path))
    model = validate_spec(spec, source=path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    tmp = directory / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # umask applies, as for a plain open
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            _write_contents(f, spec, model, sparse)
            f.flush()
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    return path


# --------------------------------------------------------------------------- reading


class _Reader:
    """Reads one open file into a NetworkSpec, raising FormatError on the way."""

    def __init__(self, source: str, f: h5py.File):
        self.source = source
        self.f = f
        self.version = FORMAT_VERSION

    def error(self, name: str, problem: str) -> FormatError:
        return FormatError(self.source, name, problem)

    def get(self, group: h5py.Group, key: str, name: str):
        if key not in group:
            raise self.error(name, "missing")
        return group[key]

    def group(self, parent: h5py.Group, key: str, name: str) -> h5py.Group:
        obj = self.get(parent, key, name)
        if not isinstance(obj, h5py.Group):
            raise self.error(name, "must be a group")
        return obj

    def dataset(self, parent: h5py.Group, key: str, name: str) -> h5py.Dataset:
        obj = self.get(parent, key, name)
        if not isinstance(obj, h5py.Dataset):
            raise self.error(name, "must be a dataset, got a group")
        return obj

    def string(self, parent: h5py.Group, key: str, name: str, *, attr_ok: bool = False) -> str:
        if attr_ok and key not in parent and key in parent.attrs:
            return self.decode(parent.attrs[key], name)
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind not in ("S", "O", "U"):
            raise self.error(name, f"must be a string, got dtype {ds.dtype}")
        value = ds[()]
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise self.error(name, f"must hold one string, got shape {value.shape}")
            value = value.reshape(-1)[0]
        return self.decode(value, name)

    def decode(self, value, name: str) -> str:
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0]
        if isinstance(value, (bytes, np.bytes_)):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise self.error(name, "is not valid UTF-8 text") from None
        if isinstance(value, (str, np.str_)):
            return str(value)
        raise self.error(name, f"must be a string, got {type(value).__name__}")

    def float_array(self, parent: h5py.Group, key: str, name: str, ndim: int, optional: bool = False):
        if optional and key not in parent:
            return None
        ds = self.dataset(parent, key, name)
        if ds.dtype != np.float32:
            raise self.error(name, f"has dtype {ds.dtype}, expected float32")
        if ds.ndim != ndim:
            raise self.error(name, f"must be {ndim}-D, got shape {ds.shape}")
        return ds[()]

    def int_array(self, parent: h5py.Group, key: str, name: str, dtypes=None) -> np.ndarray:
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind not in ("i", "u") or (dtypes is not None and ds.dtype not in dtypes):
            allowed = " or ".join(str(np.dtype(d)) for d in dtypes) if dtypes else "an integer type"
            raise self.error(name, f"has dtype {ds.dtype}, expected {allowed}")
        if ds.ndim != 1:
            raise self.error(name, f"must be 1-D, got shape {ds.shape}")
        return ds[()]

    def scalar_float(self, parent: h5py.Group, key: str, name: str) -> float:
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind != "f":
            raise self.error(name, f"has dtype {ds.dtype}, expected a float")
        if ds.shape not in ((), (1,)):
            raise self.error(name, f"must be a scalar, got shape {ds.shape}")
        return float(np.asarray(ds[()]).reshape(-1)[0])

    def scalar_bool(self, parent: h5py.Group, key: str, name: str) -> bool:
        ds = self.dataset(parent, key, name)
        if ds.shape not in ((), (1,)):
            raise self.error(name, f"must be a scalar, got shape {ds.shape}")
        value = np.asarray(ds[()]).reshape(-1)[0]
        if ds.dtype.kind == "b" or isinstance(value, np.bool_):
            return bool(value)
        if ds.dtype.kind in ("i", "u") and value in (0, 1):
            return bool(value)
        raise self.error(name, f"must be a bool (or 0/1), got {value!r} of dtype {ds.dtype}")

    def matrix(self, parent: h5py.Group, key: str, name: str) -> np.ndarray:
        obj = self.get(parent, key, name)
        if isinstance(obj, h5py.Dataset):
            return self.float_array(parent, key, name, 2)
        layout = obj.attrs.get("sparse")
        if layout is None:
            raise self.error(name, "is a group without a 'sparse' attribute (expected a dataset or sparse = 'csr')")
        layout = self.decode(layout, f"{name}.attrs['sparse']")
        if layout != "csr":
            raise self.error(f"{name}.attrs['sparse']", f"unknown sparse layout {layout!r} (expected 'csr')")
        self.no_unknown(obj, {"data", "indices", "indptr", "shape"}, name)
        data = self.float_array(obj, "data", f"{name}/data", 1)
        index_types = (np.dtype(np.int32), np.dtype(np.int64))
        indices = self.int_array(obj, "indices", f"{name}/indices", index_types)
        indptr = self.int_array(obj, "indptr", f"{name}/indptr", index_types)
        shape = self.int_array(obj, "shape", f"{name}/shape")
        if shape.shape != (2,) or (shape < 0).any():
            raise self.error(f"{name}/shape", f"must be two non-negative integers [rows, cols], got {shape.tolist()}")
        rows, cols = (int(s) for s in shape)
        if indptr.shape[0] != rows + 1:
            raise self.error(f"{name}/indptr", f"has {indptr.shape[0]} entries, expected rows + 1 = {rows + 1}")
        if indptr[0] != 0:
            raise self.error(f"{name}/indptr", f"must start at 0, got {indptr[0]}")
        steps = np.diff(indptr.astype(np.int64))
        if (steps < 0).any():
            row = int(np.argmax(steps < 0))
            raise self.error(f"{name}/indptr", f"is not monotone (decreases after row {row})")
        if data.shape[0] != indices.shape[0] or indptr[-1] != data.shape[0]:
            raise self.error(f"{name}/indptr",
                             f"ends at {indptr[-1]} but data has {data.shape[0]} and indices "
                             f"{indices.shape[0]} entries (all three must agree)")
        if indices.size and (indices.min() < 0 or indices.max() >= cols):
            raise self.error(f"{name}/indices",
                             f"index out of range [0, {cols}): min {indices.min()}, max {indices.max()}")
        if indices.size > 1:
            row_of = np.repeat(np.arange(rows), steps)
            same_row = row_of[1:] == row_of[:-1]
            if (same_row & (np.diff(indices.astype(np.int64)) <= 0)).any():
                raise self.error(f"{name}/indices", "column indices must be strictly increasing within each row")
        return dense_from_csr(data, indices, indptr, (rows, cols))

    def no_unknown(self, group: h5py.Group, allowed: set, name: str) -> None:
        unknown = sorted(set(group.keys()) - allowed)
        if unknown:
            raise self.error(f"{name}/{unknown[0]}",
                             f"unknown entry in a version-{self.version} file (allowed here: {sorted(allowed)})")

    def scalar_int(self, parent: h5py.Group, key: str, name: str) -> int:
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind not in ("i", "u"):
            raise self.error(name, f"has dtype {ds.dtype}, expected an integer")
        if ds.shape not in ((), (1,)):
            raise self.error(name, f"must be a scalar, got shape {ds.shape}")
        return int(np.asarray(ds[()]).reshape(-1)[0])

    def quantization(self, group: h5py.Group, kind: str, name: str):
        """The layer's ``quantization`` group (version >= 2), or None."""
        if self.version < 2 or "quantization" not in group:
            return None
        quant = self.group(group, "quantization", f"{name}/quantization")
        fields_ = _QUANTIZATION_FIELDS[kind]
        self.no_unknown(quant, set(fields_), f"{name}/quantization")
        values = {key: self.scalar_int(quant, key, f"{name}/quantization/{key}") for key in fields_}
        return _QUANTIZATION_CLASSES[kind](**values)

    def allowed(self, entries: set) -> set:
        return entries | {"quantization"} if self.version >= 2 else entries

    def layer(self, k: int, group: h5py.Group):
        name = f"layer/{k}"
        kind = self.string(group, "type", f"{name}/type")
        if kind not in LAYER_TYPES:
            raise self.error(f"{name}/type", f"unknown layer type {kind!r} (expected one of {sorted(LAYER_TYPES)})")
        shape = self.int_array(group, "shape", f"{name}/shape")
        if kind == "input":
            self.no_unknown(group, self.allowed({"type", "shape", "encoding"}), name)
            if shape.shape != (1,) or shape[0] < 1:
                raise self.error(f"{name}/shape", f"must be [I] with I >= 1, got {shape.tolist()}")
            encoding = self.string(group, "encoding", f"{name}/encoding", attr_ok=True)
            layer = InputLayer(int(shape[0]), encoding, self.quantization(group, kind, name))
        elif kind == "dense":
            self.no_unknown(group, self.allowed({"type", "shape", "weight", "bias", "neuron"}), name)
            neuron = self.group(group, "neuron", f"{name}/neuron")
            self.no_unknown(neuron, {"type"}, f"{name}/neuron")
            neuron_type = self.string(neuron, "type", f"{name}/neuron/type")
            if neuron_type != "identity":
                raise self.error(f"{name}/neuron/type",
                                 f"a dense layer's neuron must be 'identity', got {neuron_type!r}")
            layer = DenseLayer(self.matrix(group, "weight", f"{name}/weight"),
                               self.float_array(group, "bias", f"{name}/bias", 1, optional=True),
                               self.quantization(group, kind, name))
        else:
            self.no_unknown(group, self.allowed({"type", "shape", "weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                                 "gate_order", "neuron"}), name)
            gate_order = self.string(group, "gate_order", f"{name}/gate_order")
            if gate_order != GATE_ORDER:
                raise self.error(f"{name}/gate_order", f"must be {GATE_ORDER!r}, got {gate_order!r}")
            neuron_name = f"{name}/neuron"
            neuron = self.group(group, "neuron", neuron_name)
            self.no_unknown(neuron, {"type", "threshold", "reset_mechanism", "events", "min_threshold",
                                     "surrogate"}, neuron_name)
            neuron_type = self.string(neuron, "type", f"{neuron_name}/type")
            if neuron_type != "egru":
                raise self.error(f"{neuron_name}/type", f"an egru layer's neuron must be 'egru', got {neuron_type!r}")
            surrogate_group = self.group(neuron, "surrogate", f"{neuron_name}/surrogate")
            self.no_unknown(surrogate_group, {"type", "dampening", "width"}, f"{neuron_name}/surrogate")
            surrogate = SurrogateSpec(
                self.string(surrogate_group, "type", f"{neuron_name}/surrogate/type"),
                self.scalar_float(surrogate_group, "dampening", f"{neuron_name}/surrogate/dampening"),
                self.scalar_float(surrogate_group, "width", f"{neuron_name}/surrogate/width"),
            )
            layer = EGRULayer(
                weight_ih=self.matrix(group, "weight_ih", f"{name}/weight_ih"),
                weight_hh=self.matrix(group, "weight_hh", f"{name}/weight_hh"),
                bias_ih=self.float_array(group, "bias_ih", f"{name}/bias_ih", 1, optional=True),
                bias_hh=self.float_array(group, "bias_hh", f"{name}/bias_hh", 1, optional=True),
                threshold=self.float_array(neuron, "threshold", f"{neuron_name}/threshold", 1),
                reset_mechanism=self.string(neuron, "reset_mechanism", f"{neuron_name}/reset_mechanism"),
                events=self.scalar_bool(neuron, "events", f"{neuron_name}/events"),
                min_threshold=self.scalar_float(neuron, "min_threshold", f"{neuron_name}/min_threshold"),
                surrogate=surrogate,
                quantization=self.quantization(group, kind, name),
            )
        return layer, shape

    def attr_value(self, value, name: str):
        if isinstance(value, (bytes, np.bytes_, str, np.str_)):
            return self.decode(value, name)
        if isinstance(value, np.generic):
            return value.item()
        return value

    def read(self) -> NetworkSpec:
        f = self.f
        if "format" not in f.attrs:
            raise self.error("/.attrs['format']", f"missing: not an {FORMAT_NAME} file")
        fmt = self.decode(f.attrs["format"], "/.attrs['format']")
        if fmt != FORMAT_NAME:
            raise self.error("/.attrs['format']", f"is {fmt!r}, expected {FORMAT_NAME!r}")
        if "format_version" not in f.attrs:
            raise self.error("/.attrs['format_version']", "missing")
        version = f.attrs["format_version"]
        if isinstance(version, np.ndarray) and version.size == 1:
            version = version.reshape(-1)[0]
        if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
            raise self.error("/.attrs['format_version']", f"must be an integer, got {version!r}")
        version = int(version)
        if version > FORMAT_VERSION:
            raise self.error("/.attrs['format_version']",
                             f"is {version}, newer than this reader supports ({FORMAT_VERSION}); "
                             f"upgrade the egru package to read it")
        if version not in SUPPORTED_VERSIONS:
            raise self.error("/.attrs['format_version']",
                             f"unknown version {version} (this reader supports {list(SUPPORTED_VERSIONS)})")
        self.version = version
        layer_root = self.group(f, "layer", "layer")
        keys = list(layer_root.keys())
        expected = [str(k) for k in range(len(keys))]
        if sorted(keys, key=lambda s: (len(s), s)) != expected:
            raise self.error("layer", f"must hold groups 0 .. n-1, got {sorted(keys)}")
        layers = []
        for k in range(len(keys)):
            group = self.group(layer_root, str(k), f"layer/{k}")
            layer, shape = self.layer(k, group)
            layers.append((layer, shape))
        model_group = self.group(f, "model", "model")
        model = {key: self.attr_value(model_group.attrs[key], _model_key(key)) for key in model_group.attrs}
        spec = NetworkSpec([layer for layer, _ in layers], model)
        spec.model = validate_spec(spec, source=self.source)
        for k, (layer, shape) in enumerate(layers):
            if tuple(int(s) for s in shape) != layer.shape:
                raise self.error(f"layer/{k}/shape", f"is {shape.tolist()} but the weights say {list(layer.shape)}")
        return spec


def read_network(path: PathLike) -> NetworkSpec:
    """Read and validate a network file; return its :class:`NetworkSpec`.

    Raises ``FileNotFoundError`` if ``path`` does not exist and :class:`FormatError`
    (naming the file and the field) for anything else: not an HDF5 file, a truncated
    file, a missing or newer ``format_version``, missing entries, unknown layer types,
    inconsistent shapes, bad CSR indices, NaN/Inf, non-positive thresholds, wrong dtypes.
    Matrices stored as CSR come back dense, identical to what was written.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"no such network file: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a network file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, "/", f"not a readable HDF5 file (truncated or not HDF5?): {exc}") from None
    try:
        with f:
            return _Reader(str(path), f).read()
    except (OSError, RuntimeError, KeyError) as exc:
        raise FormatError(path, "/", f"could not read the file (truncated or corrupt?): {exc}") from None
