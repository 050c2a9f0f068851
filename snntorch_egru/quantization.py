r"""Loihi-style fixed-point EGRU: formats, calibration, exact integer inference and QAT.

``docs/fixed-point.md`` is the specification (the contract a Lava ``fixed_pt`` model
must meet bit for bit); this module is its reference implementation:

- formats: :class:`LayerQuantization` (one EGRU layer), :class:`DenseQuantization`
  (an embedding or readout), :class:`QuantizationSpec` (a whole model), and
  :func:`calibrate` which picks them from calibration data;
- weights: :func:`weight_scale_exponent`, :func:`quantize_weights` (8-bit mantissa
  times a power of two; the Lava integer weight is twice the mantissa);
- integer arithmetic on ``torch.int64`` tensors: :func:`sat24`, :func:`rshift_round`,
  :func:`dense_int` (Lava's fixed-point ``Dense``), :func:`sigmoid_q`, :func:`tanh_q`
  (piecewise-linear PLAN with shifts, adds and compares only) and the step
  :func:`egru_step_int`, all with overflow counting;
- whole models in integers: :func:`to_integer` -> :class:`IntegerEGRU` /
  :class:`IntegerEGRULanguageModel`, returning integer outputs, float views, the
  state and the overflow counters;
- quantisation-aware training: :func:`quantization_aware` -> :class:`QuantizationAware`,
  a module that shares the model's parameters and runs the deployed arithmetic in
  floating point (straight-through rounding, PLAN gates, saturation). In float64 (the
  default) its forward pass equals the integer mode exactly.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.quantization import calibrate, to_integer, quantization_aware
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(3, 8, threshold=0.05)
    >>> x = torch.randn(20, 4, 3)
    >>> q = calibrate(rnn, x)
    >>> q.layers[0].frac_preact, q.layers[0].frac_gate
    (16, 12)
    >>> result = to_integer(rnn, q)(x)
    >>> result.output_int.dtype, result.output.shape, result.overflow_total
    (torch.int64, torch.Size([20, 4, 8]), 0)
    >>> qat = quantization_aware(rnn, q)                 # float64, shares rnn's parameters
    >>> y, _ = qat(x)
    >>> torch.equal(y, result.output.double())            # QAT forward == integer mode
    True
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from egru_format import (
    FRAC_GATE,
    FRAC_LIMIT,
    GATE_ONE,
    INT24_MAX,
    INT24_MIN,
    INT32_MAX,
    INT32_MIN,
    MANTISSA_MAX,
    MANTISSA_MIN,
    OVERFLOW_KEYS,
    WEIGHT_EXP_MAX,
    WEIGHT_EXP_MIN,
    DenseQuantization,
    EGRUQuantization,
    InputQuantization,
    QuantizationError,
)
from egru_format.spec import checked_int
from egru_format.integer import INPUT_CLAMP, weight_exp

from .language_model import EGRULanguageModel
from .layer import EGRU

__all__ = [
    "FRAC_GATE", "GATE_ONE", "INT24_MIN", "INT24_MAX", "INT32_MIN", "INT32_MAX", "HEADROOM", "MANTISSA_MIN",
    "MANTISSA_MAX", "WEIGHT_EXP_MIN", "WEIGHT_EXP_MAX", "DEFAULT_MAX_FRAC", "FRAC_LIMIT", "OVERFLOW_KEYS",
    "QuantizationError", "LayerQuantization", "DenseQuantization", "QuantizationSpec", "QuantizedWeights",
    "IntegerDenseLayer", "IntegerEGRULayer", "IntegerResult",
    "round_half_away", "weight_scale_exponent", "quantize_weights", "weight_exp", "sat24", "wrap32",
    "shift", "rshift_round", "dense_int", "sigmoid_q", "tanh_q", "plan_sigmoid", "plan_tanh",
    "fake_sigmoid_q", "fake_tanh_q", "egru_step_int", "integer_layers", "calibrate", "to_integer",
    "IntegerEGRU", "IntegerEGRULanguageModel", "QuantizationAware", "quantization_aware",
    "IntegerNetwork", "new_overflow_counters", "integer_dense_layer", "fake_quantize_dense", "project_dense_",
    "calibrate_dense",
]

#: Calibration keeps every observed magnitude below this (one bit of headroom under 2**23).
HEADROOM = 1 << 22
#: Calibration's cap on fractional bits.
DEFAULT_MAX_FRAC = 16

# --------------------------------------------------------------------------- formats


#: The fixed-point formats of one EGRU layer: the format's :class:`egru_format.EGRUQuantization`
#: under the name the torch side has always used (one class: a spec's layers go to the file as they are).
LayerQuantization = EGRUQuantization


@dataclass(frozen=True)
class QuantizationSpec:
    """The fixed-point formats of a whole model.

    Attributes:
        frac_input: F_in of the network input (vector inputs); 0 for token inputs
            (one-hot messages are the integer 1).
        layers: one entry per layer after the input, in the order of the network file:
            an ``EGRU`` gives ``(LayerQuantization, ...)``; an ``EGRULanguageModel``
            gives ``(DenseQuantization (embedding), LayerQuantization, ...,
            DenseQuantization (readout))``.
    """

    frac_input: int
    layers: Tuple[Union[LayerQuantization, DenseQuantization], ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "frac_input", InputQuantization(self.frac_input).frac_input)
        layers = tuple(self.layers)
        for k, layer in enumerate(layers):
            if not isinstance(layer, (LayerQuantization, DenseQuantization)):
                raise QuantizationError(f"layers[{k}] must be a LayerQuantization or DenseQuantization, "
                                        f"got {type(layer).__name__}")
        object.__setattr__(self, "layers", layers)

    def frac_source(self, k: int) -> int:
        """Fractional bits of the messages entering ``layers[k]``."""
        return self.frac_input if k == 0 else self.layers[k - 1].frac_state

    def weight_exps(self) -> list:
        """Every Dense ``weight_exp``: per layer, ``{"weight_ih": e, "weight_hh": e}`` or ``{"weight": e}``."""
        out = []
        for k, layer in enumerate(self.layers):
            source = self.frac_source(k)
            if isinstance(layer, LayerQuantization):
                out.append({"weight_ih": layer.weight_exp_ih(source), "weight_hh": layer.weight_exp_hh})
            else:
                out.append({"weight": layer.weight_exp(source)})
        return out

    @property
    def output_frac(self) -> int:
        """Fractional bits of the network output (the last layer's ``frac_state``)."""
        return self.layers[-1].frac_state if self.layers else self.frac_input


# --------------------------------------------------------------------------- integer primitives


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * floor(|x| + 1/2)`` computed in float64, as a float64 tensor of integers."""
    x = x.detach().to(torch.float64)
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def weight_scale_exponent(weight: torch.Tensor) -> int:
    """``s = ceil(log2(max|W| / 127))``: the smallest s with ``max|W| <= 127 * 2**s`` (0 for all-zero W).

    Computed exactly (float64 ``ldexp`` comparisons, no rounding of the logarithm).
    """
    w = weight.detach().to(torch.float64)
    if not bool(torch.isfinite(w).all()):
        raise QuantizationError("weight contains NaN/Inf")
    m = float(w.abs().max()) if w.numel() else 0.0
    if m == 0.0:
        return 0
    s = math.ceil(math.log2(m / MANTISSA_MAX))
    while m > math.ldexp(MANTISSA_MAX, s):
        s += 1
    while m <= math.ldexp(MANTISSA_MAX, s - 1):
        s -= 1
    return s


class QuantizedWeights(NamedTuple):
    """A weight matrix as ``mantissa * 2**scale_exp`` (mantissa int64 in [-127, 127])."""

    mantissa: torch.Tensor
    scale_exp: int

    @property
    def lava_weights(self) -> torch.Tensor:
        """The integer weights a Lava fixed-point Dense takes: ``2 * mantissa`` (even, in [-254, 254])."""
        return 2 * self.mantissa

    def dequantize(self, dtype=torch.float64) -> torch.Tensor:
        return torch.ldexp(self.mantissa.to(dtype), torch.tensor(self.scale_exp, dtype=dtype))


def quantize_weights(weight: torch.Tensor, scale_exp: Optional[int] = None, *, name: str = "weight",
                     clip: bool = False) -> QuantizedWeights:
    """Mantissas ``k = round_half_away(W / 2**s)`` of a weight matrix.

    ``scale_exp`` None: :func:`weight_scale_exponent` (then every mantissa fits).
    A mantissa outside [-127, 127] raises :class:`QuantizationError` naming ``name``
    and the value, unless ``clip=True`` (then it is clipped, as QAT's fake quantiser does).
    """
    if scale_exp is None:
        scale_exp = weight_scale_exponent(weight)
    scaled = torch.ldexp(weight.detach().to(torch.float64), torch.tensor(-scale_exp, dtype=torch.float64))
    if not bool(torch.isfinite(scaled).all()):
        raise QuantizationError(f"{name} contains NaN/Inf")
    k = round_half_away(scaled)
    if clip:
        k = k.clamp(MANTISSA_MIN, MANTISSA_MAX)
    else:
        bad = (k < MANTISSA_MIN) | (k > MANTISSA_MAX)
        if bool(bad.any()):
            index = int(torch.nonzero(bad.reshape(-1))[0])
            value = float(weight.detach().reshape(-1)[index])
            raise QuantizationError(
                f"{name}: weight {value:g} (flat index {index}) needs mantissa {int(k.reshape(-1)[index])} at "
                f"scale 2**{scale_exp}, outside the 8-bit range [{MANTISSA_MIN}, {MANTISSA_MAX}] "
                f"(max |W| may be at most {MANTISSA_MAX + 0.5} * 2**{scale_exp}; recalibrate or clip)")
    return QuantizedWeights(k.to(torch.int64), int(scale_exp))


def _count(overflow: Optional[dict], key: str, changed: torch.Tensor) -> None:
    if overflow is not None:
        overflow[key] = overflow.get(key, 0) + int(changed.sum())


def _inside(v: torch.Tensor, low: int, high: int) -> bool:
    if v.numel() == 0:
        return True
    lo, hi = torch.aminmax(v)
    return int(lo) >= low and int(hi) <= high


def sat24(v: torch.Tensor, overflow: Optional[dict] = None, key: str = "preact") -> torch.Tensor:
    """``clip(v, -2**23, 2**23 - 1)``; every clipped entry adds 1 to ``overflow[key]``."""
    if _inside(v, INT24_MIN, INT24_MAX):
        return v
    out = v.clamp(INT24_MIN, INT24_MAX)
    if overflow is not None:
        _count(overflow, key, out != v)
    return out


def wrap32(v: torch.Tensor, overflow: Optional[dict] = None, key: str = "dense") -> torch.Tensor:
    """Two's-complement wrap to int32 (what Lava's int32 ``a_out`` port does); wrapped entries are counted."""
    if _inside(v, INT32_MIN, INT32_MAX):
        return v
    out = ((v - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN
    if overflow is not None:
        _count(overflow, key, out != v)
    return out


def shift(v: torch.Tensor, exp: int) -> torch.Tensor:
    """Lava's Dense shift: ``v << exp`` if exp > 0 else ``v >> -exp`` (arithmetic: floor)."""
    return v << exp if exp > 0 else v >> -exp


def rshift_round(v: torch.Tensor, s: int) -> torch.Tensor:
    """``(v + 2**(s-1)) >> s`` for s > 0 (round half up), ``v`` for s = 0, ``v << -s`` for s < 0."""
    if s > 0:
        return (v + (1 << (s - 1))) >> s
    if s == 0:
        return v
    return v << (-s)


#: Below this fan-in, float64 matmuls of 24-bit messages by 9-bit weights are exact (< 2**53).
_EXACT_FLOAT64_FAN_IN = 1 << 21


class _FloatWeights:
    """float64 copy of an integer weight matrix (transposed) and its largest magnitude, made once."""

    def __init__(self, weight: torch.Tensor):
        self.t = weight.to(torch.float64).t().contiguous()
        self.bound = int(weight.abs().max()) if weight.numel() else 0


def _int_matmul(x: torch.Tensor, weight: torch.Tensor, cached: Optional[_FloatWeights] = None) -> torch.Tensor:
    """``x @ weight.T`` exactly in int64 (via float64 BLAS when every partial sum is < 2**53)."""
    cached = cached if cached is not None else _FloatWeights(weight)
    fan_in = weight.shape[1]
    bound_x = int(x.abs().max()) if x.numel() else 0
    if bound_x * cached.bound * max(fan_in, 1) < (1 << 53):
        return torch.matmul(x.to(torch.float64), cached.t).to(torch.int64)
    return torch.matmul(x, weight.t())


def dense_int(x: torch.Tensor, weight: torch.Tensor, exp: int, overflow: Optional[dict] = None,
              *, cached: Optional[_FloatWeights] = None) -> torch.Tensor:
    """Lava's fixed-point Dense on graded int64 messages: ``wrap32(shift(weight @ x, exp))``.

    ``weight`` [out, in] holds the Lava integer weights (``2 * mantissa``); the
    accumulation is exact; wrapped entries count in ``overflow["dense"]``.
    """
    return wrap32(shift(_int_matmul(x, weight, cached), exp), overflow, "dense")


def _check_frac(frac: int, low: int = 0) -> int:
    if isinstance(frac, bool) or not isinstance(frac, int) or frac < low:
        raise QuantizationError(f"fractional bits must be an int >= {low}, got {frac!r}")
    return frac


def sigmoid_q(a: torch.Tensor, frac: int) -> torch.Tensor:
    """PLAN sigmoid of int64 ``a`` with ``frac`` fractional bits, as an integer in [0, 4096] (F_g = 12).

    With ``m = |a|``: 4096 if ``m >= 5 * 2**frac``; else ``rshift_round(m, frac - 7) + 3456``
    if ``8 m >= 19 * 2**frac`` (|x| >= 2.375); else ``rshift_round(m, frac - 9) + 2560`` if
    ``m >= 2**frac``; else ``rshift_round(m, frac - 10) + 2048``. Negative ``a``: 4096 minus that.
    """
    frac = _check_frac(frac)
    m = a.abs()
    p3 = rshift_round(m, frac + 5 - FRAC_GATE) + 3456
    p2 = rshift_round(m, frac + 3 - FRAC_GATE) + 2560
    p1 = rshift_round(m, frac + 2 - FRAC_GATE) + 2048
    f = torch.where(m >= (5 << frac), torch.full_like(m, GATE_ONE),
                    torch.where((m << 3) >= (19 << frac), p3, torch.where(m >= (1 << frac), p2, p1)))
    return torch.where(a >= 0, f, GATE_ONE - f)


def tanh_q(a: torch.Tensor, frac: int) -> torch.Tensor:
    """``2 * sigmoid_q(2a) - 4096`` in [-4096, 4096], computed as ``2 * sigmoid_q(a, frac - 1) - 4096``.

    Reading ``a`` with one fractional bit less is the same as doubling it (no 25-bit
    intermediate); the two forms agree exactly for every int ``a`` (docs/fixed-point.md).
    """
    frac = _check_frac(frac, 1)
    return 2 * sigmoid_q(a, frac - 1) - GATE_ONE


def plan_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """The ideal PLAN sigmoid (real arithmetic, no rounding)."""
    m = x.abs()
    f = torch.where(m >= 5, torch.ones_like(m),
                    torch.where(m >= 2.375, m / 32 + 0.84375, torch.where(m >= 1, m / 8 + 0.625, m / 4 + 0.5)))
    return torch.where(x >= 0, f, 1 - f)


def plan_tanh(x: torch.Tensor) -> torch.Tensor:
    """The ideal PLAN tanh, ``2 * plan_sigmoid(2x) - 1``."""
    return 2 * plan_sigmoid(2 * x) - 1


# --------------------------------------------------------------------------- the integer step


@dataclass(frozen=True, eq=False)
class IntegerDenseLayer:
    """A dense identity layer in integers: ``out = sat24(dense_int(x, weight, weight_exp) + bias)``."""

    name: str
    weight: torch.Tensor        # Lava integer weights 2k, int64 [out, in]
    weight_exp: int
    bias: Optional[torch.Tensor]  # int64 [out] in frac_state, or None
    frac_source: int
    frac_state: int

    def __post_init__(self):
        object.__setattr__(self, "_cached", _FloatWeights(self.weight))


@dataclass(frozen=True, eq=False)
class IntegerEGRULayer:
    """One EGRU layer in integers (docs/fixed-point.md): everything int64."""

    name: str
    weight_ih: torch.Tensor     # Lava integer weights 2k, [3H, in]
    weight_hh: torch.Tensor     # [3H, H]
    weight_exp_ih: int
    weight_exp_hh: int
    bias_ih: torch.Tensor       # [3H] in F_a (zeros without bias)
    bias_hh: torch.Tensor
    threshold: torch.Tensor     # [H] in F_c, >= 1
    frac_source: int
    frac_preact: int
    frac_state: int
    frac_gate: int = FRAC_GATE
    reset_mechanism: str = "subtract"
    events: bool = True

    def __post_init__(self):
        object.__setattr__(self, "_cached_ih", _FloatWeights(self.weight_ih))
        object.__setattr__(self, "_cached_hh", _FloatWeights(self.weight_hh))

    @property
    def hidden_size(self) -> int:
        return int(self.weight_hh.shape[1])


def egru_step_int(x: Optional[torch.Tensor], y_prev: torch.Tensor, c_prev: torch.Tensor, layer: IntegerEGRULayer,
                  overflow: Optional[dict] = None, *, ax: Optional[torch.Tensor] = None):
    """One EGRU step in integers (docs/fixed-point.md, "The EGRU step").

    Args:
        x: incoming messages int64 [B, I] in ``layer.frac_source`` (ignored if ``ax`` is given).
        y_prev, c_prev: previous graded output and state, int64 [B, H] in F_c.
        layer: :class:`IntegerEGRULayer`.
        overflow: dict of counters to increment (keys "dense", "preact", "candidate", "state").
        ax: the precomputed input Dense output ``dense_int(x, W_ih, e_ih)`` [B, 3H].

    Returns:
        ``(y, c, e)``: graded output and state (int64 [B, H], F_c) and the events (bool,
        None with ``events=False``, where y = c = c~).
    """
    H = layer.hidden_size
    fa, fc, fg = layer.frac_preact, layer.frac_state, layer.frac_gate
    if ax is None:
        ax = dense_int(x, layer.weight_ih, layer.weight_exp_ih, overflow, cached=layer._cached_ih)
    ah = dense_int(y_prev, layer.weight_hh, layer.weight_exp_hh, overflow, cached=layer._cached_hh)
    ax_r, ax_z, ax_n = ax.split(H, dim=-1)
    ah_r, ah_z, ah_n = ah.split(H, dim=-1)
    bx_r, bx_z, bx_n = layer.bias_ih.split(H)
    bh_r, bh_z, bh_n = layer.bias_hh.split(H)
    a_r = sat24(ax_r + bx_r + ah_r + bh_r, overflow, "preact")
    a_z = sat24(ax_z + bx_z + ah_z + bh_z, overflow, "preact")
    r = sigmoid_q(a_r, fa)
    z = sigmoid_q(a_z, fa)
    hn = sat24(ah_n + bh_n, overflow, "preact")
    a_n = sat24(ax_n + bx_n + rshift_round(r * hn, fg), overflow, "preact")
    n = tanh_q(a_n, fa)
    nc = rshift_round(n, fg - fc)
    c_tilde = sat24(nc + rshift_round(z * (c_prev - nc), fg), overflow, "candidate")
    if not layer.events:
        return c_tilde, c_tilde, None
    e = c_tilde > layer.threshold
    y = torch.where(e, c_tilde, torch.zeros_like(c_tilde))
    if layer.reset_mechanism == "subtract":
        c = sat24(c_tilde - e.to(torch.int64) * layer.threshold, overflow, "state")
    elif layer.reset_mechanism == "zero":
        c = torch.where(e, torch.zeros_like(c_tilde), c_tilde)
    else:
        c = c_tilde
    return y, c, e


# --------------------------------------------------------------------------- model <-> integer layers


def _layer_plan(model) -> list:
    """``[(name, kind, index)]`` for the layers after the input, in network-file order."""
    if isinstance(model, EGRULanguageModel):
        return ([("embedding", "dense", None)] + [(f"rnn.l{k}", "egru", k) for k in range(model.rnn.num_layers)]
                + [("readout", "dense", None)])
    if isinstance(model, EGRU):
        return [(f"l{k}", "egru", k) for k in range(model.num_layers)]
    raise TypeError(f"expected an snntorch_egru EGRU or EGRULanguageModel, got {type(model).__name__}")


def _rnn(model) -> EGRU:
    return model.rnn if isinstance(model, EGRULanguageModel) else model


def _dense_tensors(model, name: str):
    if name == "embedding":
        return model.embedding.weight.detach().t(), None   # [E, V], no bias
    return model.readout.weight.detach(), model.readout.bias.detach()


def _quantize_vector(values: torch.Tensor, frac: int, what: str, *, low: int = INT24_MIN) -> torch.Tensor:
    v = values.detach().to(torch.float64)
    if not bool(torch.isfinite(v).all()):
        raise QuantizationError(f"{what} contains NaN/Inf")
    q = round_half_away(torch.ldexp(v, torch.tensor(float(frac), dtype=torch.float64)))
    bad = (q < low) | (q > INT24_MAX)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise QuantizationError(
            f"{what}[{i}] = {float(values.reshape(-1)[i]):g} quantises to {int(q[i])} at {frac} fractional bits, "
            f"outside [{low}, {INT24_MAX}]")
    return q.to(torch.int64)


def _check_weight_exp(name: str, value: int) -> int:
    if not WEIGHT_EXP_MIN <= value <= WEIGHT_EXP_MAX:
        raise QuantizationError(f"{name}: weight_exp = {value} is outside Loihi's range "
                                f"[{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}]")
    return value


def integer_dense_layer(name: str, weight: torch.Tensor, bias: Optional[torch.Tensor], q: DenseQuantization,
                        frac_source: int) -> IntegerDenseLayer:
    """The integer parameters of one Dense layer ``out = W x + b`` (e.g. a readout on EGRU events).

    ``frac_source``: fractional bits of its input messages (the previous layer's
    ``frac_state``). Raises :class:`QuantizationError` naming ``name`` for a mantissa,
    ``weight_exp`` or bias that does not fit.

    >>> import torch
    >>> layer = integer_dense_layer("readout", torch.tensor([[0.5, -0.25]]), torch.tensor([0.125]),
    ...                             DenseQuantization(frac_state=8, scale_exp=-7), frac_source=8)
    >>> layer.weight.tolist(), layer.weight_exp, layer.bias.tolist()   # Lava's weights: 2 x mantissa
    ([[128, -64]], -8, [32])
    """
    if not isinstance(q, DenseQuantization):
        raise QuantizationError(f"{name}: expected a DenseQuantization, got {type(q).__name__}")
    e = _check_weight_exp(f"{name}.weight", q.weight_exp(frac_source))
    w = quantize_weights(weight.detach(), q.scale_exp, name=f"{name}.weight")
    b = None if bias is None else _quantize_vector(bias.detach(), q.frac_state, f"{name}.bias")
    return IntegerDenseLayer(name, w.lava_weights, e, b, frac_source, q.frac_state)


def integer_layers(model, quantization: QuantizationSpec) -> list:
    """The integer parameters of every layer after the input (:class:`IntegerDenseLayer` / :class:`IntegerEGRULayer`).

    Raises :class:`QuantizationError` naming the layer and the value for anything the
    arithmetic cannot represent: a weight mantissa outside [-127, 127], a
    ``weight_exp`` outside [-8, 7], a bias outside 24 bits, a threshold that quantises
    below 1 (or above 2**23 - 1), a token input with ``frac_input != 0``.
    """
    plan = _layer_plan(model)
    if not isinstance(quantization, QuantizationSpec):
        raise TypeError(f"quantization must be a QuantizationSpec, got {type(quantization).__name__}")
    if len(quantization.layers) != len(plan):
        raise QuantizationError(f"the spec has {len(quantization.layers)} layers but the model has {len(plan)} "
                                f"({[name for name, _, _ in plan]})")
    if isinstance(model, EGRULanguageModel) and quantization.frac_input != 0:
        raise QuantizationError(f"token inputs are one-hot integers 1: frac_input must be 0, "
                                f"got {quantization.frac_input}")
    rnn = _rnn(model)
    out = []
    with torch.no_grad():
        for k, ((name, kind, index), q) in enumerate(zip(plan, quantization.layers)):
            source = quantization.frac_source(k)
            if kind == "dense":
                if not isinstance(q, DenseQuantization):
                    raise QuantizationError(f"{name}: expected a DenseQuantization, got {type(q).__name__}")
                weight, bias = _dense_tensors(model, name)
                out.append(integer_dense_layer(name, weight, bias, q, source))
                continue
            if not isinstance(q, LayerQuantization):
                raise QuantizationError(f"{name}: expected a LayerQuantization, got {type(q).__name__}")
            params = rnn.layer_parameters(index)
            e_ih = _check_weight_exp(f"{name}.weight_ih", q.weight_exp_ih(source))
            e_hh = _check_weight_exp(f"{name}.weight_hh", q.weight_exp_hh)
            w_ih = quantize_weights(params.weight_ih, q.scale_exp_ih, name=f"{name}.weight_ih")
            w_hh = quantize_weights(params.weight_hh, q.scale_exp_hh, name=f"{name}.weight_hh")
            zeros = torch.zeros(3 * rnn.hidden_sizes[index], dtype=torch.int64)
            b_ih = zeros if params.bias_ih is None else _quantize_vector(params.bias_ih, q.frac_preact,
                                                                          f"{name}.bias_ih")
            b_hh = zeros if params.bias_hh is None else _quantize_vector(params.bias_hh, q.frac_preact,
                                                                          f"{name}.bias_hh")
            theta = _quantize_vector(params.threshold, q.frac_state, f"{name}.threshold", low=1) \
                if rnn.events else torch.ones(rnn.hidden_sizes[index], dtype=torch.int64)
            out.append(IntegerEGRULayer(
                name, w_ih.lava_weights, w_hh.lava_weights, e_ih, e_hh, b_ih, b_hh, theta, source,
                q.frac_preact, q.frac_state, q.frac_gate, rnn.reset_mechanism, bool(rnn.events)))
    return out


# --------------------------------------------------------------------------- integer models


def new_overflow_counters(names: Sequence[str]) -> Dict[str, Dict[str, int]]:
    """Zeroed overflow counters ``{name: {key: 0 for key in OVERFLOW_KEYS}}`` for :meth:`IntegerNetwork.run`."""
    return {name: {key: 0 for key in OVERFLOW_KEYS} for name in names}


class IntegerResult(NamedTuple):
    """What an integer model returns.

    Attributes:
        output: float view ``output_int / 2**frac`` (float32; float64 views with ``.output_int``).
        output_int: int64 outputs (graded events of the last layer, or logits).
        frac: fractional bits of ``output_int``.
        state: ``(ys, cs)``: per EGRU layer the int64 [B, H] graded output and state (pass it back).
        overflow: ``{layer name: {counter: count}}`` for this call.
        events: per EGRU layer, bool events [T, B, H] (None with events=False).
    """

    output: torch.Tensor
    output_int: torch.Tensor
    frac: int
    state: tuple
    overflow: dict
    events: list

    @property
    def overflow_total(self) -> int:
        return sum(sum(counts.values()) for counts in self.overflow.values())


class IntegerNetwork:
    """Runs a stack of integer layers (:class:`IntegerDenseLayer`, :class:`IntegerEGRULayer`) over a
    [T, B, in] int64 message tensor; the building block of :class:`IntegerEGRU` and
    :class:`IntegerEGRULanguageModel`, usable for any other stack of these layers (e.g. an EGRU
    with a Dense readout: ``integer_layers(rnn, spec) + [integer_dense_layer(...)]``).
    ``run(messages, state, overflow)`` returns ``(output, (ys, cs), events)``; ``overflow`` is
    :func:`new_overflow_counters` of ``["input"] + [layer.name ...]``.
    """

    def __init__(self, layers: list, frac_input: int):
        self.layers = layers
        self.frac_input = frac_input

    @property
    def egru_layers(self) -> list:
        return [layer for layer in self.layers if isinstance(layer, IntegerEGRULayer)]

    def _initial_state(self, state, batch: int):
        egrus = self.egru_layers
        if state is None:
            ys = [torch.zeros(batch, layer.hidden_size, dtype=torch.int64) for layer in egrus]
            return ys, [y.clone() for y in ys]
        ys, cs = state
        ys, cs = list(ys), list(cs)
        if len(ys) != len(egrus) or len(cs) != len(egrus):
            raise ValueError(f"state must hold one (y, c) per EGRU layer ({len(egrus)})")
        for k, (y, c, layer) in enumerate(zip(ys, cs, egrus)):
            for what, t in (("y", y), ("c", c)):
                if t.dtype != torch.int64 or tuple(t.shape) != (batch, layer.hidden_size):
                    raise ValueError(f"state {what}[{k}] must be int64 of shape {(batch, layer.hidden_size)}, "
                                     f"got {t.dtype} {tuple(t.shape)}")
        return ys, cs

    def run(self, messages: torch.Tensor, state, overflow: dict, *, one_hot: bool = False):
        """``messages``: int64 [T, B, in] (or token ids [T, B] if ``one_hot``)."""
        batch = messages.shape[1]
        ys0, cs0 = self._initial_state(state, batch)
        x = messages
        ys_n, cs_n, events = [], [], []
        egru_k = 0
        for k, layer in enumerate(self.layers):
            counts = overflow[layer.name]
            if isinstance(layer, IntegerDenseLayer):
                if one_hot and k == 0:   # dense on a one-hot vector = one column of the weights
                    acc = layer.weight.t()[x]
                    x = wrap32(shift(acc, layer.weight_exp), counts, "dense")
                else:
                    x = dense_int(x, layer.weight, layer.weight_exp, counts, cached=layer._cached)
                if layer.bias is not None:
                    x = x + layer.bias
                x = sat24(x, counts, "output")
                continue
            ax_all = dense_int(x, layer.weight_ih, layer.weight_exp_ih, counts, cached=layer._cached_ih)
            y, c = ys0[egru_k], cs0[egru_k]
            ys, es = [], []
            for t in range(ax_all.shape[0]):
                y, c, e = egru_step_int(None, y, c, layer, counts, ax=ax_all[t])
                ys.append(y)
                es.append(e)
            x = torch.stack(ys)
            ys_n.append(y)
            cs_n.append(c)
            events.append(torch.stack(es) if layer.events else None)
            egru_k += 1
        return x, (tuple(ys_n), tuple(cs_n)), events


class IntegerEGRU:
    """An :class:`~snntorch_egru.EGRU` in exact integer arithmetic (docs/fixed-point.md).

    ``IntegerEGRU(model, quantization)(x, state=None)`` takes float inputs shaped as the
    model takes them ([T, B, I], [B, T, I] with ``batch_first``, or [T, I]), quantises
    them to ``frac_input`` (``sat24(round_half_away(x * 2**F_in))``, counted as
    ``overflow["input"]["input"]``) and returns an :class:`IntegerResult` whose
    ``output_int`` holds the last layer's graded events in its ``frac_state``.
    ``run_integer(x_int, state)`` takes already quantised int64 inputs [T, B, I].
    """

    def __init__(self, model: EGRU, quantization: QuantizationSpec):
        if not isinstance(model, EGRU):
            raise TypeError(f"IntegerEGRU needs an snntorch_egru.EGRU, got {type(model).__name__}")
        self.quantization = quantization
        self.layers = integer_layers(model, quantization)
        self.frac_input = quantization.frac_input
        self.frac_output = quantization.output_frac
        self.batch_first = model.batch_first
        self.input_size = model.input_size
        self._network = IntegerNetwork(self.layers, self.frac_input)

    def quantize_input(self, x: torch.Tensor, overflow: Optional[dict] = None) -> torch.Tensor:
        """``sat24(round_half_away(x * 2**frac_input))`` as int64."""
        scaled = torch.ldexp(x.detach().to(torch.float64), torch.tensor(float(self.frac_input), dtype=torch.float64))
        if not bool(torch.isfinite(scaled).all()):
            raise ValueError("input contains NaN/Inf")
        q = round_half_away(scaled.clamp(-INPUT_CLAMP, INPUT_CLAMP)).to(torch.int64)
        return sat24(q, overflow, "input")

    def run_integer(self, x_int: torch.Tensor, state=None) -> IntegerResult:
        if x_int.dtype != torch.int64 or x_int.dim() != 3 or x_int.shape[-1] != self.input_size:
            raise ValueError(f"x_int must be int64 [T, B, {self.input_size}], got {x_int.dtype} {tuple(x_int.shape)}")
        overflow = new_overflow_counters(["input"] + [layer.name for layer in self.layers])
        return self._finish(x_int, state, overflow)

    def _finish(self, x_int, state, overflow, unbatched=False, batch_first=False) -> IntegerResult:
        out, state, events = self._network.run(x_int, state, overflow)
        if unbatched:
            out = out.squeeze(1)
            state = tuple(tuple(t.squeeze(0) for t in part) for part in state)
        elif batch_first:
            out = out.transpose(0, 1)
        view = torch.ldexp(out.to(torch.float64), torch.tensor(-float(self.frac_output), dtype=torch.float64))
        return IntegerResult(view.float(), out, self.frac_output, state, overflow, events)

    def __call__(self, x: torch.Tensor, state=None) -> IntegerResult:
        if x.dim() not in (2, 3):
            raise ValueError(f"input must be [T, B, I] or [T, I], got shape {tuple(x.shape)}")
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            if state is not None:
                state = tuple(tuple(t.unsqueeze(0) for t in part) for part in state)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input has {x.shape[-1]} features, expected {self.input_size}")
        overflow = new_overflow_counters(["input"] + [layer.name for layer in self.layers])
        x_int = self.quantize_input(x, overflow["input"])
        return self._finish(x_int, state, overflow, unbatched, self.batch_first and not unbatched)


class IntegerEGRULanguageModel:
    """An :class:`~snntorch_egru.EGRULanguageModel` in exact integer arithmetic.

    ``(tokens [T, B], state=None) -> IntegerResult`` with ``output_int`` the logits
    [T, B, V] in the readout's ``frac_state`` and ``output`` the float logits.
    """

    def __init__(self, model: EGRULanguageModel, quantization: QuantizationSpec):
        if not isinstance(model, EGRULanguageModel):
            raise TypeError(f"IntegerEGRULanguageModel needs an EGRULanguageModel, got {type(model).__name__}")
        self.quantization = quantization
        self.layers = integer_layers(model, quantization)
        self.frac_output = quantization.output_frac
        self.vocab_size = model.vocab_size
        self._network = IntegerNetwork(self.layers, 0)

    def __call__(self, tokens: torch.Tensor, state=None) -> IntegerResult:
        if tokens.dtype not in (torch.int64, torch.int32) or tokens.dim() != 2:
            raise ValueError(f"tokens must be integer ids [T, B], got {tokens.dtype} {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.vocab_size})")
        overflow = new_overflow_counters([layer.name for layer in self.layers])
        out, state, events = self._network.run(tokens.long(), state, overflow, one_hot=True)
        view = torch.ldexp(out.to(torch.float64), torch.tensor(-float(self.frac_output), dtype=torch.float64))
        return IntegerResult(view.float(), out, self.frac_output, state, overflow, events)


def to_integer(model, quantization: QuantizationSpec):
    """:class:`IntegerEGRU` or :class:`IntegerEGRULanguageModel` of ``model`` (parameters copied now)."""
    if isinstance(model, EGRULanguageModel):
        return IntegerEGRULanguageModel(model, quantization)
    if isinstance(model, EGRU):
        return IntegerEGRU(model, quantization)
    raise TypeError(f"to_integer needs an EGRU or EGRULanguageModel, got {type(model).__name__}")


# --------------------------------------------------------------------------- calibration


def _frac_upper(max_abs: float, max_frac: int) -> int:
    """Largest F <= max_frac with ``max_abs * 2**F < HEADROOM`` (may be -1: not representable)."""
    frac = max_frac
    while frac >= 0 and max_abs * 2.0**frac >= HEADROOM:
        frac -= 1
    return frac


def _as_list(inputs) -> list:
    if isinstance(inputs, torch.Tensor):
        return [inputs]
    items = list(inputs)
    if not items or not all(isinstance(t, torch.Tensor) for t in items):
        raise TypeError("calibration_inputs must be a tensor or a non-empty sequence of tensors")
    return items


def _observe_egru(rnn: EGRU, x: torch.Tensor, stats: dict, names: list) -> torch.Tensor:
    """Float forward (float64) of the EGRU stack on x [T, B, I], recording maxima; returns the last y."""
    layer_input = x.to(torch.float64)
    for k in range(rnn.num_layers):
        p = rnn.layer_parameters(k)
        H = rnn.hidden_sizes[k]
        w_ih, w_hh = p.weight_ih.double(), p.weight_hh.double()
        b_ih = p.bias_ih.double() if p.bias_ih is not None else torch.zeros(3 * H, dtype=torch.float64)
        b_hh = p.bias_hh.double() if p.bias_hh is not None else torch.zeros(3 * H, dtype=torch.float64)
        theta = p.threshold.double()
        gx_all = layer_input @ w_ih.t()
        y = torch.zeros(x.shape[1], H, dtype=torch.float64)
        c = torch.zeros_like(y)
        ys = []
        s = stats[names[k]]
        for t in range(gx_all.shape[0]):
            gx, gh = gx_all[t] + b_ih, y @ w_hh.t()
            x_r, x_z, x_n = gx.split(H, -1)
            h_r, h_z, h_n = gh.split(H, -1)
            hn = h_n + b_hh[2 * H:]
            a_r = x_r + h_r + b_hh[:H]
            a_z = x_z + h_z + b_hh[H:2 * H]
            r, z = torch.sigmoid(a_r), torch.sigmoid(a_z)
            a_n = x_n + r * hn
            c_tilde = z * c + (1 - z) * torch.tanh(a_n)
            s["preact"] = max(s["preact"], *(float(v.abs().max()) for v in (a_r, a_z, hn, a_n)))
            s["state"] = max(s["state"], float(c_tilde.abs().max()))
            if rnn.events:
                e = c_tilde > theta
                y = torch.where(e, c_tilde, torch.zeros_like(c_tilde))
                if rnn.reset_mechanism == "subtract":
                    c = c_tilde - e.double() * theta
                elif rnn.reset_mechanism == "zero":
                    c = torch.where(e, torch.zeros_like(c_tilde), c_tilde)
                else:
                    c = c_tilde
            else:
                y = c = c_tilde
            ys.append(y)
        layer_input = torch.stack(ys)
    return layer_input


def calibrate(model, calibration_inputs, *, max_frac: int = DEFAULT_MAX_FRAC) -> QuantizationSpec:
    """Pick the fixed-point formats of ``model`` from a float run on ``calibration_inputs``.

    ``calibration_inputs``: one tensor or a sequence of tensors, each as the model takes
    it (float [T, B, I] for an ``EGRU``, honouring ``batch_first``; token ids [T, B] for
    an ``EGRULanguageModel``); each is run from the zero state.

    Rule (docs/fixed-point.md, "Calibration"): every weight matrix gets
    ``s = ceil(log2(max|W| / 127))``; every fractional-bit count F gets an upper bound,
    the largest F <= ``max_frac`` with (observed max magnitude) * 2**F < 2**22, where the
    magnitude is: |x| for F_in; max |pre-activation| (a_r, a_z, U_n y + b_Un, a_n) and
    |bias| for F_a; max |c~| and the largest threshold for F_c; max |output| and |bias|
    for a dense layer (all embedding weights for the embedding). Then all F are lowered,
    as little as possible, until every Dense ``weight_exp`` is in [-8, 7] (the greatest
    solution of these difference constraints). Lower bounds: F_in = 0 for tokens,
    F_a >= 1, F_c large enough for the smallest threshold to quantise to >= 1.

    Raises :class:`QuantizationError` naming the layer and the value when no format fits.
    """
    max_frac = checked_int("max_frac", max_frac, 1, FRAC_LIMIT)
    plan = _layer_plan(model)
    rnn = _rnn(model)
    names = [name for name, _, _ in plan]
    stats = {name: {"preact": 0.0, "state": 0.0, "output": 0.0} for name in names}
    max_input = 0.0
    lm = isinstance(model, EGRULanguageModel)
    egru_names = [name for name, kind, _ in plan if kind == "egru"]
    with torch.no_grad():
        for x in _as_list(calibration_inputs):
            if lm:
                model._check_tokens(x)
                emb = model.embedding.weight.double()[x]
                y = _observe_egru(rnn, emb, stats, egru_names)
                logits = y @ model.readout.weight.double().t() + model.readout.bias.double()
                stats["readout"]["output"] = max(stats["readout"]["output"], float(logits.abs().max()))
            else:
                if x.dim() == 2:
                    x = x.unsqueeze(1)
                elif model.batch_first:
                    x = x.transpose(0, 1)
                if x.dim() != 3 or x.shape[-1] != model.input_size:
                    raise ValueError(f"calibration input must be [T, B, {model.input_size}], got {tuple(x.shape)}")
                max_input = max(max_input, float(x.abs().max()))
                _observe_egru(rnn, x, stats, egru_names)
    # scale exponents and the magnitudes that bound each F
    scale = {}
    upper, lower, why_low = {}, {}, {}
    variables = ["input"]
    upper["input"] = 0 if lm else _frac_upper(max_input, max_frac)
    lower["input"] = 0
    why_low["input"] = "an input format has at least 0 fractional bits"
    if upper["input"] < 0:
        raise QuantizationError(f"input: max |x| = {max_input:g} does not fit 24 bits with one bit of headroom")
    edges = []  # (source var, dest var, scale exp, label)
    source = "input"
    with torch.no_grad():
        for name, kind, index in plan:
            if kind == "dense":
                weight, bias = _dense_tensors(model, name)
                s = weight_scale_exponent(weight)
                scale[name] = s
                magnitude = stats[name]["output"]
                if name == "embedding":
                    magnitude = float(weight.abs().max())
                if bias is not None:
                    magnitude = max(magnitude, float(bias.abs().max()))
                var = f"{name}.frac_state"
                variables.append(var)
                upper[var] = _frac_upper(magnitude, max_frac)
                lower[var], why_low[var] = 0, "a format has at least 0 fractional bits"
                if upper[var] < 0:
                    raise QuantizationError(f"{name}: max |output| = {magnitude:g} does not fit 24 bits")
                edges.append((source, var, s, f"{name}.weight"))
                source = var
                continue
            p = rnn.layer_parameters(index)
            s_ih, s_hh = weight_scale_exponent(p.weight_ih), weight_scale_exponent(p.weight_hh)
            scale[name] = (s_ih, s_hh)
            pre = stats[name]["preact"]
            for b in (p.bias_ih, p.bias_hh):
                if b is not None:
                    pre = max(pre, float(b.abs().max()))
            state = stats[name]["state"]
            if rnn.events:
                state = max(state, float(p.threshold.max()))
            va, vc = f"{name}.frac_preact", f"{name}.frac_state"
            variables += [va, vc]
            upper[va], upper[vc] = _frac_upper(pre, max_frac), _frac_upper(state, max_frac)
            if upper[va] < 1:
                raise QuantizationError(f"{name}: max |pre-activation| = {pre:g} does not fit 24 bits "
                                        f"with frac_preact >= 1")
            if upper[vc] < 0:
                raise QuantizationError(f"{name}: max |c~| = {state:g} does not fit 24 bits")
            lower[va], why_low[va] = 1, "tanh_q needs frac_preact >= 1"
            lower[vc], why_low[vc] = 0, "a format has at least 0 fractional bits"
            if rnn.events:
                theta_min = float(p.threshold.double().min())
                need = 0
                while theta_min * 2.0**need < 0.5 and need <= FRAC_LIMIT:
                    need += 1
                lower[vc] = need
                why_low[vc] = f"the smallest threshold {theta_min:g} needs frac_state >= {need} to quantise to >= 1"
            edges.append((source, va, s_ih, f"{name}.weight_ih"))
            edges.append((vc, va, s_hh, f"{name}.weight_hh"))
            source = vc
    frac = dict(upper)
    reason = {v: f"max observed magnitude (cap {max_frac})" for v in variables}
    changed = True
    while changed:
        changed = False
        for src, dst, s, label in edges:
            # weight_exp = s - F_src + F_dst - 1 in [-8, 7]
            if frac[dst] > frac[src] + WEIGHT_EXP_MAX + 1 - s:
                frac[dst] = frac[src] + WEIGHT_EXP_MAX + 1 - s
                reason[dst] = f"{label}: weight_exp <= {WEIGHT_EXP_MAX} with {src} = {frac[src]} (s = {s})"
                changed = True
            if frac[src] > frac[dst] + s - 1 - WEIGHT_EXP_MIN:
                frac[src] = frac[dst] + s - 1 - WEIGHT_EXP_MIN
                reason[src] = f"{label}: weight_exp >= {WEIGHT_EXP_MIN} with {dst} = {frac[dst]} (s = {s})"
                changed = True
    for var in variables:
        if frac[var] < lower[var]:
            raise QuantizationError(
                f"no fixed-point format fits {var}: {reason[var]} forces it down to {frac[var]}, but "
                f"{why_low[var]}")
    layers = []
    for name, kind, _ in plan:
        if kind == "dense":
            layers.append(DenseQuantization(frac[f"{name}.frac_state"], scale[name]))
        else:
            s_ih, s_hh = scale[name]
            layers.append(LayerQuantization(frac[f"{name}.frac_preact"], frac[f"{name}.frac_state"], s_ih, s_hh))
    spec = QuantizationSpec(frac["input"], tuple(layers))
    integer_layers(model, spec)  # raises for thresholds/biases/weights that do not fit
    return spec


# --------------------------------------------------------------------------- quantisation-aware training


def _ste(value: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """Forward ``quantized``, backward identity (straight-through)."""
    return value + (quantized - value).detach()


def _pow2(frac: int) -> float:
    return math.ldexp(1.0, frac)


def _fq_round(v: torch.Tensor, frac: int) -> torch.Tensor:
    """Round half up to the 2**-frac grid (emulates rshift_round), straight-through."""
    scale = _pow2(frac)
    return _ste(v, torch.floor(v * scale + 0.5) / scale)


def _fq_floor(v: torch.Tensor, frac: int) -> torch.Tensor:
    """Floor to the 2**-frac grid (emulates the Dense ``>>``), straight-through."""
    scale = _pow2(frac)
    return _ste(v, torch.floor(v * scale) / scale)


def _fq_sat(v: torch.Tensor, frac: int) -> torch.Tensor:
    """sat24 on the 2**-frac grid (gradient zero where it clips)."""
    scale = _pow2(frac)
    return v.clamp(INT24_MIN / scale, INT24_MAX / scale)


def _fq_param(v: torch.Tensor, frac: int, low: int = INT24_MIN) -> torch.Tensor:
    """round_half_away to the 2**-frac grid, clipped to [low, 2**23 - 1], straight-through."""
    scale = _pow2(frac)
    q = (torch.sign(v) * torch.floor(v.abs() * scale + 0.5)).clamp(low, INT24_MAX) / scale
    return _ste(v, q)


def _fq_weight(w: torch.Tensor, scale_exp: int) -> torch.Tensor:
    """``clip(round_half_away(W / 2**s), -127, 127) * 2**s``, straight-through."""
    scale = math.ldexp(1.0, -scale_exp)
    q = (torch.sign(w) * torch.floor(w.abs() * scale + 0.5)).clamp(MANTISSA_MIN, MANTISSA_MAX) / scale
    return _ste(w, q)


def fake_sigmoid_q(x: torch.Tensor) -> torch.Tensor:
    """``sigmoid_q`` in floating point: equals ``sigmoid_q(a, F) / 4096`` for ``x = a / 2**F`` (any F >= 0).

    The rounding ``rshift_round(m, F - 7)`` of ``m = |a|`` is ``floor(|x| * 128 + 1/2)``
    on the real value, so the result does not depend on F. Backward: PLAN's slopes
    (straight-through rounding).
    """
    m = x.abs()
    p3 = (_ste(m * 128, torch.floor(m * 128 + 0.5)) + 3456) / GATE_ONE
    p2 = (_ste(m * 512, torch.floor(m * 512 + 0.5)) + 2560) / GATE_ONE
    p1 = (_ste(m * 1024, torch.floor(m * 1024 + 0.5)) + 2048) / GATE_ONE
    f = torch.where(m >= 5, torch.ones_like(m), torch.where(m >= 2.375, p3, torch.where(m >= 1, p2, p1)))
    return torch.where(x >= 0, f, 1 - f)


def fake_tanh_q(x: torch.Tensor) -> torch.Tensor:
    """``tanh_q`` in floating point: ``2 * fake_sigmoid_q(2x) - 1``."""
    return 2 * fake_sigmoid_q(2 * x) - 1


def fake_quantize_dense(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                        q: DenseQuantization) -> torch.Tensor:
    """Quantisation-aware forward of a Dense layer on messages ``x`` that are already on their grid.

    ``sat(floor_F(x @ W_q^T) + b_q)`` with ``W_q`` = the weights on ``mantissa * 2**s``,
    ``b_q`` the bias on ``2**-F`` (F = ``q.frac_state``), straight-through rounding and the
    clamp's gradient, in ``x``'s dtype: with float64 and ``x`` from a :class:`QuantizationAware`
    forward it equals :func:`integer_dense_layer` run by :class:`IntegerNetwork` (divided by
    ``2**F``) bit for bit.
    """
    wq = _fq_weight(weight.to(x.dtype), q.scale_exp)
    out = _fq_floor(x @ wq.t(), q.frac_state)
    if bias is not None:
        out = out + _fq_param(bias.to(x.dtype), q.frac_state)
    return _fq_sat(out, q.frac_state)


@torch.no_grad()
def project_dense_(weight: torch.Tensor, bias: Optional[torch.Tensor], q: DenseQuantization) -> None:
    """Clamp a Dense layer's parameters in place into what ``q`` can represent (after an optimiser step)."""
    bound = math.ldexp(1.0, q.scale_exp)
    weight.clamp_(MANTISSA_MIN * bound, MANTISSA_MAX * bound)
    if bias is not None:
        limit = math.ldexp(INT24_MAX, -q.frac_state)
        bias.clamp_(-limit, limit)


def calibrate_dense(weight: torch.Tensor, bias: Optional[torch.Tensor], max_abs_output: float, frac_source: int,
                    *, max_frac: int = DEFAULT_MAX_FRAC, name: str = "dense") -> DenseQuantization:
    """The format of one Dense layer after a calibrated network (e.g. a readout on EGRU events).

    The rule of :func:`calibrate` for a single edge: ``s = ceil(log2(max|W| / 127))``, F the
    largest value <= ``max_frac`` with ``max(max_abs_output, max|b|) * 2**F < 2**22``, lowered
    until ``weight_exp = s - frac_source + F - 1 <= 7``. Raises :class:`QuantizationError` when
    no F also satisfies ``weight_exp >= -8`` and F >= 0.

    >>> import torch
    >>> calibrate_dense(torch.tensor([[0.5, -0.25]]), torch.tensor([0.1]), max_abs_output=3.0, frac_source=10)
    DenseQuantization(frac_state=16, scale_exp=-7)
    """
    s = weight_scale_exponent(weight.detach())
    magnitude = float(max_abs_output)
    if bias is not None:
        magnitude = max(magnitude, float(bias.detach().abs().max()))
    frac = min(_frac_upper(magnitude, max_frac), frac_source - s + WEIGHT_EXP_MAX + 1)
    if frac < max(0, frac_source - s + WEIGHT_EXP_MIN + 1):
        raise QuantizationError(f"{name}: no fixed-point format fits (max |output| {magnitude:g}, "
                                f"input frac {frac_source}, weight scale 2**{s})")
    return DenseQuantization(frac, s)


class QuantizationAware(nn.Module):
    """Quantisation-aware forward pass of an ``EGRU`` or ``EGRULanguageModel`` (shares its parameters).

    Every quantity is put on its fixed-point grid as docs/fixed-point.md prescribes:
    weights to ``mantissa * 2**s``, biases and thresholds to their formats, Dense outputs
    floored to F_a, sums saturated to 24 bits, products rounded half up, PLAN
    sigmoid/tanh on 12-bit gates. Rounding is straight-through in the backward pass,
    events use the model's surrogate, saturation has the clamp's gradient.

    With ``dtype=torch.float64`` (the default) every intermediate is exact, so the
    forward pass equals the integer mode (:func:`to_integer`) bit for bit (as long as no
    Dense output wraps at int32, which the integer mode counts as ``"dense"``
    overflow). In float32 it is faster and matches up to rounding of the float32
    matmuls (a few LSB, occasionally a flipped event).

    Call :meth:`project_` after each optimiser step to keep the parameters
    representable (weights within the mantissa range, thresholds >= 1 LSB).
    Dropout of the wrapped model applies in training mode (not part of the arithmetic).

    ``forward`` takes what the model takes and returns ``(output, state)`` in ``dtype``;
    ``state`` is ``(ys, cs)``, per EGRU layer [B, H] tensors, to pass back.
    """

    def __init__(self, model, quantization: QuantizationSpec, *, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.model = model
        self.quantization = quantization
        self.dtype = dtype
        self.plan = _layer_plan(model)
        self.last_events: list = []
        integer_layers(model, quantization)  # validates the spec against the model now

    @property
    def rnn(self) -> EGRU:
        return _rnn(self.model)

    def forward(self, x: torch.Tensor, state=None):
        model, q, dtype = self.model, self.quantization, self.dtype
        lm = isinstance(model, EGRULanguageModel)
        unbatched = False
        if lm:
            model._check_tokens(x)
        else:
            if x.dim() == 2:
                unbatched, x = True, x.unsqueeze(1)
            elif model.batch_first:
                x = x.transpose(0, 1)
            if x.dim() != 3 or x.shape[-1] != model.input_size:
                raise ValueError(f"input must be [T, B, {model.input_size}], got {tuple(x.shape)}")
            x = _fq_param(x.to(dtype), q.frac_input)
        rnn = self.rnn
        ys0, cs0 = self._initial_state(state, x.shape[1], unbatched)
        ys_n, cs_n, self.last_events = [], [], []
        egru_k = 0
        for k, ((name, kind, index), lq) in enumerate(zip(self.plan, q.layers)):
            if kind == "dense":
                if name == "embedding":
                    wq = _fq_weight(model.embedding.weight.t().to(dtype), lq.scale_exp)
                    x = _fq_sat(_fq_floor(wq.t()[x], lq.frac_state), lq.frac_state)
                else:
                    x = fake_quantize_dense(x, model.readout.weight, model.readout.bias, lq)
                if name == "embedding" and model.dropout_embedding and self.training:
                    x = nn.functional.dropout(x, model.dropout_embedding, training=True)
                continue
            ys, es, y, c = self._run_layer(x, ys0[egru_k], cs0[egru_k], index, lq)
            x = ys
            ys_n.append(y)
            cs_n.append(c)
            self.last_events.append(es)
            egru_k += 1
            if self.training:
                last = egru_k == rnn.num_layers
                p = (model.dropout_output if lm else 0.0) if last else rnn.dropout
                if p:
                    x = nn.functional.dropout(x, p, training=True)
        if unbatched:
            x = x.squeeze(1)
            ys_n = [t.squeeze(0) for t in ys_n]
            cs_n = [t.squeeze(0) for t in cs_n]
        elif not lm and model.batch_first:
            x = x.transpose(0, 1)
        return x, (tuple(ys_n), tuple(cs_n))

    def _initial_state(self, state, batch: int, unbatched: bool):
        sizes = self.rnn.hidden_sizes
        if state is None:
            ys = [torch.zeros(batch, h, dtype=self.dtype) for h in sizes]
            return ys, [y.clone() for y in ys]
        ys, cs = state
        ys = [t.unsqueeze(0) if unbatched else t for t in ys]
        cs = [t.unsqueeze(0) if unbatched else t for t in cs]
        if len(ys) != len(sizes) or len(cs) != len(sizes):
            raise ValueError(f"state must hold one (y, c) per EGRU layer ({len(sizes)})")
        return [t.to(self.dtype) for t in ys], [t.to(self.dtype) for t in cs]

    def _run_layer(self, x, y, c, index: int, lq: LayerQuantization):
        rnn, dtype = self.rnn, self.dtype
        p = rnn.layer_parameters(index)
        H = rnn.hidden_sizes[index]
        fa, fc = lq.frac_preact, lq.frac_state
        w_ih = _fq_weight(p.weight_ih.to(dtype), lq.scale_exp_ih)
        w_hh = _fq_weight(p.weight_hh.to(dtype), lq.scale_exp_hh)
        zeros = torch.zeros(3 * H, dtype=dtype)
        b_ih = zeros if p.bias_ih is None else _fq_param(p.bias_ih.to(dtype), fa)
        b_hh = zeros if p.bias_hh is None else _fq_param(p.bias_hh.to(dtype), fa)
        theta = _fq_param(p.threshold.to(dtype), fc, low=1)
        bx_r, bx_z, bx_n = b_ih.split(H)
        bh_r, bh_z, bh_n = b_hh.split(H)
        ax_all = _fq_floor(x @ w_ih.t(), fa)
        ys, es = [], []
        for t in range(ax_all.shape[0]):
            ax_r, ax_z, ax_n = ax_all[t].split(H, -1)
            ah_r, ah_z, ah_n = _fq_floor(y @ w_hh.t(), fa).split(H, -1)
            r = fake_sigmoid_q(_fq_sat(ax_r + bx_r + ah_r + bh_r, fa))
            z = fake_sigmoid_q(_fq_sat(ax_z + bx_z + ah_z + bh_z, fa))
            hn = _fq_sat(ah_n + bh_n, fa)
            n = fake_tanh_q(_fq_sat(ax_n + bx_n + _fq_round(r * hn, fa), fa))
            nc = n if fc >= FRAC_GATE else _fq_round(n, fc)
            c_tilde = _fq_sat(nc + _fq_round(z * (c - nc), fc), fc)
            if not rnn.events:
                y = c = c_tilde
                ys.append(y)
                continue
            e = rnn.spike_grad(c_tilde - theta)
            y = c_tilde * e
            if rnn.reset_mechanism == "subtract":
                c = _fq_sat(c_tilde - e * theta, fc)
            elif rnn.reset_mechanism == "zero":
                c = c_tilde * (1 - e)
            else:
                c = c_tilde
            ys.append(y)
            es.append(e)
        return torch.stack(ys), (torch.stack(es) if rnn.events else None), y, c

    @torch.no_grad()
    def project_(self) -> "QuantizationAware":
        """Clamp parameters into the representable ranges (weights, biases, thresholds); returns self."""
        model, rnn = self.model, self.rnn
        for (name, kind, index), lq in zip(self.plan, self.quantization.layers):
            if kind == "dense":
                if name == "embedding":
                    project_dense_(model.embedding.weight, None, lq)
                else:
                    project_dense_(model.readout.weight, model.readout.bias, lq)
                continue
            for attr, s in (("weight_ih", lq.scale_exp_ih), ("weight_hh", lq.scale_exp_hh)):
                bound = math.ldexp(1.0, s)
                getattr(rnn, f"{attr}_l{index}").clamp_(MANTISSA_MIN * bound, MANTISSA_MAX * bound)
            limit = math.ldexp(INT24_MAX, -lq.frac_preact)
            for attr in ("bias_ih", "bias_hh"):
                b = getattr(rnn, f"{attr}_l{index}")
                if b is not None:
                    b.clamp_(-limit, limit)
            theta = getattr(rnn, f"threshold_l{index}")
            theta.clamp_(math.ldexp(1.0, -lq.frac_state), math.ldexp(INT24_MAX, -lq.frac_state))
        return self

    def to_integer(self):
        """The integer model of the wrapped model with this spec (:func:`to_integer`)."""
        return to_integer(self.model, self.quantization)

    def activity(self):
        """Fraction of nonzero events per EGRU layer and pooled, over the last forward pass."""
        from .activity import activity_statistics

        if not self.last_events or any(e is None for e in self.last_events):
            raise RuntimeError("activity() needs a forward pass with events first")
        return activity_statistics(self.last_events)


def quantization_aware(model, quantization: QuantizationSpec, *, dtype: torch.dtype = torch.float64) \
        -> QuantizationAware:
    """A :class:`QuantizationAware` wrapper: train it (its parameters are ``model``'s) to fine-tune for the integer mode."""
    return QuantizationAware(model, quantization, dtype=dtype)
