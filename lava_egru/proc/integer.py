"""Loihi-style integer primitives of docs/fixed-point.md in numpy int64 (sections 1, 5, 7).

Shared by the ``fixed_pt`` ProcessModels. Everything is exact int64 arithmetic;
each ``sat24`` returns the number of entries it changed so that a model can add it
to its overflow counters. numpy only: Lava's model discovery executes the model
modules that import this one.

    >>> import numpy as np
    >>> from lava_egru.proc.integer import rshift_round, sigmoid_q, tanh_q
    >>> rshift_round(np.array([-6, -10, 6]), 2).tolist()          # round half up
    [-1, -2, 2]
    >>> sigmoid_q(np.array([40858]), 16).tolist(), tanh_q(np.array([30213]), 16).tolist()
    ([2686], [1888])
"""

from __future__ import annotations

import typing as ty

import numpy as np

INT24_MIN, INT24_MAX = -(1 << 23), (1 << 23) - 1
FRAC_GATE = 12
GATE_ONE = 1 << FRAC_GATE
#: Inputs are clamped to this magnitude (after scaling) before the float -> int64 conversion.
_INPUT_CLAMP = 2.0 ** 40


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
    """PLAN sigmoid of int64 ``a`` (``frac`` fractional bits) as an integer in [0, 4096]."""
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


def round_half_away(values: np.ndarray) -> np.ndarray:
    """``sign(v) * floor(|v| + 1/2)`` in float64."""
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def quantize_input(x: np.ndarray, frac: int) -> ty.Tuple[np.ndarray, int]:
    """``sat24(round_half_away(x * 2**frac))`` as int64 (section 5) and the number saturated."""
    scaled = np.ldexp(np.asarray(x, dtype=np.float64), frac)
    q = round_half_away(np.clip(scaled, -_INPUT_CLAMP, _INPUT_CLAMP)).astype(np.int64)
    return sat24(q)
