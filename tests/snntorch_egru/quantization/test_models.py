"""Whole models in integers (snntorch_egru.quantization.models, ``to_integer``): equal to the integer step rolled
out, shapes, the language model's logits, the overflow counters; equal to the plain-Python-int oracle for the
positive and the signed-event neuron with every reset."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.quantization import (
    DenseQuantization,
    IntegerEGRULayer,
    calibrate,
    egru_step_int,
    integer_layers,
    to_integer,
)
from tests.snntorch_egru.quantization.int_reference import py_model


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


# --- against the plain-Python-int oracle (int_reference.py), both neurons, every reset ---------------------------

def _assert_equals_oracle(result, ref, egru_names):
    assert result.output_int.tolist() == ref.output
    assert [y.tolist() for y in result.state[0]] == ref.state[0]
    assert [c.tolist() for c in result.state[1]] == ref.state[1]
    counters = {name: {k: v for k, v in box.items() if v} for name, box in result.overflow.items()}
    assert {name: box for name, box in counters.items() if box} == ref.counts
    for name, events in zip(egru_names, result.events):   # fired <=> a nonzero message (theta >= 1)
        assert events.tolist() == [[[v != 0 for v in sample] for sample in row] for row in ref.messages[name]]


def _signs(ref, name):
    values = [v for row in ref.messages[name] for sample in row for v in sample]
    return sum(v < 0 for v in values), sum(v > 0 for v in values)


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_integer_egru_equals_the_int_oracle(reset, polarity):
    torch.manual_seed(21)
    rnn = EGRU(3, [6, 4], threshold=0.05, reset_mechanism=reset, polarity=polarity)
    x = torch.randn(12, 2, 3)
    q = calibrate(rnn, x)
    model = to_integer(rnn, q)
    assert [(layer.polarity, layer.reset_mechanism) for layer in model.layers] == [(polarity, reset)] * 2
    names = ["l0", "l1"]
    # two segments with the state carried (negative states cross the boundary for the signed neuron)
    first, ref_first = model(x[:6]), py_model(rnn, q, x[:6])
    _assert_equals_oracle(first, ref_first, names)
    second, ref_second = model(x[6:], first.state), py_model(rnn, q, x[6:], ref_first.state)
    _assert_equals_oracle(second, ref_second, names)
    # inputs far outside the calibrated range: the saturations are counted alike
    loud, ref_loud = model(x * 200), py_model(rnn, q, x * 200)
    _assert_equals_oracle(loud, ref_loud, names)
    assert ref_loud.counts["input"]["input"] > 0
    for ref in (ref_first, ref_second, ref_loud):
        for name in names:
            negative, positive = _signs(ref, name)
            assert positive > 0 and (negative > 0) == (polarity == "signed"), (name, negative, positive)


@pytest.mark.parametrize("polarity", ["positive", "signed"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_integer_lm_equals_the_int_oracle(reset, polarity):
    torch.manual_seed(22)
    lm = EGRULanguageModel(11, 5, [6, 5], tie_weights=True, threshold=0.05, reset_mechanism=reset,
                           polarity=polarity)
    tokens = torch.randint(0, 11, (14, 2))
    q = calibrate(lm, tokens)
    model = to_integer(lm, q)
    assert [layer.polarity for layer in model.layers if isinstance(layer, IntegerEGRULayer)] == [polarity] * 2
    names = ["rnn.l0", "rnn.l1"]
    first, ref_first = model(tokens[:7]), py_model(lm, q, tokens[:7])
    _assert_equals_oracle(first, ref_first, names)
    second, ref_second = model(tokens[7:], first.state), py_model(lm, q, tokens[7:], ref_first.state)
    _assert_equals_oracle(second, ref_second, names)
    for name in names:
        negative = _signs(ref_first, name)[0] + _signs(ref_second, name)[0]
        assert (negative > 0) == (polarity == "signed"), (name, negative)


def test_the_polarity_is_carried_and_checked():
    """A signed model's integer layers are signed (not the dataclass default), and a layer refuses a neuron it does
    not know instead of running the positive one."""
    torch.manual_seed(23)
    rnn = EGRU(2, [3, 3], threshold=0.05, polarity="signed")
    layers = integer_layers(rnn, calibrate(rnn, torch.randn(6, 2, 2)))
    assert [layer.polarity for layer in layers] == ["signed", "signed"]
    for field, value in (("polarity", "Signed"), ("polarity", "negative"), ("reset_mechanism", "substract")):
        with pytest.raises(ValueError, match=field):
            dataclasses.replace(layers[0], **{field: value})


def test_a_readout_of_the_dense_state_is_refused():
    """A diagnostic LM whose readout reads c~ is not run as a readout of the events in integers."""
    lm = EGRULanguageModel(11, 5, [6, 5], tie_weights=True, threshold=0.05, readout_input="candidates")
    with pytest.raises(NotImplementedError, match="readout_input='candidates'"):
        calibrate(lm, torch.randint(0, 11, (10, 2)))
