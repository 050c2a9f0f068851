r"""Integer primitives of docs/fixed-point.md on ``torch.int64`` tensors, with overflow counting.

- weights: :func:`weight_scale_exponent` picks ``s = ceil(log2(max|W| / 127))``,
  :func:`quantize_weights` gives 8-bit mantissas ``k = round_half_away(W / 2**s)``; the
  Lava integer weight is ``2 k`` (:attr:`QuantizedWeights.lava_weights`);
- arithmetic: :func:`sat24` (24-bit saturation), :func:`wrap32` (int32 wrap of Lava's
  ``a_out``), :func:`shift` (Lava's Dense shift, floor), :func:`rshift_round` (round half
  up) and :func:`dense_int`, Lava's fixed-point ``Dense``: ``wrap32(shift(W x, e))``;
- gates: :func:`sigmoid_q`, :func:`tanh_q`, the piecewise-linear PLAN with shifts, adds and
  compares only, on F_g = 12 bit gates, and the ideal real-valued :func:`plan_sigmoid`,
  :func:`plan_tanh` they approximate. With :math:`m = |x|`:

.. math::

    \mathrm{PLAN}(x) = \begin{cases}
        1 & m \ge 5 \\ m / 32 + 0.84375 & 2.375 \le m < 5 \\
        m / 8 + 0.625 & 1 \le m < 2.375 \\ m / 4 + 0.5 & m < 1
    \end{cases} \quad (x \ge 0), \qquad \mathrm{PLAN}(-x) = 1 - \mathrm{PLAN}(x).

Example::

    >>> import torch
    >>> rshift_round(torch.tensor([-6, -10, 6]), 2).tolist()     # round half up
    [-1, -2, 2]
    >>> sigmoid_q(torch.tensor([0, 1 << 16, -(1 << 20)]), 16).tolist()   # 1/2, PLAN(1), PLAN(-16)
    [2048, 3072, 0]
    >>> q = quantize_weights(torch.tensor([[0.5, -0.25]]))
    >>> q.scale_exp, q.mantissa.tolist(), q.lava_weights.tolist()
    (-7, [[64, -32]], [[128, -64]])
    >>> counts = {}
    >>> sat24(torch.tensor([1 << 23, 5]), counts, "preact").tolist(), counts
    ([8388607, 5], {'preact': 1})
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from egru_format import FRAC_GATE, GATE_ONE, INT24_MAX, INT24_MIN, INT32_MAX, INT32_MIN, MANTISSA_MAX
from egru_format import QuantizationError
from egru_format.fixed_point import mantissas

__all__ = [
    "QuantizedWeights", "FloatWeights", "round_half_away", "weight_scale_exponent", "quantize_weights", "sat24",
    "wrap32", "shift", "rshift_round", "dense_int", "sigmoid_q", "tanh_q", "plan_sigmoid", "plan_tanh",
]

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



def quantize_weights(weight: torch.Tensor, scale_exp: Optional[int] = None, *, name: str = "weight",
                     clip: bool = False) -> QuantizedWeights:
    """Mantissas ``k = round_half_away(W / 2**s)`` of a weight matrix: the hub's
    :func:`egru_format.fixed_point.mantissas` on the tensor's values (int64, on its device).

    ``scale_exp`` None: :func:`weight_scale_exponent` (then every mantissa fits).
    A mantissa outside [-127, 127] raises :class:`QuantizationError` naming ``name``
    and the value, unless ``clip=True`` (then it is clipped, as QAT's fake quantiser does).
    """
    if scale_exp is None:
        scale_exp = weight_scale_exponent(weight)
    k = mantissas(weight.detach().cpu().double().numpy(), int(scale_exp), name=name, clip=clip)
    return QuantizedWeights(torch.from_numpy(k).to(weight.device), int(scale_exp))


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


class FloatWeights:
    """float64 copy of an integer weight matrix (transposed) and its largest magnitude, made once.

    An integer layer keeps one per matrix and passes it to :func:`dense_int` (``cached=``).
    """

    def __init__(self, weight: torch.Tensor):
        self.t = weight.to(torch.float64).t().contiguous()
        self.bound = int(weight.abs().max()) if weight.numel() else 0


def _int_matmul(x: torch.Tensor, weight: torch.Tensor, cached: Optional[FloatWeights] = None) -> torch.Tensor:
    """``x @ weight.T`` exactly in int64 (via float64 BLAS when every partial sum is < 2**53)."""
    cached = cached if cached is not None else FloatWeights(weight)
    fan_in = weight.shape[1]
    bound_x = int(x.abs().max()) if x.numel() else 0
    if bound_x * cached.bound * max(fan_in, 1) < (1 << 53):
        return torch.matmul(x.to(torch.float64), cached.t).to(torch.int64)
    return torch.matmul(x, weight.t())


def dense_int(x: torch.Tensor, weight: torch.Tensor, exp: int, overflow: Optional[dict] = None,
              *, cached: Optional[FloatWeights] = None) -> torch.Tensor:
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

