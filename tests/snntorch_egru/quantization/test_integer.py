"""A model's parameters as integer layers and the integer EGRU step (snntorch_egru.quantization.integer): the step
against the plain-int transcription of docs/fixed-point.md, conversion errors, the doc's worked example."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from egru_format import EGRUQuantization
from snntorch_egru import EGRU
from snntorch_egru.quantization import (
    QuantizationError, QuantizationSpec, calibrate, egru_step_int, integer_layers, sigmoid_q, tanh_q, to_integer,
    weight_scale_exponent,
)
from tests.snntorch_egru.quantization.int_reference import py_dense, py_step, random_layer, to_layer


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_egru_step_int_matches_plain_int_reference(reset, polarity):
    rng = random.Random(sum(map(ord, reset + polarity)))
    totals = {}
    negative_events = 0
    for case in range(60):
        big = case % 3 == 0
        I, H, B = rng.randint(1, 5), rng.randint(1, 4), 2
        p = random_layer(rng, I, H, big=big, reset=reset, polarity=polarity)
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
        assert torch.equal(e, y != 0)          # |c~| > theta >= 1: a unit fired iff it sends a nonzero y
        negative_events += int((y < 0).sum())
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    # the random cases reach every saturation that can happen, and the signed neuron's negative events
    assert totals["preact"] > 0 and totals["dense"] > 0 and totals["candidate"] > 0
    assert (negative_events > 0) == (polarity == "signed")


def _numpy_step(layer, x, y_prev, c_prev, reset, polarity):
    """egru_format.arithmetic.egru_step_fixed (the Lava fixed-point model's step) on one sample; the two Dense
    outputs come from the oracle's py_dense. Returns (y, c, overflow counts as a dict of the nonzero ones)."""
    import numpy as np

    from egru_format import EGRU_OVERFLOW_KEYS
    from egru_format.arithmetic import egru_step_fixed

    counts = {}
    ax = py_dense(layer.weight_ih.tolist(), x, layer.weight_exp_ih, counts)
    ah = py_dense(layer.weight_hh.tolist(), y_prev, layer.weight_exp_hh, counts)
    gate_x = np.array(ax, np.int64) + layer.bias_ih.numpy()
    gate_h = np.array(ah, np.int64) + layer.bias_hh.numpy()
    y, c = np.array(y_prev, np.int64), np.array(c_prev, np.int64)
    n = egru_step_fixed(gate_x, gate_h, y, c, layer.threshold.numpy(), frac_preact=layer.frac_preact,
                        frac_state=layer.frac_state, reset_mechanism=reset, polarity=polarity)
    counts.update({key: int(v) for key, v in zip(EGRU_OVERFLOW_KEYS, n)})
    return y.tolist(), c.tolist(), {k: v for k, v in counts.items() if v}


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_torch_integer_step_is_the_formats_numpy_step(reset, polarity):
    """egru_step_int (torch) and egru_format.arithmetic.egru_step_fixed (numpy, the Lava model's) agree bit for bit,
    with the overflow counters, on random layers and states, and on candidates c~ placed exactly at +-theta,
    +-(theta +- 1), 0, +-1 and the int24 limits (z = 1, n = 0 make c~ = c_prev)."""
    from egru_format import INT24_MAX, INT24_MIN

    rng = random.Random(sum(map(ord, "numpy" + reset + polarity)))
    edge_hits = {"pos": 0, "neg": 0, "min": 0, "max": 0}
    for case in range(48):
        I, H, B = rng.randint(1, 4), rng.randint(2, 6), 3
        p = random_layer(rng, I, H, big=case % 2 == 0, reset=reset, polarity=polarity)
        forced = case % 3 == 0
        if forced:      # zero weights, a_z = 5 << fa (z = 4096), a_n = 0 (n = 0): c~ = c_prev exactly
            p["w_ih"] = [[0] * I for _ in range(3 * H)]
            p["w_hh"] = [[0] * H for _ in range(3 * H)]
            p["b_ih"] = [0] * H + [5 << p["fa"]] * H + [0] * H
            p["b_hh"] = [0] * (3 * H)
            p["theta"][0] = rng.choice([1, INT24_MAX, p["theta"][0]])
        layer = to_layer(p, I)
        span = 1 << (23 if case % 2 == 0 else 16)
        x = [[rng.randint(-span, span) for _ in range(I)] for _ in range(B)]
        y0 = [[rng.choice([0, rng.randint(INT24_MIN, INT24_MAX)]) for _ in range(H)] for _ in range(B)]
        edges = lambda t: [t, -t, t + 1, -t - 1, t - 1, -t + 1, 0, 1, -1, INT24_MAX, INT24_MIN]  # noqa: E731
        c0 = [[min(max(rng.choice(edges(p["theta"][j])), INT24_MIN), INT24_MAX) if forced or rng.random() < 0.5
               else rng.randint(INT24_MIN, INT24_MAX) for j in range(H)] for _ in range(B)]
        counts = {}
        y, c, e = egru_step_int(torch.tensor(x), torch.tensor(y0), torch.tensor(c0), layer, counts)
        for b in range(B):
            y_np, c_np, counts_np = _numpy_step(layer, x[b], y0[b], c0[b], reset, polarity)
            b_counts = {}
            egru_step_int(torch.tensor([x[b]]), torch.tensor([y0[b]]), torch.tensor([c0[b]]), layer, b_counts)
            assert y[b].tolist() == y_np and c[b].tolist() == c_np, f"case {case}, sample {b}"
            assert {k: v for k, v in b_counts.items() if v} == counts_np, f"case {case}, sample {b}"
            if forced:  # c~ = c_prev: the neuron alone, written out from the equations
                for j, (ct, theta) in enumerate(zip(c0[b], p["theta"])):
                    fired = (ct > theta or ct < -theta) if polarity == "signed" else ct > theta
                    assert y_np[j] == (ct if fired else 0)
                    sign = (ct > 0) - (ct < 0) if polarity == "signed" else 1
                    expected = {"subtract": ct - sign * theta if fired else ct, "zero": 0 if fired else ct,
                                "none": ct}[reset]
                    assert c_np[j] == expected
                    edge_hits["pos"] += ct in (theta, theta + 1)
                    edge_hits["neg"] += ct in (-theta, -theta - 1)
                    edge_hits["min"] += ct == INT24_MIN
                    edge_hits["max"] += ct == INT24_MAX
        assert torch.equal(e, y != 0)
    assert min(edge_hits.values()) > 0, edge_hits


def test_egru_step_int_events_off_is_plain_gru():
    rng = random.Random(3)
    p = random_layer(rng, 3, 4)
    layer = to_layer(p, 3)
    layer = dataclasses.replace(layer, events=False)
    x = torch.tensor([[100, -200, 300]])
    y, c, e = egru_step_int(x, torch.zeros(1, 4, dtype=torch.int64), torch.zeros(1, 4, dtype=torch.int64), layer)
    assert e is None and torch.equal(y, c)


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
