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
from tests.snntorch_egru.quantization.int_reference import py_step, random_layer, to_layer


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


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_torch_integer_step_is_the_formats_numpy_step(reset):
    """egru_step_int (torch) and egru_format.arithmetic.egru_step_fixed (numpy, the Lava model's) agree
    bit for bit on signed events, with states at +-theta, +-(theta + 1) and the int24 limits."""
    import numpy as np

    from egru_format import INT24_MAX, INT24_MIN
    from egru_format.arithmetic import egru_step_fixed

    rng = random.Random(11)
    for case in range(40):
        I, H = rng.randint(1, 4), rng.randint(2, 6)
        p = random_layer(rng, I, H, big=case % 2 == 0, reset=reset, polarity="signed")
        layer = to_layer(p, I)
        theta = layer.threshold
        x = torch.tensor([[rng.randint(-(1 << 20), 1 << 20) for _ in range(I)]])
        y0 = torch.zeros(1, H, dtype=torch.int64)
        edges = torch.stack([theta, -theta, theta + 1, -theta - 1, torch.full_like(theta, INT24_MAX),
                             torch.full_like(theta, INT24_MIN)])
        c0 = edges[torch.randint(0, len(edges), (H,), generator=torch.Generator().manual_seed(case)),
                   torch.arange(H)].unsqueeze(0)
        counts = {}
        y, c, _ = egru_step_int(x, y0, c0, layer, counts)
        ax = [sum(w * v for w, v in zip(row, x[0].tolist())) for row in p["w_ih"]]
        gate_x = np.array([a << p["e_ih"] if p["e_ih"] > 0 else a >> -p["e_ih"] for a in ax], np.int64)
        gate_x = ((gate_x + 2**31) % 2**32) - 2**31 + np.array(p["b_ih"], np.int64)
        y_np, c_np = np.zeros(H, np.int64), c0[0].numpy().copy()
        egru_step_fixed(gate_x, np.array(p["b_hh"], np.int64), y_np, c_np, theta.numpy(), frac_preact=p["fa"],
                        frac_state=p["fc"], reset_mechanism=reset, polarity="signed")
        assert y[0].tolist() == y_np.tolist() and c[0].tolist() == c_np.tolist(), f"case {case}"


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
