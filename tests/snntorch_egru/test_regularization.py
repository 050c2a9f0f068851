"""The AWD-LSTM-style regularisers (snntorch_egru.regularization): RegularizedLM, DropConnect, locked and word
dropout."""

from __future__ import annotations

import torch

from snntorch_egru.regularization import RegularizedLM, drop_connect, embedding_dropout, locked_dropout
from tests.snntorch_egru._helpers import tied_lm


def test_regularized_forward_without_dropout_equals_model():
    lm = tied_lm()
    tokens = torch.randint(0, 20, (7, 3))
    reference, ref_state = lm.train()(tokens)
    logits, state = RegularizedLM(lm).train()(tokens)
    torch.testing.assert_close(logits, reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(state, ref_state, rtol=0, atol=1e-6)
    assert len(lm.rnn.last_events) == 2


def test_eval_mode_is_the_plain_model_with_raw_weights():
    lm = tied_lm(dropout_embedding=0.5, dropout_between=0.5, dropout_output=0.5)
    reg = RegularizedLM(lm, dropout_words=0.5, dropconnect=0.7).eval()
    tokens = torch.randint(0, 20, (5, 2))
    raw = lm.rnn.weight_hh_l0.detach().clone()
    torch.testing.assert_close(reg(tokens)[0], lm.eval()(tokens)[0], rtol=0, atol=0)
    reg.train()(tokens)
    assert torch.equal(lm.rnn.weight_hh_l0, raw)  # DropConnect never modifies the parameter


def test_dropconnect_gradient_reaches_raw_weights_through_the_mask():
    torch.manual_seed(1)
    weight = torch.randn(30, 10, requires_grad=True)
    dropped = drop_connect(weight, 0.6)
    mask = dropped.detach() != 0
    assert 0.2 < mask.float().mean() < 0.6
    dropped.sum().backward()
    torch.testing.assert_close(weight.grad, mask.float() / 0.4)
    lm = tied_lm()
    reg = RegularizedLM(lm, dropconnect=0.9).train()
    reg(torch.randint(0, 20, (6, 2)))[0].sum().backward()
    grad = lm.rnn.weight_hh_l0.grad
    assert grad is not None and grad.abs().sum() > 0 and (grad == 0).float().mean() > 0.5


def test_locked_dropout_shares_one_mask_over_time_and_word_dropout_drops_rows():
    torch.manual_seed(2)
    out = locked_dropout(torch.ones(8, 4, 5), 0.5)
    assert torch.equal(out, out[:1].expand_as(out))
    assert set(out.unique().tolist()) <= {0.0, 2.0}
    weight = embedding_dropout(torch.ones(50, 3), 0.5)
    rows = weight.abs().sum(1)
    assert set(rows.unique().tolist()) <= {0.0, 6.0} and (rows == 0).any() and (rows > 0).any()
