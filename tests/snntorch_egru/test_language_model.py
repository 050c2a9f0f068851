"""EGRULanguageModel: shapes, tied weights, dropout placement, bad tokens, a tiny learning check."""

from __future__ import annotations

import doctest

import pytest
import torch

import snntorch_egru
from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru import language_model as language_model_module


@pytest.fixture
def lm():
    return EGRULanguageModel(vocab_size=20, embedding_size=6, hidden_sizes=[8, 5])


def test_exported_from_package():
    assert snntorch_egru.EGRULanguageModel is EGRULanguageModel
    assert "EGRULanguageModel" in snntorch_egru.__all__


def test_shapes_and_state(lm):
    tokens = torch.randint(0, 20, (9, 3))
    logits, (y_n, c_n) = lm(tokens)
    assert logits.shape == (9, 3, 20)
    assert [t.shape for t in y_n] == [(3, 8), (3, 5)] and [t.shape for t in c_n] == [(3, 8), (3, 5)]
    logits2, _ = lm(tokens, (y_n, c_n))
    assert logits2.shape == (9, 3, 20)
    assert not torch.equal(logits2, logits)  # the carried state matters


def test_modules_and_sizes(lm):
    assert isinstance(lm.embedding, torch.nn.Embedding) and lm.embedding.weight.shape == (20, 6)
    assert isinstance(lm.rnn, EGRU) and lm.rnn.input_size == 6 and lm.hidden_sizes == [8, 5]
    assert isinstance(lm.readout, torch.nn.Linear) and lm.readout.weight.shape == (20, 5)
    assert lm.readout.bias is not None and torch.equal(lm.readout.bias, torch.zeros(20))


def test_single_int_hidden_size():
    lm = EGRULanguageModel(10, 4, 7)
    assert lm.hidden_sizes == [7]


def test_equivalent_to_manual_composition(lm):
    lm.eval()
    tokens = torch.randint(0, 20, (5, 2))
    y, _ = lm.rnn(lm.embedding(tokens))
    assert torch.equal(lm(tokens)[0], lm.readout(y))


def test_tied_weights_share_storage():
    lm = EGRULanguageModel(15, 6, [9, 6], tie_weights=True)
    assert lm.readout.weight is lm.embedding.weight
    assert lm.readout.weight.data_ptr() == lm.embedding.weight.data_ptr()
    assert sum(p.numel() for p in lm.parameters()) == (
        15 * 6 + sum(p.numel() for p in lm.rnn.parameters()) + 15
    )
    logits, _ = lm(torch.randint(0, 15, (4, 2)))
    logits.sum().backward()
    assert lm.embedding.weight.grad is not None
    with torch.no_grad():
        lm.embedding.weight[0, 0] = 3.0
    assert lm.readout.weight[0, 0] == 3.0


def test_tie_weights_needs_matching_sizes():
    with pytest.raises(ValueError, match=r"tie_weights=True needs .*embedding_size=6.*hidden_sizes\[-1\]=5"):
        EGRULanguageModel(20, 6, [8, 5], tie_weights=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_non_integer_tokens(lm, dtype):
    with pytest.raises(TypeError, match="token ids"):
        lm(torch.zeros(4, 2, dtype=dtype))


def test_int32_tokens_accepted(lm):
    tokens = torch.randint(0, 20, (4, 2))
    lm.eval()
    assert torch.equal(lm(tokens.int())[0], lm(tokens)[0])


@pytest.mark.parametrize(("bad", "shown"), [(20, "20"), (-1, "-1"), (1000, "1000")])
def test_token_out_of_range(lm, bad, shown):
    tokens = torch.randint(0, 20, (4, 2))
    tokens[2, 1] = bad
    with pytest.raises(ValueError, match=rf"token id {shown} out of range \[0, 20\)"):
        lm(tokens)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_token_rank(lm, shape):
    with pytest.raises(ValueError, match=r"\[T, B\]"):
        lm(torch.zeros(shape, dtype=torch.long))


def test_not_a_tensor(lm):
    with pytest.raises(TypeError, match="torch.Tensor"):
        lm([[1, 2]])


def test_empty_sequence(lm):
    with pytest.raises(ValueError, match="no time steps"):
        lm(torch.zeros(0, 2, dtype=torch.long))


@pytest.mark.parametrize("kwargs", [
    {"hidden_sizes": []}, {"hidden_sizes": [4, 0]}, {"vocab_size": 0}, {"embedding_size": -1},
    {"dropout_embedding": 1.0}, {"dropout_output": -0.1}, {"dropout_between": 1.0},
    {"reset_mechanism": "soft"},
])
def test_bad_constructor_arguments(kwargs):
    args = {"vocab_size": 10, "embedding_size": 4, "hidden_sizes": [4]}
    args.update(kwargs)
    with pytest.raises(ValueError):
        EGRULanguageModel(**args)


def test_dropout_only_in_training():
    lm = EGRULanguageModel(10, 8, [8, 8], dropout_embedding=0.5, dropout_between=0.5, dropout_output=0.5)
    assert lm.dropout_between == lm.rnn.dropout == 0.5
    tokens = torch.randint(0, 10, (6, 2))
    lm.eval()
    assert torch.equal(lm(tokens)[0], lm(tokens)[0])
    lm.train()
    torch.manual_seed(1)
    a = lm(tokens)[0]
    torch.manual_seed(2)
    b = lm(tokens)[0]
    assert not torch.equal(a, b)


def test_settings_reach_the_egru():
    lm = EGRULanguageModel(10, 4, [4], threshold=0.3, reset_mechanism="zero", learn_threshold=False,
                           min_threshold=0.01)
    assert lm.rnn.reset_mechanism == "zero" and lm.rnn.min_threshold == 0.01
    assert not isinstance(lm.rnn.threshold_l0, torch.nn.Parameter)
    assert torch.equal(lm.rnn.threshold_l0, torch.full((4,), 0.3))


def test_per_layer_thresholds_and_surrogate_reach_the_egru():
    from snntorch_egru.surrogate import triangle
    first, second = torch.linspace(0.01, 0.5, 6), torch.full((4,), 0.2)
    lm = EGRULanguageModel(10, 4, [6, 4], threshold=[first, second], spike_grad=triangle(3.6, 3.6))
    assert torch.equal(lm.rnn.threshold_l0, first) and torch.equal(lm.rnn.threshold_l1, second)
    assert lm.rnn.spike_grad == triangle(3.6, 3.6)
    assert isinstance(lm.rnn.threshold_l0, torch.nn.Parameter)


def test_activity(lm):
    lm(torch.randint(0, 20, (5, 2)))
    stats = lm.activity()
    assert len(stats.per_layer) == 2


def test_learns_a_repeating_sequence():
    torch.manual_seed(0)
    lm = EGRULanguageModel(5, 16, [32], threshold=0.05)
    data = torch.arange(5).repeat(8).unsqueeze(1)  # 0 1 2 3 4 0 1 ...  [40, 1]
    optimizer = torch.optim.Adam(lm.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        logits, _ = lm(data[:-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), data[1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses[::10]


def test_doctest():
    result = doctest.testmod(language_model_module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_signed_polarity_reaches_the_egru_and_gives_negative_events():
    torch.manual_seed(0)
    lm = EGRULanguageModel(30, 8, [12, 8], tie_weights=True, threshold=0.05, polarity="signed")
    assert lm.rnn.polarity == "signed" and "polarity='signed'" in repr(lm)
    lm(torch.randint(0, 30, (40, 2)))
    assert (lm.rnn.last_events[0] != 0).any()
    y, _ = lm.rnn(lm.embedding(torch.randint(0, 30, (40, 2))))
    assert (y < 0).any() and (y > 0).any()
    with pytest.raises(ValueError, match="polarity must be one of"):
        EGRULanguageModel(30, 8, 8, polarity="both")


def test_readout_of_the_candidates_reads_the_dense_pre_reset_state():
    """readout_input="candidates": logits = readout(c~ of the last layer), c~ as the reference computes
    it (y = c~ where a unit fires), with gradients through c~; the state and events are unchanged."""
    from tests.reference import rollout

    torch.manual_seed(1)
    tokens = torch.randint(0, 30, (25, 3))
    events = EGRULanguageModel(30, 8, [12, 8], tie_weights=True, threshold=0.05)
    dense = EGRULanguageModel(30, 8, [12, 8], tie_weights=True, threshold=0.05, readout_input="candidates")
    dense.load_state_dict(events.state_dict())
    logits, (y_n, c_n) = dense(tokens)
    _, (y_n_events, c_n_events) = events(tokens)
    torch.testing.assert_close(y_n, y_n_events, atol=0, rtol=0)
    torch.testing.assert_close(c_n, c_n_events, atol=0, rtol=0)
    x = dense.embedding(tokens)
    params = [dense.rnn.layer_parameters(k) for k in range(2)]
    zeros = [torch.zeros(3, h) for h in (12, 8)]
    ref_y, _, _, _, c_tildes = rollout(x, params, zeros, [z.clone() for z in zeros], spike_fn=dense.rnn.spike_grad)
    torch.testing.assert_close(logits, dense.readout(c_tildes[-1]), atol=1e-5, rtol=0)
    assert not torch.equal(c_tildes[-1], ref_y)            # the readout sees more than the events
    grad = torch.autograd.grad(logits.sum(), dense.rnn.weight_hh_l1)[0]
    ref_grad = torch.autograd.grad(dense.readout(c_tildes[-1]).sum(), dense.rnn.weight_hh_l1)[0]
    torch.testing.assert_close(grad, ref_grad, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="readout_input must be one of"):
        EGRULanguageModel(30, 8, 8, readout_input="c")


@pytest.mark.parametrize("readout_input,polarity", [("candidates", "positive"), ("events", "signed")])
def test_the_regularised_training_forward_keeps_the_readout_input_and_polarity(readout_input, polarity):
    """RegularizedLM without any regulariser is the model's own training forward, also for the
    dense-state readout and signed events (same logits, events and gradients)."""
    from snntorch_egru.regularization import RegularizedLM

    torch.manual_seed(2)
    lm = EGRULanguageModel(30, 8, [12, 8], tie_weights=True, threshold=0.05, readout_input=readout_input,
                           polarity=polarity)
    tokens = torch.randint(0, 30, (20, 3))
    wrapped = RegularizedLM(lm).train()
    logits, state = wrapped(tokens)
    events = [e.clone() for e in lm.rnn.last_events]
    grads = torch.autograd.grad(logits.pow(2).mean(), list(lm.parameters()))
    plain, plain_state = lm.train()(tokens)
    torch.testing.assert_close(logits, plain, atol=1e-6, rtol=0)
    for a, b in zip(events, lm.rnn.last_events):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    plain_grads = torch.autograd.grad(plain.pow(2).mean(), list(lm.parameters()))
    for a, b in zip(grads, plain_grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
