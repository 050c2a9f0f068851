"""Whole models in integers (snntorch_egru.quantization.models, ``to_integer``): equal to the integer step rolled
out, shapes, the language model's logits, the overflow counters."""

from __future__ import annotations

import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.quantization import DenseQuantization, calibrate, egru_step_int, integer_layers, to_integer


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
