"""Operation counts: against a brute-force count on the reference step, formulas, composition."""

import numpy as np
import pytest
import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.functional import EGRUState, egru_step
from snntorch_egru.opcount import count_operations, parameter_footprint
from snntorch_egru.pruning import Pruner


def brute_force(rnn: EGRU, x: torch.Tensor):  # noqa: C901
    """Per-step effective MACs from the reference step, column by column (batch 1)."""
    states = [EGRUState.zeros(1, h) for h in rnn.hidden_sizes]
    per_step = []
    for x_t in x:
        u = x_t.reshape(1, -1)
        total = 0
        for k in range(rnn.num_layers):
            params = rnn.layer_parameters(k)
            for weight, inp in ((params.weight_ih, u), (params.weight_hh, states[k].y)):
                for j in range(weight.shape[1]):
                    if inp[0, j] != 0:
                        total += int((weight[:, j] != 0).sum())
            u, states[k] = egru_step(u, states[k], params, polarity=rnn.polarity)
        per_step.append(total)
    return np.array(per_step)


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_matches_brute_force_on_the_reference_step(polarity):
    torch.manual_seed(0)
    rnn = EGRU(5, [12, 8], threshold=0.15, polarity=polarity)
    Pruner(rnn, ["input", "recurrent"], scope="matrix").prune(0.6)
    x = torch.randn(30, 5)
    x[3] = 0.0
    x[7, :2] = 0.0  # zero input entries are not counted
    counts = count_operations(rnn, x)
    np.testing.assert_array_equal(counts.per_step[:, 0], brute_force(rnn, x))
    assert counts.effective == pytest.approx(brute_force(rnn, x).mean())
    assert counts.tokens == 30


def test_dense_and_activity_formulas():
    torch.manual_seed(0)
    rnn = EGRU(7, [16, 9], threshold=0.1)
    x = torch.randn(40, 1, 7)
    counts = count_operations(rnn, x)
    rnn(x)
    events = [e.reshape(40, -1) for e in rnn.last_events]
    assert counts.dense == 3 * 16 * (7 + 16) + 3 * 9 * (16 + 9)
    by_name = {m.name: m for m in counts.matmuls}
    assert by_name["weight_ih_l0"].activity == 3 * 16 * 7  # dense input: every column
    assert by_name["weight_hh_l0"].activity == pytest.approx(3 * 16 * float(events[0][:-1].ne(0).sum()) / 40)
    assert by_name["weight_ih_l1"].activity == pytest.approx(3 * 9 * float(events[0].ne(0).sum()) / 40)
    # no pruning (and no exact zero weight): effective == activity
    assert counts.effective == pytest.approx(counts.activity)
    stats = rnn.activity()
    assert counts.activity_sparsity["layer0"] == pytest.approx(1 - stats.per_layer[0])
    assert counts.activity_sparsity["pooled"] == pytest.approx(1 - stats.pooled)
    assert counts.reduction_activity == pytest.approx(counts.dense / counts.activity)


def test_activity_and_weight_sparsity_multiply():
    torch.manual_seed(0)
    rnn = EGRU(64, 256, threshold=0.05)
    Pruner(rnn, "recurrent", scope="matrix").prune(0.9)
    counts = count_operations(rnn, torch.randn(60, 64))
    hh = next(m for m in counts.matmuls if m.name == "weight_hh_l0")
    assert hh.weight_density == pytest.approx(0.1, abs=1e-3)
    assert 0.0 < hh.input_density < 0.9
    # unstructured pruning: nnz per column ~ uniform, so effective ~ dense * a * d
    assert hh.effective == pytest.approx(hh.dense * hh.input_density * hh.weight_density, rel=0.05)
    assert hh.reduction == pytest.approx(hh.dense / hh.effective)
    assert counts.connection_sparsity["weight_hh_l0"] == pytest.approx(0.9, abs=1e-3)
    assert counts.connection_sparsity["weight_ih_l0"] == 0.0


def test_plain_gru_counts_every_unit():
    rnn = EGRU(4, 8, events=False)
    counts = count_operations(rnn, torch.randn(10, 4))
    hh = next(m for m in counts.matmuls if m.name == "weight_hh_l0")
    assert hh.input_density == 0.9  # y0 = 0 at the first step, then every unit
    assert np.all(hh.per_step[1:] == hh.dense) and hh.per_step[0, 0] == 0
    assert counts.activity_sparsity["pooled"] == 0.0


def test_initial_state_and_batch_layouts():
    torch.manual_seed(0)
    rnn = EGRU(3, 6, num_layers=2, threshold=0.2)
    x = torch.randn(12, 2, 3)
    y0 = torch.zeros(2, 2, 6)
    y0[0, 1, :3] = 1.0  # layer 0, sequence 1: three active units at t = 0
    counts = count_operations(rnn, x, state=(y0, None))
    hh0 = next(m for m in counts.matmuls if m.name == "weight_hh_l0")
    assert hh0.per_step.shape == (12, 2)
    assert hh0.per_step[0, 0] == 0 and hh0.per_step[0, 1] == 3 * 18
    batch_first = EGRU(3, 6, num_layers=2, threshold=0.2, batch_first=True)
    batch_first.load_state_dict(rnn.state_dict())
    again = count_operations(batch_first, x.transpose(0, 1), state=(y0, None))
    assert again.effective == counts.effective and again.tokens == 24


def test_language_model_embedding_modes_and_readout():
    torch.manual_seed(0)
    lm = EGRULanguageModel(50, 8, [16, 8], tie_weights=True, threshold=0.05)
    Pruner(lm, ["embedding", "recurrent"], scope="matrix").prune(0.5)
    tokens = torch.randint(0, 50, (20,))
    lookup = count_operations(lm, tokens)
    one_hot = count_operations(lm, tokens, embedding="one_hot")
    assert [m.name for m in lookup.matmuls] == [
        "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "readout.weight"]
    emb = one_hot.matmuls[0]
    assert emb.name == "embedding.weight.T" and emb.dense == 50 * 8 and emb.activity == 8
    rows_nnz = (lm.embedding.weight[tokens] != 0).sum(1).double().mean().item()
    assert emb.effective == pytest.approx(rows_nnz)
    assert one_hot.effective - lookup.effective == pytest.approx(rows_nnz)
    # pruned embedding rows: zero entries of x_t are inactive columns of weight_ih_l0
    ih0 = lookup.matmuls[0]
    assert ih0.activity == pytest.approx(3 * 16 * rows_nnz)
    readout = lookup.matmuls[-1]
    assert readout.dense == 50 * 8
    assert lookup.elementwise["readout"]["egru"]["additions"] == 50
    assert set(lookup.layers()) == {"layer0", "layer1", "readout"}
    text = lookup.table()
    for name in ("rnn.weight_hh_l1", "readout.weight", "total", "activity sparsity", "connection sparsity"):
        assert name in text
    assert lookup.as_dict()["effective"] == lookup.effective


def test_footprint_counts_tied_weights_once_and_csr_bytes():
    lm = EGRULanguageModel(30, 4, [4], tie_weights=True)
    with torch.no_grad():
        lm.embedding.weight[:, :2] = 0.0
    fp = parameter_footprint(lm)
    assert "readout.weight" not in fp
    assert fp["total"]["parameters"] == sum(p.numel() for p in lm.parameters())
    emb = fp["embedding.weight"]
    assert emb["nonzeros"] == 60 and emb["bytes_dense"] == 480
    assert emb["bytes_csr"] == 60 * 8 + 31 * 4
    bias = fp["readout.bias"]
    assert bias["bytes_csr"] == bias["bytes_dense"] == 120


def test_elementwise_operations_reported_separately():
    counts = count_operations(EGRU(3, 10, num_layers=2), torch.randn(5, 3))
    layer = counts.elementwise["layer0"]
    assert layer["egru"] == {"additions": 120, "multiplications": 40, "nonlinearities": 30, "comparisons": 10}
    assert layer["gru"]["comparisons"] == 0 and layer["gru"]["additions"] == 110
    assert counts.elementwise["total"]["egru"]["additions"] == 240


def test_bad_arguments():
    with pytest.raises(TypeError):
        count_operations(torch.nn.GRU(2, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match="embedding"):
        count_operations(EGRU(2, 3), torch.randn(4, 2), embedding="table")


def test_a_readout_of_the_dense_state_is_counted_dense():
    torch.manual_seed(3)
    tokens = torch.randint(0, 50, (30, 1))
    sparse = EGRULanguageModel(50, 8, [16, 8], tie_weights=True, threshold=0.1)
    dense = EGRULanguageModel(50, 8, [16, 8], tie_weights=True, threshold=0.1, readout_input="candidates")
    dense.load_state_dict(sparse.state_dict())
    a, b = count_operations(sparse, tokens), count_operations(dense, tokens)
    readout = {c.name: c for c in b.matmuls}["readout.weight"]
    assert readout.effective == 50 * 8                                 # every column, every token
    assert {c.name: c for c in a.matmuls}["readout.weight"].effective < 50 * 8
    assert [c.effective for c in a.matmuls][:-1] == [c.effective for c in b.matmuls][:-1]
