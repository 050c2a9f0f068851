"""Quantisation-aware training (snntorch_egru.quantization.qat): the fake-quantised gates, the forward pass equal
to the integer mode (float64) or close to it (float32), training and projection; for the positive and the
signed-event neuron."""

from __future__ import annotations

import pytest
import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.quantization import (
    QuantizationError, calibrate, fake_sigmoid_q, fake_tanh_q, quantization_aware, sigmoid_q, tanh_q, to_integer,
)


def test_fake_gates_equal_integer_gates():
    for frac in (1, 6, 12, 16):
        a = torch.arange(-(6 << frac), (6 << frac) + 1, max(1, (1 << frac) >> 8), dtype=torch.int64)
        x = a.double() / 2.0**frac
        assert torch.equal(fake_sigmoid_q(x) * 4096, sigmoid_q(a, frac).double())
        assert torch.equal(fake_tanh_q(x) * 4096, tanh_q(a, frac).double())
        assert torch.equal(fake_sigmoid_q(x.float()) * 4096, sigmoid_q(a, frac).float())  # exact in float32 too


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_qat_float64_forward_equals_integer_mode_exactly(polarity):
    torch.manual_seed(5)
    rnn = EGRU(3, [7, 5], threshold=0.05, reset_mechanism="subtract", polarity=polarity)
    x = torch.randn(25, 4, 3)
    q = calibrate(rnn, x)
    qat = quantization_aware(rnn, q)
    y, state = qat(x)
    result = to_integer(rnn, q)(x)
    assert torch.equal(y, result.output_int.double() / 2.0**result.frac)
    assert bool((y < 0).any()) == (polarity == "signed")         # the signed neuron's negative events
    for y_f, c_f, y_i, c_i, layer in zip(*state, *result.state, q.layers):
        scale = 2.0**layer.frac_state
        assert torch.equal(y_f * scale, y_i.double()) and torch.equal(c_f * scale, c_i.double())
    # the language model too, over two segments with the state carried
    lm = EGRULanguageModel(11, 5, [6, 5], tie_weights=True, threshold=0.05, polarity=polarity)
    tokens = torch.randint(0, 11, (16, 2))
    q_lm = calibrate(lm, tokens)
    qat_lm, int_lm = quantization_aware(lm, q_lm).eval(), to_integer(lm, q_lm)
    logits_a, s_a = qat_lm(tokens[:8])
    logits_b, _ = qat_lm(tokens[8:], s_a)
    r_a = int_lm(tokens[:8])
    r_b = int_lm(tokens[8:], r_a.state)
    scale = 2.0**r_a.frac
    assert torch.equal(torch.cat([logits_a, logits_b]) * scale, torch.cat([r_a.output_int, r_b.output_int]).double())
    # the carried states too, negative ones included for the signed neuron
    negative = 0
    for (ys_f, cs_f), r in ((s_a, r_a), (qat_lm(tokens[8:], s_a)[1], r_b)):
        for y_f, c_f, y_i, c_i, layer in zip(ys_f, cs_f, *r.state, q_lm.layers[1:-1]):
            scale = 2.0**layer.frac_state
            assert torch.equal(y_f * scale, y_i.double()) and torch.equal(c_f * scale, c_i.double())
            negative += int((y_i < 0).sum())
    assert (negative > 0) == (polarity == "signed")


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("reset", ["zero", "none"])
def test_qat_exact_for_other_resets_and_no_bias(reset, polarity):
    torch.manual_seed(6)
    rnn = EGRU(2, 5, bias=False, threshold=0.04, reset_mechanism=reset, polarity=polarity)
    x = torch.randn(12, 3, 2)
    q = calibrate(rnn, x)
    y, _ = quantization_aware(rnn, q)(x)
    assert torch.equal(y, to_integer(rnn, q)(x).output_int.double() / 2.0**q.output_frac)
    assert bool((y < 0).any()) == (polarity == "signed")


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_qat_float32_close_to_integer_mode(polarity):
    """Stated bound (docs/fixed-point.md): float32 QAT is within 1e-3 of the integer mode on >= 99% of outputs."""
    torch.manual_seed(7)
    rnn = EGRU(3, 16, threshold=0.05, polarity=polarity)
    x = torch.randn(30, 8, 3)
    q = calibrate(rnn, x)
    y32, _ = quantization_aware(rnn, q, dtype=torch.float32)(x)
    ref = to_integer(rnn, q)(x).output.double()
    close = ((y32.double() - ref).abs() <= 1e-3).float().mean().item()
    assert close >= 0.99


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_qat_trains_and_projects(polarity):
    torch.manual_seed(8)
    rnn = EGRU(2, 6, threshold=0.05, polarity=polarity)
    x = torch.randn(10, 4, 2)
    q = calibrate(rnn, x)
    qat = quantization_aware(rnn, q)
    assert [p for p in qat.parameters()] == [p for p in rnn.parameters()]
    y, _ = qat(x)
    assert bool((y < 0).any()) == (polarity == "signed")
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
