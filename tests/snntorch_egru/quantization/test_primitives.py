"""The fixed-point EGRU (docs/fixed-point.md): integer primitives, the step, integer models, QAT, calibration.

The integer step is checked against a plain-Python-int transcription of the doc's
formulas (``py_*`` below), written independently of snntorch_egru.quantization.
"""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
import torch

from egru_format import FRAC_GATE, INT24_MAX, INT24_MIN, EGRUQuantization
from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.quantization import (
    DenseQuantization, IntegerEGRULayer, QuantizationError, QuantizationSpec, calibrate, dense_int, egru_step_int, fake_sigmoid_q, fake_tanh_q, integer_layers,
    plan_sigmoid, plan_tanh, quantization_aware, quantize_weights, rshift_round, sat24, sigmoid_q, tanh_q,
    to_integer, weight_scale_exponent,
)

# Documented maximum errors (docs/fixed-point.md, "Approximation error"), any F_a >= 1; reached at
# |x| = 2047/2048 (sigmoid) and 2047/4096 (tanh) when F_a >= 11 (F_a >= 12 for tanh).
SIGMOID_MAX_ERROR = 0.019038
TANH_MAX_ERROR = 0.038075


# --------------------------------------------------------------------------- plain-int reference of the doc


def py_sat(v, counts, key):
    if v < INT24_MIN or v > INT24_MAX:
        counts[key] = counts.get(key, 0) + 1
        return min(max(v, INT24_MIN), INT24_MAX)
    return v


def py_rsr(v, s):
    if s > 0:
        return (v + (1 << (s - 1))) >> s
    return v if s == 0 else v << -s


def py_sig(a, frac):
    m = abs(a)
    if m >= 5 << frac:
        f = 4096
    elif 8 * m >= 19 << frac:
        f = py_rsr(m, frac + 5 - 12) + 3456
    elif m >= 1 << frac:
        f = py_rsr(m, frac + 3 - 12) + 2560
    else:
        f = py_rsr(m, frac + 2 - 12) + 2048
    return f if a >= 0 else 4096 - f


def py_tanh(a, frac):
    return 2 * py_sig(2 * a, frac) - 4096          # the definition, with 2a formed in a Python int


def py_dense(weight, x, exp, counts):
    out = []
    for row in weight:
        acc = sum(w * v for w, v in zip(row, x))
        acc = acc << exp if exp > 0 else acc >> -exp
        wrapped = ((acc + 2**31) % 2**32) - 2**31
        if wrapped != acc:
            counts["dense"] = counts.get("dense", 0) + 1
        out.append(wrapped)
    return out


def py_step(x, y_prev, c_prev, p, counts):
    """One unit-by-unit EGRU step, as docs/fixed-point.md writes it."""
    H, fa, fc, fg = p["H"], p["fa"], p["fc"], 12
    ax = py_dense(p["w_ih"], x, p["e_ih"], counts)
    ah = py_dense(p["w_hh"], y_prev, p["e_hh"], counts)
    bx, bh = p["b_ih"], p["b_hh"]
    y, c = [], []
    for j in range(H):
        a_r = py_sat(ax[j] + bx[j] + ah[j] + bh[j], counts, "preact")
        a_z = py_sat(ax[H + j] + bx[H + j] + ah[H + j] + bh[H + j], counts, "preact")
        r, z = py_sig(a_r, fa), py_sig(a_z, fa)
        hn = py_sat(ah[2 * H + j] + bh[2 * H + j], counts, "preact")
        a_n = py_sat(ax[2 * H + j] + bx[2 * H + j] + py_rsr(r * hn, fg), counts, "preact")
        n = py_tanh(a_n, fa)
        nc = n << (fc - fg) if fc >= fg else py_rsr(n, fg - fc)
        ct = py_sat(nc + py_rsr(z * (c_prev[j] - nc), fg), counts, "candidate")
        theta = p["theta"][j]
        e = ct > theta
        y.append(ct if e else 0)
        if p["reset"] == "subtract":
            c.append(py_sat(ct - theta * e, counts, "state"))
        elif p["reset"] == "zero":
            c.append(0 if e else ct)
        else:
            c.append(ct)
    return y, c


def random_layer(rng: random.Random, I, H, *, big=False, reset="subtract"):
    fa, fc = rng.randint(1, 18), rng.randint(0, 18)
    hi = 7 if big else 2
    return {
        "H": H, "fa": fa, "fc": fc, "reset": reset,
        "w_ih": [[2 * rng.randint(-127, 127) for _ in range(I)] for _ in range(3 * H)],
        "w_hh": [[2 * rng.randint(-127, 127) for _ in range(H)] for _ in range(3 * H)],
        "e_ih": rng.randint(-8, hi), "e_hh": rng.randint(-8, hi),
        "b_ih": [rng.randint(-(1 << 20), 1 << 20) for _ in range(3 * H)],
        "b_hh": [rng.randint(-(1 << 20), 1 << 20) for _ in range(3 * H)],
        "theta": [rng.randint(1, 1 << max(fc, 1)) for _ in range(H)],
    }


def to_layer(p, I) -> IntegerEGRULayer:
    t = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return IntegerEGRULayer("test", t(p["w_ih"]).reshape(3 * p["H"], I), t(p["w_hh"]), p["e_ih"], p["e_hh"],
                            t(p["b_ih"]), t(p["b_hh"]), t(p["theta"]), 0, p["fa"], p["fc"],
                            reset_mechanism=p["reset"])


# --------------------------------------------------------------------------- primitives


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


def test_fake_gates_equal_integer_gates():
    for frac in (1, 6, 12, 16):
        a = torch.arange(-(6 << frac), (6 << frac) + 1, max(1, (1 << frac) >> 8), dtype=torch.int64)
        x = a.double() / 2.0**frac
        assert torch.equal(fake_sigmoid_q(x) * 4096, sigmoid_q(a, frac).double())
        assert torch.equal(fake_tanh_q(x) * 4096, tanh_q(a, frac).double())
        assert torch.equal(fake_sigmoid_q(x.float()) * 4096, sigmoid_q(a, frac).float())  # exact in float32 too


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


# --------------------------------------------------------------------------- the step


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_egru_step_int_matches_plain_int_reference(reset):
    rng = random.Random(hash(reset) & 0xFFFF)
    totals = {}
    for case in range(60):
        big = case % 3 == 0
        I, H, B = rng.randint(1, 5), rng.randint(1, 4), 2
        p = random_layer(rng, I, H, big=big, reset=reset)
        span = 1 << (23 if big else 16)
        x = [[rng.randint(-span, span) for _ in range(I)] for _ in range(B)]
        y0 = [[rng.choice([0, rng.randint(-span, span)]) for _ in range(H)] for _ in range(B)]
        c0 = [[rng.randint(-span, span) + (rng.choice([0, 1 << 24]) if big else 0) for _ in range(H)]
              for _ in range(B)]
        layer = to_layer(p, I)
        counts = {}
        y, c, e = egru_step_int(torch.tensor(x), torch.tensor(y0), torch.tensor(c0), layer, counts)
        ref_counts = {}
        for b in range(B):
            ry, rc = py_step(x[b], y0[b], c0[b], p, ref_counts)
            assert y[b].tolist() == ry and c[b].tolist() == rc, f"case {case}, sample {b}"
        assert {k: v for k, v in counts.items() if v} == ref_counts
        assert torch.equal(e, y != 0)          # c~ > theta >= 1: a unit fired iff it sends a nonzero y
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    # the random cases reach every saturation that can happen
    assert totals["preact"] > 0 and totals["dense"] > 0 and totals["candidate"] > 0


def test_egru_step_int_events_off_is_plain_gru():
    rng = random.Random(3)
    p = random_layer(rng, 3, 4)
    layer = to_layer(p, 3)
    layer = dataclasses.replace(layer, events=False)
    x = torch.tensor([[100, -200, 300]])
    y, c, e = egru_step_int(x, torch.zeros(1, 4, dtype=torch.int64), torch.zeros(1, 4, dtype=torch.int64), layer)
    assert e is None and torch.equal(y, c)


# --------------------------------------------------------------------------- integer models


def test_integer_egru_equals_step_rollout():
    torch.manual_seed(1)
    rnn = EGRU(3, [6, 5], threshold=0.05)
    x = torch.randn(15, 2, 3)
    q = calibrate(rnn, x)
    model = to_integer(rnn, q)
    result = model(x)
    layers = integer_layers(rnn, q)
    msg = model.quantize_input(x)
    for layer in layers:
        y = torch.zeros(2, layer.hidden_size, dtype=torch.int64)
        c = y.clone()
        ys = []
        for t in range(x.shape[0]):
            y, c, _ = egru_step_int(msg[t], y, c, layer)
            ys.append(y)
        msg = torch.stack(ys)
    assert torch.equal(result.output_int, msg)
    assert torch.equal(result.output, (msg.double() / 2.0**q.layers[-1].frac_state).float())
    # state carries: two halves == the whole
    first = model(x[:7])
    second = model(x[7:], first.state)
    assert torch.equal(torch.cat([first.output_int, second.output_int]), result.output_int)
    assert result.overflow_total == 0 and 0 < sum(e.float().mean().item() for e in result.events) < 2


def test_integer_model_shapes_batch_first_and_unbatched():
    torch.manual_seed(2)
    rnn = EGRU(2, 4, batch_first=True)
    x = torch.randn(3, 9, 2)     # [B, T, I]
    q = calibrate(rnn, x)
    model = to_integer(rnn, q)
    out = model(x)
    assert out.output_int.shape == (3, 9, 4)
    single = model(x[1])         # unbatched [T, I]
    assert torch.equal(single.output_int, out.output_int[1])


def test_integer_lm_logits_and_counters():
    torch.manual_seed(3)
    lm = EGRULanguageModel(12, 6, [8, 6], tie_weights=True, threshold=0.05)
    tokens = torch.randint(0, 12, (20, 3))
    q = calibrate(lm, tokens)
    assert q.frac_input == 0 and len(q.layers) == 4
    assert isinstance(q.layers[0], DenseQuantization) and isinstance(q.layers[-1], DenseQuantization)
    result = to_integer(lm, q)(tokens)
    assert result.output_int.shape == (20, 3, 12) and result.frac == q.layers[-1].frac_state
    assert set(result.overflow) == {"embedding", "rnn.l0", "rnn.l1", "readout"} and result.overflow_total == 0
    with torch.no_grad():
        float_logits, _ = lm(tokens)
    assert float((result.output - float_logits).abs().max()) < 0.5   # same ballpark as the float model


def test_overflow_counters_fire_in_the_model():
    torch.manual_seed(4)
    rnn = EGRU(2, 4, threshold=0.05)
    x = torch.randn(10, 2, 2)
    q = calibrate(rnn, x)
    model = to_integer(rnn, q)
    huge = x * 1e4          # far outside the calibrated input range
    result = model(huge)
    assert result.overflow["input"]["input"] > 0 and result.overflow["l0"]["preact"] > 0


# --------------------------------------------------------------------------- QAT


def test_qat_float64_forward_equals_integer_mode_exactly():
    torch.manual_seed(5)
    rnn = EGRU(3, [7, 5], threshold=0.05, reset_mechanism="subtract")
    x = torch.randn(25, 4, 3)
    q = calibrate(rnn, x)
    qat = quantization_aware(rnn, q)
    y, state = qat(x)
    result = to_integer(rnn, q)(x)
    assert torch.equal(y, result.output_int.double() / 2.0**result.frac)
    for y_f, c_f, y_i, c_i, layer in zip(*state, *result.state, q.layers):
        scale = 2.0**layer.frac_state
        assert torch.equal(y_f * scale, y_i.double()) and torch.equal(c_f * scale, c_i.double())
    # the language model too, over two segments with the state carried
    lm = EGRULanguageModel(11, 5, [6, 5], tie_weights=True, threshold=0.05)
    tokens = torch.randint(0, 11, (16, 2))
    q_lm = calibrate(lm, tokens)
    qat_lm, int_lm = quantization_aware(lm, q_lm).eval(), to_integer(lm, q_lm)
    logits_a, s_a = qat_lm(tokens[:8])
    logits_b, _ = qat_lm(tokens[8:], s_a)
    r_a = int_lm(tokens[:8])
    r_b = int_lm(tokens[8:], r_a.state)
    scale = 2.0**r_a.frac
    assert torch.equal(torch.cat([logits_a, logits_b]) * scale, torch.cat([r_a.output_int, r_b.output_int]).double())


@pytest.mark.parametrize("reset", ["zero", "none"])
def test_qat_exact_for_other_resets_and_no_bias(reset):
    torch.manual_seed(6)
    rnn = EGRU(2, 5, bias=False, threshold=0.04, reset_mechanism=reset)
    x = torch.randn(12, 3, 2)
    q = calibrate(rnn, x)
    y, _ = quantization_aware(rnn, q)(x)
    assert torch.equal(y, to_integer(rnn, q)(x).output_int.double() / 2.0**q.output_frac)


def test_qat_float32_close_to_integer_mode():
    """Stated bound (docs/fixed-point.md): float32 QAT is within 1e-3 of the integer mode on >= 99% of outputs."""
    torch.manual_seed(7)
    rnn = EGRU(3, 16, threshold=0.05)
    x = torch.randn(30, 8, 3)
    q = calibrate(rnn, x)
    y32, _ = quantization_aware(rnn, q, dtype=torch.float32)(x)
    ref = to_integer(rnn, q)(x).output.double()
    close = ((y32.double() - ref).abs() <= 1e-3).float().mean().item()
    assert close >= 0.99


def test_qat_trains_and_projects():
    torch.manual_seed(8)
    rnn = EGRU(2, 6, threshold=0.05)
    x = torch.randn(10, 4, 2)
    q = calibrate(rnn, x)
    qat = quantization_aware(rnn, q)
    assert [p for p in qat.parameters()] == [p for p in rnn.parameters()]
    y, _ = qat(x)
    loss = y.pow(2).sum() + qat.activity().pooled
    loss.backward()
    assert rnn.weight_ih_l0.grad is not None and rnn.weight_ih_l0.grad.abs().sum() > 0
    assert rnn.threshold_l0.grad is not None
    with torch.no_grad():
        rnn.weight_hh_l0[0, 0] = 100.0           # far outside the mantissa range at scale_exp_hh
        rnn.threshold_l0[0] = 1e-9
    with pytest.raises(QuantizationError, match="l0"):
        to_integer(rnn, q)
    qat.project_()
    to_integer(rnn, q)                            # representable again


# --------------------------------------------------------------------------- calibration


def test_calibration_rule():
    torch.manual_seed(9)
    lm = EGRULanguageModel(20, 8, [10, 8], tie_weights=True, threshold=0.05)
    tokens = torch.randint(0, 20, (30, 4))
    q = calibrate(lm, tokens)
    for exps in q.weight_exps():
        assert all(-8 <= e <= 7 for e in exps.values())
    for layer in q.layers:
        assert layer.frac_state <= 16
    # the biggest embedding weight stays below 2**22 in the embedding's format
    emb = q.layers[0]
    assert float(lm.embedding.weight.detach().abs().max()) * 2**emb.frac_state < 2**22
    # the readout's tied weight has the embedding's scale
    assert q.layers[-1].scale_exp == emb.scale_exp
    # max_frac caps every format
    small = calibrate(lm, tokens, max_frac=10)
    assert all(layer.frac_state <= 10 for layer in small.layers)


def test_calibration_lowers_formats_for_weight_exp():
    torch.manual_seed(10)
    rnn = EGRU(2, 4, threshold=0.05)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(1e-2)          # tiny recurrent weights: s_hh very negative
    q = calibrate(rnn, torch.randn(8, 2, 2))
    layer = q.layers[0]
    assert layer.weight_exp_hh == -8 and layer.frac_preact - layer.frac_state >= 2


def test_calibration_errors_name_layer_and_value():
    torch.manual_seed(11)
    rnn = EGRU(2, [4, 3], threshold=0.05, min_threshold=1e-12)
    with torch.no_grad():
        rnn.threshold_l1[2] = 1e-9
    with pytest.raises(QuantizationError, match=r"l1\.frac_state.*threshold 1e-09"):
        calibrate(rnn, torch.randn(8, 2, 2))
    rnn2 = EGRU(2, 4, threshold=0.05)
    with torch.no_grad():
        rnn2.weight_hh_l0.mul_(1e-5)         # weight_exp would need F_a - F_c >= 20
    with pytest.raises(QuantizationError, match=r"l0\.frac_state.*l0\.weight_hh: weight_exp"):
        calibrate(rnn2, torch.randn(8, 2, 2))
    rnn3 = EGRU(2, 4, threshold=0.05)
    with torch.no_grad():
        rnn3.bias_ih_l0[1] = 1e7
    with pytest.raises(QuantizationError, match=r"l0: max \|pre-activation\| = 1e\+07"):
        calibrate(rnn3, torch.randn(8, 2, 2))


def test_conversion_errors_name_layer_and_value():
    torch.manual_seed(12)
    rnn = EGRU(2, [4, 3], threshold=0.05, min_threshold=1e-12)
    x = torch.randn(8, 2, 2)
    q = calibrate(rnn, x)
    saved = rnn.weight_ih_l1.detach().clone()
    with torch.no_grad():
        rnn.weight_ih_l1[2, 1] = 200 * 2.0**q.layers[1].scale_exp_ih
    with pytest.raises(QuantizationError, match=r"l1\.weight_ih: weight .* mantissa 200"):
        to_integer(rnn, q)
    with torch.no_grad():
        rnn.weight_ih_l1.copy_(saved)
    with torch.no_grad():
        rnn.threshold_l0[1] = 2.0**-(q.layers[0].frac_state + 2)
    with pytest.raises(QuantizationError, match=r"l0\.threshold\[1\] = .* quantises to 0"):
        to_integer(rnn, q)
    far = QuantizationSpec(q.frac_input, (EGRUQuantization(16, 0, q.layers[0].scale_exp_ih, -30), q.layers[1]))
    with pytest.raises(QuantizationError, match=r"l0\.weight_hh: weight_exp = -15 is outside"):
        integer_layers(rnn, far)
    with pytest.raises(QuantizationError, match="frac_gate must be 12"):
        EGRUQuantization(16, 14, 0, 0, frac_gate=11)
    with pytest.raises(QuantizationError, match=r"the spec has 1 layers but the model has 2"):
        to_integer(rnn, QuantizationSpec(0, (q.layers[0],)))


def test_frac_gate_constant():
    assert FRAC_GATE == 12


def test_worked_example_of_the_doc():
    """docs/fixed-point.md, section 13, number for number."""
    rnn = EGRU(1, 1, threshold=0.3)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor([[0.5], [-0.25], [0.9]]))
        rnn.weight_hh_l0.copy_(torch.tensor([[0.3], [0.2], [-0.6]]))
        rnn.bias_ih_l0.copy_(torch.tensor([0.1, -0.2, 0.05]))
        rnn.bias_hh_l0.copy_(torch.tensor([0.0, 0.3, -0.1]))
    assert (weight_scale_exponent(rnn.weight_ih_l0), weight_scale_exponent(rnn.weight_hh_l0)) == (-7, -7)
    q = QuantizationSpec(14, (EGRUQuantization(16, 14, -7, -7),))
    (layer,) = integer_layers(rnn, q)
    assert layer.weight_ih.flatten().tolist() == [128, -64, 230] and layer.weight_hh.flatten().tolist() == [76, 52, -154]
    assert (layer.weight_exp_ih, layer.weight_exp_hh) == (-6, -6)
    assert layer.bias_ih.tolist() == [6554, -13107, 3277] and layer.bias_hh.tolist() == [0, 19661, -6554]
    assert layer.threshold.tolist() == [4915]
    model = to_integer(rnn, q)
    x_int = model.quantize_input(torch.tensor([[[0.75]]]))
    assert x_int.item() == 12288
    result = model(torch.tensor([[[0.75]]]), ((torch.tensor([[8192]]),), (torch.tensor([[3277]]),)))
    assert result.output_int.item() == 5400 and result.state[1][0].item() == 485
    counts = {}
    y, c, e = egru_step_int(x_int[0], torch.tensor([[8192]]), torch.tensor([[3277]]), layer, counts)
    assert (y.item(), c.item(), bool(e.item())) == (5400, 485, True)
    assert sigmoid_q(torch.tensor(40858), 16).item() == 2686 and sigmoid_q(torch.tensor(922), 16).item() == 2062
    assert tanh_q(torch.tensor(30213), 16).item() == 1888


@pytest.mark.parametrize("name", ["LayerQuantization", "FRAC_GATE", "INT24_MAX", "OVERFLOW_KEYS"])
def test_former_re_exports_are_deprecated(name):
    import egru_format
    from snntorch_egru import quantization
    from snntorch_egru.quantization import formats

    hub_name = "EGRUQuantization" if name == "LayerQuantization" else name
    for module in (quantization, formats):
        with pytest.warns(DeprecationWarning, match=f"egru_format.{hub_name}"):
            assert getattr(module, name) is getattr(egru_format, hub_name)
    with pytest.raises(AttributeError):
        quantization.NOT_A_NAME
