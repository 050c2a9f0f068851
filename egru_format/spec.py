"""The in-memory form of a network file: :class:`NetworkSpec` and its layer dataclasses.

A :class:`NetworkSpec` is an :class:`InputLayer` followed by :class:`DenseLayer` and
:class:`EGRULayer` entries (float32 numpy arrays inside) and a ``model`` dict (the
torch-side settings). Version 2 adds one fixed-point format per layer
(:class:`InputQuantization`, :class:`DenseQuantization`, :class:`EGRUQuantization`,
docs/fixed-point.md); version 3 the event polarity of each EGRU layer
(:attr:`EGRULayer.polarity`). The quantisation formats check their own ranges on construction and raise
:class:`~egru_format.errors.QuantizationError`. ``==`` on a spec or layer is exact
(dtype, shape and bits of every array).

    >>> import numpy as np
    >>> from egru_format.spec import EGRUQuantization, InputLayer, DenseLayer, NetworkSpec
    >>> q = EGRUQuantization(frac_preact=16, frac_state=14, scale_exp_ih=-7, scale_exp_hh=-8)
    >>> q.weight_exp_ih(frac_source=14), q.weight_exp_hh
    (-6, -7)
    >>> spec = NetworkSpec([InputLayer(2), DenseLayer(np.eye(2, dtype=np.float32))])
    >>> spec.layers[1].shape, spec.quantized
    ((2,), False)
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from typing import ClassVar, Optional

import numpy as np

from .constants import EXP_LIMIT, FRAC_GATE, FRAC_LIMIT
from .errors import QuantizationError
from .integer import weight_exp

__all__ = [
    "SurrogateSpec", "InputQuantization", "DenseQuantization", "EGRUQuantization", "InputLayer", "DenseLayer",
    "EGRULayer", "NetworkSpec", "LAYER_TYPES", "identical", "checked_int",
]


def identical(a, b) -> bool:
    """Exact equality: arrays must agree in dtype, shape and bytes (so -0.0 != +0.0)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == \
            np.ascontiguousarray(b).tobytes()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    return bool(a == b)


class _ExactEq:
    """``==`` that compares numpy fields exactly (dtype, shape, bits); fields with ``compare=False`` are skipped."""

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(identical(getattr(self, f.name), getattr(other, f.name)) for f in fields(self) if f.compare)

    __hash__ = None  # mutable containers of arrays


def _as_array(value):
    return None if value is None else np.asarray(value)


@dataclass(eq=False)
class SurrogateSpec(_ExactEq):
    """The event function's pseudo-derivative (used by training only): ``dampening * max(0, 1 - width*|v|)``."""

    type: str = "triangle"
    dampening: float = 0.7
    width: float = 1.0


# --------------------------------------------------------------------------- fixed-point formats


def checked_int(name: str, value, low: int, high: int) -> int:
    """``value`` as an int in [low, high] (numpy integers accepted), else :class:`QuantizationError`."""
    if isinstance(value, (bool, np.bool_)):
        problem = f"must be an int, got {value!r}"
    else:
        try:
            value = operator.index(value)
        except TypeError:
            problem = f"must be an int, got {value!r}"
        else:
            if low <= value <= high:
                return value
            problem = f"must be in [{low}, {high}], got {value}"
    raise QuantizationError(f"{name} {problem}", field=name, problem=problem)


def _check_fields(obj, ranges: dict) -> None:
    for name, (low, high) in ranges.items():
        object.__setattr__(obj, name, checked_int(name, getattr(obj, name), low, high))


@dataclass(frozen=True)
class InputQuantization:
    """``layer/0/quantization``: ``frac_input``, the fractional bits of the input messages
    (0 for token inputs: a one-hot entry is the integer 1)."""

    frac_input: int

    def __post_init__(self):
        _check_fields(self, {"frac_input": (0, FRAC_LIMIT)})


@dataclass(frozen=True)
class DenseQuantization:
    """``layer/k/quantization`` of a dense identity layer (token embedding or readout).

    ``frac_state``: fractional bits of the layer's output (and bias); ``scale_exp``: s,
    the weights are 8-bit mantissas times ``2**s``.
    """

    frac_state: int
    scale_exp: int

    def __post_init__(self):
        _check_fields(self, {"frac_state": (0, FRAC_LIMIT), "scale_exp": (-EXP_LIMIT, EXP_LIMIT)})

    def weight_exp(self, frac_source: int) -> int:
        """The Dense ``weight_exp`` for messages with ``frac_source`` fractional bits."""
        return weight_exp(self.scale_exp, frac_source, self.frac_state)


@dataclass(frozen=True)
class EGRUQuantization:
    """``layer/k/quantization`` of an egru layer: the fixed-point formats of one EGRU layer.

    ``frac_preact`` F_a (pre-activations and biases, >= 1), ``frac_state`` F_c (state c,
    thresholds and the graded output y), ``scale_exp_ih``/``scale_exp_hh`` (s of W_ih,
    W_hh: weights are ``mantissa * 2**s`` with 8-bit mantissas), ``frac_gate`` F_g
    (always :data:`~egru_format.constants.FRAC_GATE` = 12). The torch side's
    ``QuantizationSpec`` holds it as it is (its former name there, ``LayerQuantization``,
    is deprecated).
    """

    frac_preact: int
    frac_state: int
    scale_exp_ih: int
    scale_exp_hh: int
    frac_gate: int = FRAC_GATE

    def __post_init__(self):
        _check_fields(self, {"frac_preact": (1, FRAC_LIMIT), "frac_state": (0, FRAC_LIMIT),
                             "scale_exp_ih": (-EXP_LIMIT, EXP_LIMIT), "scale_exp_hh": (-EXP_LIMIT, EXP_LIMIT)})
        if self.frac_gate != FRAC_GATE:
            problem = f"must be {FRAC_GATE}, got {self.frac_gate!r}"
            raise QuantizationError(f"frac_gate {problem}", field="frac_gate", problem=problem)

    def weight_exp_ih(self, frac_source: int) -> int:
        """The Dense ``weight_exp`` of W_ih for messages with ``frac_source`` fractional bits."""
        return weight_exp(self.scale_exp_ih, frac_source, self.frac_preact)

    @property
    def weight_exp_hh(self) -> int:
        """The Dense ``weight_exp`` of W_hh (messages y in F_c, result in F_a)."""
        return weight_exp(self.scale_exp_hh, self.frac_state, self.frac_preact)


# --------------------------------------------------------------------------- layers


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
    r"""One EGRU layer of ``H`` units (equations in docs/format.md), gate order r, z, n.

    ``weight_ih`` [3H, in], ``weight_hh`` [3H, H], ``bias_ih``/``bias_hh`` [3H] or None,
    ``threshold`` [H] (the thresholds used in the forward pass: finite, > 0 and
    >= ``min_threshold``), all float32; ``quantization`` an :class:`EGRUQuantization`
    (version 2) or None; ``polarity`` (version 3) ``"positive"`` (events where
    :math:`\tilde c > \vartheta`, the reference neuron) or ``"signed"`` (events where
    :math:`|\tilde c| > \vartheta`, :math:`y = \tilde c` with its sign, reset by
    :math:`\mathrm{sign}(\tilde c) \vartheta`).
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
    polarity: str = "positive"
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

    ``sparse_matrices``: the storage layout, a frozenset of ``"layer/k/name"`` (e.g.
    ``"layer/2/weight_hh"``) naming the weight matrices stored as CSR.
    :func:`~egru_format.read_network` records the file's layout here; a spec built in
    memory has none (empty). It is not part of ``==``: the same parameters stored
    dense or as CSR are the same network. The Lava side builds a ``Sparse`` synapse
    for each matrix named here (``lava_egru.EGRUNetwork(spec, sparse="keep")``).
    """

    layers: list
    model: dict = field(default_factory=dict)
    sparse_matrices: frozenset = field(default_factory=frozenset, compare=False)

    @property
    def egru_layers(self) -> list:
        return [layer for layer in self.layers if isinstance(layer, EGRULayer)]

    @property
    def quantized(self) -> bool:
        """Whether the layers carry fixed-point formats (then every layer does)."""
        return any(getattr(layer, "quantization", None) is not None for layer in self.layers)
