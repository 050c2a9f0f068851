"""``EGRU`` on a ``PackedSequence``: ``torch.nn.GRU``'s semantics, each sequence as if run alone.

Tolerances: outputs and states <= 1e-6 absolute (float32); gradients <= 1e-5. The
packed run splits the batch into runs of steps with the same number of live sequences,
so its matmuls see other batch shapes than a sequence run alone: equal to rounding.
"""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from snntorch_egru import EGRU
from snntorch_egru.activity import activity_statistics

LENGTHS = [7, 3, 9, 1, 3]


def layer(**kwargs):
    torch.manual_seed(0)
    rnn = EGRU(4, [6, 5], threshold=0.05, **kwargs)
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if name.startswith("weight"):
                p.mul_(2.0)
    return rnn


def padded_batch(batch_first, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 4, generator=g)   # [B, T, I]
    for b, n in enumerate(LENGTHS):
        x[b, n:] = 0.0
    return x if batch_first else x.transpose(0, 1)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_each_sequence_equals_running_it_alone(batch_first, polarity):
    rnn = layer(batch_first=batch_first, polarity=polarity)
    x = padded_batch(batch_first).requires_grad_(True)
    g = torch.Generator().manual_seed(2)
    y0 = (0.2 * torch.randn(2, len(LENGTHS), 6, generator=g)).requires_grad_(True)
    c0 = (0.2 * torch.randn(2, len(LENGTHS), 6, generator=g)).requires_grad_(True)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=batch_first, enforce_sorted=False)
    state = ((y0[0], y0[1][:, :5]), (c0[0], c0[1][:, :5]))
    out, (y_n, c_n) = rnn(packed, state)
    assert isinstance(out, type(packed))
    assert torch.equal(out.batch_sizes, packed.batch_sizes)
    assert torch.equal(out.sorted_indices, packed.sorted_indices)
    padded, lengths = pad_packed_sequence(out, batch_first=batch_first)
    assert lengths.tolist() == LENGTHS
    weights = torch.randn(padded.shape, generator=g)
    loss = (padded * weights).sum() + sum(c.pow(2).sum() for c in c_n)
    grads = torch.autograd.grad(loss, [x, y0, c0, *rnn.parameters()])
    alone_loss = 0.0
    for b, n in enumerate(LENGTHS):
        xb = x[b, :n] if batch_first else x[:n, b]
        sb = ((y0[0][b:b + 1], y0[1][b:b + 1, :5]), (c0[0][b:b + 1], c0[1][b:b + 1, :5]))
        rnn.batch_first = False
        yb, (ynb, cnb) = rnn(xb.unsqueeze(1), sb)
        rnn.batch_first = batch_first
        pb = padded[b, :n] if batch_first else padded[:n, b]
        torch.testing.assert_close(pb, yb[:, 0], atol=1e-6, rtol=0)
        for k in range(2):
            torch.testing.assert_close(y_n[k][b], ynb[k][0], atol=1e-6, rtol=0)
            torch.testing.assert_close(c_n[k][b], cnb[k][0], atol=1e-6, rtol=0)
        wb = weights[b, :n] if batch_first else weights[:n, b]
        alone_loss = alone_loss + (yb[:, 0] * wb).sum() + sum(c.pow(2).sum() for c in cnb)
    alone = torch.autograd.grad(alone_loss, [x, y0, c0, *rnn.parameters()])
    names = ["x", "y0", "c0", *(n for n, _ in rnn.named_parameters())]
    for name, a, r in zip(names, grads, alone):
        assert r.abs().max() > 0, f"gradient of {name} is all zero"
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("batch_first", [False, True])
def test_events_false_equals_torch_gru_on_the_same_packed_batch(batch_first):
    torch.manual_seed(3)
    gru = nn.GRU(4, 6, num_layers=2, batch_first=batch_first)
    rnn = EGRU.from_gru(gru, events=False)
    x = padded_batch(batch_first).requires_grad_(True)
    h0 = 0.3 * torch.randn(2, len(LENGTHS), 6)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=batch_first, enforce_sorted=False)
    out, h_n = gru(packed, h0)
    ours, (y_n, c_n) = rnn(packed, (h0, h0))
    torch.testing.assert_close(ours.data, out.data, atol=1e-6, rtol=0)
    torch.testing.assert_close(y_n, h_n, atol=1e-6, rtol=0)
    torch.testing.assert_close(c_n, h_n, atol=1e-6, rtol=0)
    g_ref = torch.autograd.grad(out.data.pow(2).sum() + h_n.sum(), [x, *gru.parameters()], retain_graph=True)
    g = torch.autograd.grad(ours.data.pow(2).sum() + y_n.sum(),
                            [x, *(getattr(rnn, n) for n, _ in gru.named_parameters())])
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_activity_and_operation_counts_ignore_the_padding():
    from snntorch_egru.opcount import count_operations

    rnn = layer()
    x = padded_batch(False)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    with torch.no_grad():
        rnn(packed)
        stats = rnn.activity()
        alone_events = [[], []]
        alone_counts = []
        for b, n in enumerate(LENGTHS):
            rnn(x[:n, b:b + 1])
            for k in range(2):
                alone_events[k].append(rnn.last_events[k].reshape(-1, rnn.hidden_sizes[k]))
            alone_counts.append(count_operations(rnn, x[:n, b:b + 1]))
    expected = activity_statistics([torch.cat(e) for e in alone_events])
    assert stats.per_layer == pytest.approx(expected.per_layer, abs=1e-12)
    assert stats.pooled == pytest.approx(expected.pooled, abs=1e-12)
    counts = count_operations(rnn, packed)
    assert counts.tokens == sum(LENGTHS)
    total = sum(c.effective * c.tokens for c in alone_counts)
    assert counts.effective * counts.tokens == pytest.approx(total, abs=1e-6)
    for m, name in zip(counts.matmuls, [m.name for m in alone_counts[0].matmuls]):
        assert m.name == name
        assert m.effective * counts.tokens == pytest.approx(
            sum(next(a for a in c.matmuls if a.name == name).effective * c.tokens for c in alone_counts), abs=1e-6)
    assert counts.activity_sparsity["pooled"] == pytest.approx(stats.sparsity, abs=1e-12)


def test_a_packed_batch_checks_its_data():
    rnn = layer()
    packed = pack_padded_sequence(torch.randn(5, 2, 3), torch.tensor([5, 2]))
    with pytest.raises(ValueError, match=r"PackedSequence data must have shape \[N, input_size=4\]"):
        rnn(packed)
    bad = pack_padded_sequence(torch.full((5, 2, 4), float("nan")), torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="NaN|finite"):
        rnn(bad)
