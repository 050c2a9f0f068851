"""Loihi-style integer primitives of docs/fixed-point.md in numpy int64 (sections 1, 5, 7).

What a fixed-point reader of the format needs, with numpy only: the one float -> int
rounding of the arithmetic (:func:`round_half_away`), 24-bit saturation with a count of
the entries it changed (:func:`sat24`), the rounding shift (:func:`rshift_round`), the
piecewise-linear PLAN gates (:func:`sigmoid_q`, :func:`tanh_q`), input quantisation
(:func:`quantize_input`) and the Dense ``weight_exp`` (:func:`weight_exp`). The Lava
``fixed_pt`` ProcessModels compute with these; the torch integer mode
(``snntorch_egru.quantization``) implements the same equations on tensors and the
equivalence tests hold the two equal bit for bit.

    >>> import numpy as np
    >>> from egru_format.integer import rshift_round, sigmoid_q, tanh_q, round_half_away
    >>> rshift_round(np.array([-6, -10, 6]), 2).tolist()          # round half up
    [-1, -2, 2]
    >>> sigmoid_q(np.array([40858]), 16).tolist(), tanh_q(np.array([30213]), 16).tolist()
    ([2686], [1888])
    >>> round_half_away(np.array([-2.5, -0.5, 0.5, 1.49])).tolist()
    [-3.0, -1.0, 1.0, 1.0]
"""

from __future__ import annotations

import typing as ty

import numpy as np

from .constants import FRAC_GATE, GATE_ONE, INT24_MAX, INT24_MIN

__all__ = ["round_half_away", "sat24", "rshift_round", "sigmoid_q", "tanh_q", "quantize_input", "weight_exp",
           "INPUT_CLAMP"]

#: Inputs are clamped to this magnitude (after scaling) before the float -> int64 conversion.
INPUT_CLAMP = 2.0 ** 40


def round_half_away(values) -> np.ndarray:
    """``sign(v) * floor(|v| + 1/2)`` in float64 (the only float -> int rounding of the arithmetic)."""
    values = np.asarray(values, dtype=np.float64)
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def sat24(v: np.ndarray) -> ty.Tuple[np.ndarray, int]:
    """``clip(v, -2**23, 2**23 - 1)`` and the number of entries it changed."""
    out = np.clip(v, INT24_MIN, INT24_MAX)
    return out, int(np.count_nonzero(out != v))


def rshift_round(v: np.ndarray, s: int) -> np.ndarray:
    """``(v + 2**(s-1)) >> s`` for s > 0 (round half up), ``v`` for s = 0, ``v << -s`` for s < 0."""
    if s > 0:
        return (v + (1 << (s - 1))) >> s
    if s == 0:
        return v
    return v << (-s)


def sigmoid_q(a: np.ndarray, frac: int) -> np.ndarray:
    """PLAN sigmoid of int64 ``a`` (``frac`` fractional bits) as an integer in [0, 4096].

    With ``m = |a|``: 4096 if ``m >= 5 * 2**frac``; else ``rshift_round(m, frac - 7) + 3456``
    if ``8 m >= 19 * 2**frac``; else ``rshift_round(m, frac - 9) + 2560`` if ``m >= 2**frac``;
    else ``rshift_round(m, frac - 10) + 2048``. Negative ``a``: 4096 minus that.
    """
    m = np.abs(a)
    f = np.where(
        m >= (5 << frac), GATE_ONE,
        np.where((m << 3) >= (19 << frac), rshift_round(m, frac + 5 - FRAC_GATE) + 3456,
                 np.where(m >= (1 << frac), rshift_round(m, frac + 3 - FRAC_GATE) + 2560,
                          rshift_round(m, frac + 2 - FRAC_GATE) + 2048)))
    return np.where(a >= 0, f, GATE_ONE - f).astype(np.int64)


def tanh_q(a: np.ndarray, frac: int) -> np.ndarray:
    """``2 * sigmoid_q(a, frac - 1) - 4096`` in [-4096, 4096] (= ``2 sigmoid_q(2a, frac) - 4096``)."""
    return 2 * sigmoid_q(a, frac - 1) - GATE_ONE


def quantize_input(x: np.ndarray, frac: int) -> ty.Tuple[np.ndarray, int]:
    """``sat24(round_half_away(x * 2**frac))`` as int64 (section 5) and the number saturated."""
    scaled = np.ldexp(np.asarray(x, dtype=np.float64), frac)
    q = round_half_away(np.clip(scaled, -INPUT_CLAMP, INPUT_CLAMP)).astype(np.int64)
    return sat24(q)


def weight_exp(scale_exp: int, frac_source: int, frac_dest: int) -> int:
    """Lava Dense ``weight_exp = s - F_src + F_dst - 1`` (the -1 undoes the factor 2 of the Lava weight 2k)."""
    return int(scale_exp) - int(frac_source) + int(frac_dest) - 1
