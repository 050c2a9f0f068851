"""Integer arithmetic and weights of the fixed-point EGRU (snntorch_egru.quantization.primitives, docs/fixed-point.md):
rounding shifts, saturation, the PLAN gates and their error bounds, weight quantisation, Lava's Dense."""

from __future__ import annotations

import math

import pytest
import torch

from egru_format import INT24_MAX, INT24_MIN
from snntorch_egru.quantization import (
    QuantizationError, dense_int, plan_sigmoid, plan_tanh, quantize_weights, rshift_round, sat24, sigmoid_q, tanh_q,
    weight_scale_exponent,
)
from tests.snntorch_egru.quantization.int_reference import py_dense, py_rsr, py_sig

# Documented maximum errors (docs/fixed-point.md, "Approximation error"), any F_a >= 1; reached at
# |x| = 2047/2048 (sigmoid) and 2047/4096 (tanh) when F_a >= 11 (F_a >= 12 for tanh).
SIGMOID_MAX_ERROR = 0.019038
TANH_MAX_ERROR = 0.038075


def test_rshift_round_and_sat24():
    v = torch.tensor([-7, -6, -5, -2, -1, 0, 1, 2, 5, 6, 7])
    assert rshift_round(v, 2).tolist() == [py_rsr(int(a), 2) for a in v]
    assert rshift_round(v, 2).tolist() == [math.floor(a / 4 + 0.5) for a in v.tolist()]   # half up
    assert torch.equal(rshift_round(v, 0), v) and torch.equal(rshift_round(v, -3), v * 8)
    counts = {}
    out = sat24(torch.tensor([INT24_MIN - 1, INT24_MIN, 0, INT24_MAX, INT24_MAX + 5]), counts, "preact")
    assert out.tolist() == [INT24_MIN, INT24_MIN, 0, INT24_MAX, INT24_MAX] and counts == {"preact": 2}


@pytest.mark.parametrize("frac", [0, 1, 3, 7, 12, 16, 20])
def test_sigmoid_q_exhaustive_against_plan(frac):
    step = 1 if frac <= 16 else 5     # exhaustive up to F = 16 (786k values), every 5th at F = 20
    a = torch.arange(-(6 << frac) - 50, (6 << frac) + 50, step, dtype=torch.int64)
    q = sigmoid_q(a, frac)
    assert int(q.min()) >= 0 and int(q.max()) <= 4096
    # the formula, exactly: |4096 * PLAN(a / 2**frac) - sigmoid_q| <= 1/2 (only the slope term is rounded)
    exact = 4096 * plan_sigmoid(a.double() / 2.0**frac)
    assert float((q.double() - exact).abs().max()) <= 0.5
    # symmetric and monotone except at PLAN's own jump at |x| = 2.375 (0.921875 -> 0.91796875)
    assert torch.equal(sigmoid_q(-a, frac), 4096 - q)
    # plain-int transcription on a sample (every 97th value, plus the breakpoints)
    points = a[::97].tolist() + [s * (k << frac) // 8 + d for s in (-1, 1) for k in (8, 19, 40)
                                 for d in (-1, 0, 1)]
    assert sigmoid_q(torch.tensor(points), frac).tolist() == [py_sig(p, frac) for p in points]


@pytest.mark.parametrize("frac", [1, 2, 8, 12, 16])
def test_tanh_q_is_2_sigmoid_2a(frac):
    a = torch.arange(-(4 << frac) - 50, (4 << frac) + 50, dtype=torch.int64)
    t = tanh_q(a, frac)
    assert torch.equal(t, 2 * sigmoid_q(2 * a, frac) - 4096)       # the definition, exactly
    exact = 4096 * plan_tanh(a.double() / 2.0**frac)
    assert float((t.double() - exact).abs().max()) <= 1.0
    assert int(t.min()) >= -4096 and int(t.max()) <= 4096
    with pytest.raises(QuantizationError):
        tanh_q(a, 0)


def test_gate_error_bounds_against_true_functions():
    worst_s = worst_t = 0.0
    for frac in (1, 4, 8, 12, 16, 20):
        step = 1 if frac <= 12 else 1 << (frac - 12)   # exhaustive up to F = 12; beyond, every 2**-12
        a = torch.arange(-(12 << frac), (12 << frac) + 1, step, dtype=torch.int64)
        a = torch.cat([a, torch.tensor([2047 << (frac - 11), -(2047 << (frac - 12))]) if frac >= 12 else a[:0]])
        x = a.double() / 2.0**frac
        worst_s = max(worst_s, float((sigmoid_q(a, frac) / 4096 - torch.sigmoid(x)).abs().max()))
        worst_t = max(worst_t, float((tanh_q(a, frac) / 4096 - torch.tanh(x)).abs().max()))
    assert SIGMOID_MAX_ERROR - 1e-6 < worst_s <= SIGMOID_MAX_ERROR
    assert TANH_MAX_ERROR - 1e-6 < worst_t <= TANH_MAX_ERROR
    # the ideal PLAN functions alone
    x = torch.linspace(-12, 12, 2_400_001, dtype=torch.float64)
    assert abs(float((plan_sigmoid(x) - torch.sigmoid(x)).abs().max()) - 0.018941) < 1e-6
    assert abs(float((plan_tanh(x) - torch.tanh(x)).abs().max()) - 0.037883) < 1e-6


def test_weight_quantisation():
    w = torch.tensor([[0.5, -0.25], [0.125, 0.0]])
    s = weight_scale_exponent(w)
    assert s == math.ceil(math.log2(0.5 / 127)) == -7 and 0.5 <= 127 * 2.0**s
    q = quantize_weights(w)
    assert q.scale_exp == -7 and q.mantissa.tolist() == [[64, -32], [16, 0]]
    assert q.lava_weights.tolist() == [[128, -64], [32, 0]]
    assert weight_scale_exponent(torch.zeros(3, 3)) == 0
    exact = torch.tensor([127.0 * 2**-5, -1.0])          # max exactly 127 * 2**s: s = -5, no clip
    assert weight_scale_exponent(exact) == -5 and quantize_weights(exact).mantissa.tolist() == [127, -32]
    halves = torch.tensor([2.5, -2.5, 1.5, -0.5]) * 2.0**-3   # round half away from zero
    assert quantize_weights(halves, -3).mantissa.tolist() == [3, -3, 2, -1]
    with pytest.raises(QuantizationError, match=r"layer-x\.weight: weight 130 .* mantissa 130"):
        quantize_weights(torch.tensor([130.0, 1.0]), 0, name="layer-x.weight")
    assert quantize_weights(torch.tensor([130.0, -300.0]), 0, clip=True).mantissa.tolist() == [127, -127]


def test_dense_int_is_lava_dense():
    counts = {}
    w = torch.tensor([[2, -4], [254, -254]])
    x = torch.tensor([[3, -5]])
    assert dense_int(x, w, 0).tolist() == [[26, 2032]]
    assert dense_int(x, w, -2).tolist() == [[26 >> 2, 2032 >> 2]]
    assert dense_int(-x, w, -2).tolist() == [[-26 >> 2, -2032 >> 2]]        # floor, not toward zero
    assert dense_int(x, w, 3).tolist() == [[26 * 8, 2032 * 8]]
    big = torch.tensor([[INT24_MAX, INT24_MAX]])
    out = dense_int(big, torch.tensor([[254, 254]]), 7, counts)              # 2**38: wraps at int32
    assert counts["dense"] == 1 and out.tolist()[0] == py_dense([[254, 254]], [INT24_MAX] * 2, 7, {})
