"""egru.lm.trainer.evaluate: the exact carry and the reference implementation's carry."""

import math

import pytest
import torch

from egru.lm.trainer import EVAL_CARRIES, LMConfig, evaluate, evaluation_segments
from snntorch_egru import EGRULanguageModel, RNNLanguageModel


def _egru_lm():
    torch.manual_seed(0)
    lm = EGRULanguageModel(40, 8, [12, 8], tie_weights=True, threshold=0.05).double()
    return lm


def _stream(n=301):
    return torch.randint(0, 40, (n,), generator=torch.Generator().manual_seed(1))


def _loop(model, tokens, segment, restart_c):
    """The definition, written out: batch 1, segments, (y, c) or y only carried."""
    stream, state, total = tokens.view(-1, 1), None, 0.0
    for start in range(0, len(tokens) - 1, segment):
        inputs = stream[start:min(start + segment, len(tokens) - 1)]
        targets = stream[start + 1:start + 1 + len(inputs)].view(-1)
        if restart_c and state is not None:
            state = (state[0], [torch.zeros_like(c) for c in state[1]])
        logits, state = model(inputs, state)
        total += torch.nn.functional.cross_entropy(logits.view(-1, 40), targets, reduction="sum").item()
    return total / (len(tokens) - 1)


def test_the_exact_carry_does_not_depend_on_the_segment_length():
    lm, tokens = _egru_lm().eval(), _stream()
    whole = _loop(lm, tokens, 10_000, restart_c=False)
    for segment in (1, 7, 70, 256):
        assert evaluate(lm, tokens, segment).loss == pytest.approx(whole, rel=1e-12)


def test_the_reference_carry_restarts_c_in_every_segment_and_carries_y():
    lm, tokens = _egru_lm().eval(), _stream()
    for segment in (5, 70):
        result = evaluate(lm, tokens, segment, carry="reference")
        assert result.loss == pytest.approx(_loop(lm, tokens, segment, restart_c=True), rel=1e-12)
        assert result.perplexity == pytest.approx(math.exp(result.loss))
        assert result.tokens == len(tokens) - 1
        # c matters: restarting it changes the result (this test would pass for a no-op otherwise)
        assert abs(result.loss - evaluate(lm, tokens, segment).loss) > 1e-6


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_baselines_carry_their_whole_state_either_way(cell):
    torch.manual_seed(0)
    lm, tokens = RNNLanguageModel(40, 8, [12, 8], cell=cell, tie_weights=True).double().eval(), _stream()
    assert evaluate(lm, tokens, 70, carry="reference").loss == pytest.approx(evaluate(lm, tokens, 256).loss,
                                                                             rel=1e-12)


def test_bad_carry_or_segment_length_is_named():
    lm, tokens = _egru_lm(), _stream(20)
    with pytest.raises(ValueError, match="carry must be one of"):
        evaluate(lm, tokens, 5, carry="y")
    with pytest.raises(ValueError, match="segment_length must be a positive int"):
        evaluate(lm, tokens, 0)


def test_the_trainer_setting_chooses_the_segments():
    assert EVAL_CARRIES == ("exact", "reference")
    assert evaluation_segments(LMConfig(bptt=70, eval_carry="reference")) == (70, "reference")
    assert evaluation_segments(LMConfig(bptt=70))[1] == "exact"
    with pytest.raises(ValueError, match="eval_carry must be one of"):
        LMConfig(eval_carry="y-only")
