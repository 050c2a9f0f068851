"""Dense LSTM/GRU language-model baselines: equal to torch's modules, same interface, counts."""

import pytest
import torch
from torch import nn

from snntorch_egru import EGRULanguageModel, RNNLanguageModel
from snntorch_egru.opcount import count_operations
from snntorch_egru.pruning import Pruner, select_parameters
from snntorch_egru.regularization import RegularizedLM, drop_connect
from egru.lm.trainer import LMConfig, evaluate, train_language_model

CELLS = ["lstm", "gru"]
GATES = {"lstm": 4, "gru": 3}


def hand_assembled(lm: RNNLanguageModel):
    """Embedding, one torch RNN module per layer and a linear readout holding copies of ``lm``'s weights."""
    sizes = [lm.embedding_size] + lm.hidden_sizes
    module = {"lstm": nn.LSTM, "gru": nn.GRU}[lm.cell]
    embedding = nn.Embedding(lm.vocab_size, lm.embedding_size)
    layers = [module(sizes[k], sizes[k + 1]) for k in range(len(lm.hidden_sizes))]
    readout = nn.Linear(sizes[-1], lm.vocab_size)
    with torch.no_grad():
        embedding.weight.copy_(lm.embedding.weight)
        for layer, ours in zip(layers, lm.rnn.layers):
            for name, value in ours.named_parameters():
                getattr(layer, name).copy_(value)
        readout.weight.copy_(lm.readout.weight)
        readout.bias.copy_(lm.readout.bias)

    def forward(tokens, states=None, weight_hh=None):
        u = embedding(tokens)
        states = states or [None] * len(layers)
        new = []
        for k, layer in enumerate(layers):
            if weight_hh is not None:
                with torch.no_grad():
                    layer.weight_hh_l0.copy_(weight_hh[k])
            u, s = layer(u, states[k])
            new.append(s)
        return readout(u), new

    return forward


@pytest.mark.parametrize("cell", CELLS)
def test_equals_hand_assembled_torch_modules(cell):
    torch.manual_seed(0)
    lm = RNNLanguageModel(40, 6, [10, 7], cell=cell)
    reference = hand_assembled(lm)
    tokens = torch.randint(0, 40, (12, 3))
    logits, state = lm(tokens)
    expected, expected_state = reference(tokens)
    assert torch.equal(logits, expected)
    assert len(state) == 2
    for ours, theirs in zip(state, expected_state):
        for a, b in zip(*((ours, theirs) if cell == "lstm" else ((ours,), (theirs,)))):
            assert torch.equal(a, b)
    assert lm.rnn.num_layers == 2 and lm.rnn.gates == GATES[cell]
    assert [e.shape for e in lm.rnn.last_events] == [(12, 3, 10), (12, 3, 7)]
    assert torch.equal(lm.rnn.last_events[-1], lm.rnn.layers[1](lm.rnn.layers[0](lm.embedding(tokens))[0])[0])
    stats = lm.activity()
    assert stats.pooled == 1.0 and stats.per_layer == [1.0, 1.0]


@pytest.mark.parametrize("cell", CELLS)
def test_state_carried_across_segments_equals_one_call(cell):
    torch.manual_seed(1)
    lm = RNNLanguageModel(30, 5, [8, 6], cell=cell)
    tokens = torch.randint(0, 30, (20, 2))
    whole, whole_state = lm(tokens)
    first, state = lm(tokens[:7])
    second, state = lm(tokens[7:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole, rtol=0, atol=1e-6)
    flat = [t for s in state for t in (s if cell == "lstm" else (s,))]
    flat_whole = [t for s in whole_state for t in (s if cell == "lstm" else (s,))]
    for a, b in zip(flat, flat_whole):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="one entry per layer"):
        lm(tokens, state[:1])


def test_tied_weights_and_initialisation():
    torch.manual_seed(2)
    lm = RNNLanguageModel(50, 8, [12, 8], cell="lstm", tie_weights=True)
    assert lm.readout.weight is lm.embedding.weight
    assert lm.embedding.weight.abs().max() <= 0.1 and torch.all(lm.readout.bias == 0)
    assert len(list(lm.parameters())) == 1 + 2 * 4 + 1  # tied embedding/readout once, 4 per layer, readout bias
    untied = RNNLanguageModel(50, 8, [12], cell="gru")
    assert untied.readout.weight is not untied.embedding.weight and untied.readout.weight.abs().max() <= 0.1
    bound = 1 / 12 ** 0.5  # torch's default U(-1/sqrt(H), 1/sqrt(H))
    assert untied.rnn.layers[0].weight_hh_l0.abs().max() <= bound
    with pytest.raises(ValueError, match="tie_weights"):
        RNNLanguageModel(50, 8, [12, 10], tie_weights=True)
    with pytest.raises(ValueError, match="cell"):
        RNNLanguageModel(50, 8, [12], cell="rnn")
    with pytest.raises(ValueError, match="hidden_sizes"):
        RNNLanguageModel(50, 8, [])
    assert (lm.dropout_embedding, lm.dropout_between, lm.dropout_output) == (0.0, 0.0, 0.0)
    assert lm.hidden_sizes == [12, 8] and lm.tie_weights and lm.vocab_size == 50 and lm.embedding_size == 8


@pytest.mark.parametrize("bad", [
    [[1, 2]], torch.tensor([[0.0, 1.0]]), torch.tensor([1, 2]), torch.zeros(0, 2, dtype=torch.long),
    torch.tensor([[0, 20]]), torch.tensor([[-1, 0]]),
])
def test_token_errors_are_the_egru_models(bad):
    ours, theirs = RNNLanguageModel(20, 4, [4]), EGRULanguageModel(20, 4, [4])
    with pytest.raises((TypeError, ValueError)) as expected:
        theirs(bad)
    with pytest.raises(expected.type) as got:
        ours(bad)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("cell", CELLS)
def test_pruning_targets(cell):
    torch.manual_seed(3)
    lm = RNNLanguageModel(30, 6, [10, 6], cell=cell, tie_weights=True)
    names = [f"rnn.layers.{k}.weight_{kind}_l0" for kind in ("ih", "hh") for k in range(2)]
    assert sorted(select_parameters(lm, ["input", "recurrent"])) == sorted(names)
    assert list(select_parameters(lm, "embedding")) == list(select_parameters(lm, "readout")) == ["embedding.weight"]
    assert len(select_parameters(lm, "all")) == 5
    biases = {n: p.detach().clone() for n, p in lm.named_parameters() if "bias" in n}
    pruner = Pruner(lm, targets=("input", "recurrent"), scope="matrix")
    pruner.prune(0.5)
    for name in names:
        param = lm.get_parameter(name)
        assert int((param == 0).sum()) == round(0.5 * param.numel()), name
    assert all(torch.equal(lm.get_parameter(n), b) for n, b in biases.items())
    assert float((lm.embedding.weight == 0).float().mean()) == 0.0
    assert sorted(k for k in lm.state_dict() if k.endswith("_mask")) == sorted(n + "_mask" for n in names)
    # the torch modules compute with the pruned (in-place zeroed) weights
    tokens = torch.randint(0, 30, (9, 2))
    torch.testing.assert_close(lm(tokens)[0], hand_assembled(lm)(tokens)[0], rtol=0, atol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_regularized_eval_is_the_model_and_zero_rates_are_the_model(cell):
    torch.manual_seed(4)
    lm = RNNLanguageModel(30, 6, [10, 6], cell=cell, tie_weights=True, dropout_embedding=0.3,
                          dropout_between=0.3, dropout_output=0.3)
    reg = RegularizedLM(lm, dropout_words=0.2, dropconnect=0.5).eval()
    tokens = torch.randint(0, 30, (8, 3))
    logits, state = reg(tokens)
    expected, expected_state = lm(tokens)
    assert torch.equal(logits, expected)
    assert torch.equal(reg(tokens, state)[0], lm(tokens, expected_state)[0])
    plain = RNNLanguageModel(30, 6, [10, 6], cell=cell, tie_weights=True)
    plain.load_state_dict(lm.state_dict())
    quiet = RegularizedLM(plain).train()
    assert torch.equal(quiet(tokens)[0], plain(tokens)[0])
    with pytest.raises(ValueError, match="token id"):
        quiet(torch.tensor([[30]]))


@pytest.mark.parametrize("cell", CELLS)
def test_dropconnect_matches_dropped_weights_leaves_parameters_and_trains_them(cell):
    torch.manual_seed(5)
    lm = RNNLanguageModel(30, 6, [10, 6], cell=cell)
    reg = RegularizedLM(lm, dropconnect=0.5).train()
    tokens = torch.randint(0, 30, (8, 3))
    raw = [layer.weight_hh_l0.detach().clone() for layer in lm.rnn.layers]
    torch.manual_seed(6)
    logits, _ = reg(tokens)
    torch.manual_seed(6)  # the same masks, drawn layer by layer
    dropped = [drop_connect(layer.weight_hh_l0, 0.5).detach() for layer in lm.rnn.layers]
    expected, _ = hand_assembled(lm)(tokens, weight_hh=dropped)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)
    assert all(torch.equal(layer.weight_hh_l0, w) for layer, w in zip(lm.rnn.layers, raw))
    (logits ** 2).mean().backward()
    for layer, mask in zip(lm.rnn.layers, dropped):
        grad = layer.weight_hh_l0.grad
        assert grad is not None and grad.abs().sum() > 0
        assert torch.all(grad[mask == 0] == 0)  # dropped connections get no gradient
    # after the training forward the modules use the raw Parameters again
    assert torch.equal(reg.eval()(tokens)[0], hand_assembled(lm)(tokens)[0])
    optimizer = torch.optim.SGD(lm.parameters(), lr=0.5)
    reg.train()
    losses = []
    for _ in range(5):
        out, _ = reg(tokens[:-1])
        loss = nn.functional.cross_entropy(out.reshape(-1, 30), tokens[1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert not torch.equal(lm.rnn.layers[0].weight_hh_l0, raw[0])
    assert lm.activity().pooled == 1.0


def test_regularized_locked_dropout_between_layers_shares_masks_over_time():
    torch.manual_seed(7)
    lm = RNNLanguageModel(30, 6, [10, 6], cell="gru", dropout_between=0.5)
    reg = RegularizedLM(lm).train()
    seen = {}
    handle = lm.rnn.layers[1].register_forward_pre_hook(lambda module, args: seen.setdefault("x", args[0]))
    reg(torch.randint(0, 30, (15, 4)))
    handle.remove()
    zeros = seen["x"] == 0  # [T, B, H]
    assert zeros.any() and torch.equal(zeros, zeros[:1].expand_as(zeros))
    with pytest.raises(TypeError, match="RNNLanguageModel"):
        RegularizedLM(nn.LSTM(3, 4))


def test_trainer_runs_the_baseline():
    torch.manual_seed(8)
    tokens = torch.arange(400) % 7
    config = LMConfig(embedding_size=8, hidden_sizes=(16, 8), epochs=2, batch_size=4, bptt=10, lr=1e-2,
                      dropconnect=0.3, dropout_words=0.1)
    lm = RNNLanguageModel(7, 8, [16, 8], cell="lstm", tie_weights=True, dropout_between=0.1)
    model, history = train_language_model(config, tokens, vocab_size=7, model=lm)
    assert model is lm and history[-1]["train_activity"] == 1.0
    result = evaluate(model, tokens[:80])
    assert result.activity == 1.0 and result.perplexity < 7.0


def test_lstm_operation_counts_by_hand():
    torch.manual_seed(9)
    inputs, hidden, vocab, steps = 5, [6, 4], 20, 10
    lm = RNNLanguageModel(vocab, inputs, hidden, cell="lstm")
    tokens = torch.randint(0, vocab, (steps,))
    h0 = [torch.full((1, 1, h), 0.5) for h in hidden]
    state = tuple((h, torch.zeros_like(h)) for h in h0)  # nonzero h0: every step is dense
    counts = count_operations(lm, tokens, state)
    assert counts.cell == "lstm" and counts.tokens == steps
    sizes = [inputs] + hidden
    rnn_lstm = sum(4 * h * (i + h) for i, h in zip(sizes, hidden))  # 4H(I + H) per layer per step
    rnn_gru = sum(3 * h * (i + h) for i, h in zip(sizes, hidden))
    readout = vocab * hidden[-1]
    assert counts.model_dense == rnn_lstm + readout
    assert counts.dense == rnn_gru + readout  # the reference stays the dense GRU
    assert counts.activity == counts.effective == counts.model_dense
    layers = counts.layers()
    for k in range(2):
        assert layers[f"layer{k}"]["reduction_activity"] == pytest.approx(0.75)
        assert layers[f"layer{k}"]["model_dense"] == 4 * hidden[k] * (sizes[k] + hidden[k])
    by_name = {m.name: m for m in counts.matmuls}
    assert list(by_name) == ["rnn.layers.0.weight_ih_l0", "rnn.layers.0.weight_hh_l0", "rnn.layers.1.weight_ih_l0",
                             "rnn.layers.1.weight_hh_l0", "readout.weight"]
    assert by_name["rnn.layers.0.weight_hh_l0"].shape == (24, 6)
    assert by_name["rnn.layers.0.weight_hh_l0"].dense == 18 * 6
    # zero initial state (default): the first step's recurrent matmuls read h0 = 0 (the GRU convention)
    default = count_operations(lm, tokens)
    hh0 = next(m for m in default.matmuls if m.name == "rnn.layers.0.weight_hh_l0")
    assert hh0.per_step[0, 0] == 0 and (hh0.per_step[1:] == 24 * 6).all()
    assert hh0.activity == pytest.approx(24 * 6 * (steps - 1) / steps)
    assert default.activity_sparsity == {"layer0": 0.0, "layer1": 0.0, "pooled": 0.0}
    # pruning shrinks the effective MACs by the weight density
    Pruner(lm, ("input", "recurrent"), scope="matrix").prune(0.75)
    pruned = count_operations(lm, tokens, state)
    for k in range(2):
        layer = pruned.layers()[f"layer{k}"]
        assert layer["effective"] == pytest.approx(0.25 * layer["model_dense"])
        assert layer["reduction_effective"] == pytest.approx(0.75 / 0.25)
    assert pruned.connection_sparsity["rnn.layers.1.weight_hh_l0"] == 0.75
    ew = counts.elementwise
    assert set(ew["layer0"]) == {"lstm", "gru"}
    assert ew["layer0"]["lstm"] == {"additions": 13 * 6, "multiplications": 3 * 6, "nonlinearities": 5 * 6,
                                    "comparisons": 0}
    assert ew["total"]["lstm"]["additions"] == 13 * 10 + vocab
    text = counts.table()
    assert "LSTM act." in text and f"dense LSTM (its own matrices, every weight): {rnn_lstm + readout}" in text
    assert counts.as_dict()["model_dense"] == counts.model_dense


def test_gru_baseline_counts_by_hand():
    torch.manual_seed(10)
    lm = RNNLanguageModel(25, 6, [8], cell="gru", tie_weights=False)
    tokens = torch.randint(0, 25, (12, 2))
    counts = count_operations(lm, tokens, embedding="one_hot")
    assert counts.cell == "gru" and counts.model_dense == counts.dense == 25 * 6 + 3 * 8 * (6 + 8) + 25 * 8
    emb = counts.matmuls[0]
    assert emb.name == "embedding.weight.T" and emb.activity == emb.effective == 6
    hh = next(m for m in counts.matmuls if m.name == "rnn.layers.0.weight_hh_l0")
    assert hh.input_density == pytest.approx(11 / 12)  # h0 = 0 at the first of 12 steps
    assert set(counts.elementwise["layer0"]) == {"gru"}
    assert counts.elementwise["total"]["gru"]["additions"] == 11 * 8 + 25
