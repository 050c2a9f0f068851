"""Our operation counts against NeuroBench's metrics on the same model, weights and inputs.

What NeuroBench 2.3.0 counts (read from its source, checked here):

- ``SynapticOperations``: forward pre-hooks on connection layers found by module type
  (``nn.Linear``, convolutions, ``nn.RNNBase``, ``nn.RNNCellBase``). For an ``nn.Linear``
  it binarises input and weight and sums ``W_bin @ x_bin``: per call, the number of
  nonzero weights in the columns of nonzero inputs, biases excluded: exactly our
  effective MACs. A call whose input has only entries in {0, 1, -1} is booked as
  ``Effective_ACs`` instead of ``Effective_MACs``. Totals are divided by the number of
  samples (``data[0].size(0)``, the batch), so NeuroBench reports per sequence and we per
  token: NeuroBench = ours x T. ``Dense`` (all-ones inputs and weights) = our dense GRU count x T.
- ``ActivationSparsity``: fraction of zeros over the outputs of activation modules
  (``nn.ReLU``, ``nn.Sigmoid`` and what ``add_activation_module`` adds), pooled over all
  layers and steps: our pooled activity sparsity when the modules are the event outputs.
- ``ConnectionSparsity``: fraction of zero weights over connection layers (``nn.Linear``:
  weights only), rounded to 4 decimals: our ``connection_sparsity["overall"]``.
- ``nn.GRUCell``: the matmul MACs plus the element-wise gate products (one per unit for
  each of r * (W_hn h + b_hn), z * h, (1 - z) * n that is nonzero). It can only stand in for
  a plain GRU (events off): the EGRU's state update uses c while its matmul reads y.

- ``nn.LSTMCell``: the matmul MACs plus the element-wise products f * c, i * g and
  o * tanh(c), one per unit each when nonzero (f * c vanishes while c = 0). Its ``Dense``
  count binarises, not fills, a nested ``(h, c)`` state (``cylce_tuple_ones`` recurses into
  ``cylce_tuple``), so a zero state contributes no dense recurrent MACs or f * c products.
- ``nn.LSTM`` / ``nn.GRU`` (``nn.RNNBase``): hooked as connection layers, but
  ``SynapticOperations`` fails on them (``recurrent_layer_macs`` does ``raise "..."``, a
  ``TypeError``); ``ConnectionSparsity`` counts their weights *and biases*.

The native ``EGRU`` keeps its weights as plain parameters, so NeuroBench sees none of its
matmuls: wrapping an ``EGRULanguageModel`` directly counts the readout only (asserted
below). ``snntorch_egru.opcount.NeuroBenchView`` rebuilds the model from ``nn.Linear``
modules sharing the weights, which NeuroBench counts completely; for the dense
``RNNLanguageModel`` baselines too (their ``nn.LSTM`` / ``nn.GRU`` cannot be counted).
"""

import pytest
import torch
from torch import nn
from neurobench.metrics.static import ConnectionSparsity
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
from neurobench.models import TorchModel

from snntorch_egru import EGRU, EGRULanguageModel, RNNLanguageModel
from snntorch_egru.opcount import EGRUEventOutput, NeuroBenchView, RNNOutput, count_operations  # noqa: E402
from snntorch_egru.pruning import Pruner  # noqa: E402


def neurobench_metrics(net, inputs_batch_first, activation_module=EGRUEventOutput):
    model = TorchModel(net)
    model.add_activation_module(activation_module)
    model.register_hooks()
    data = (inputs_batch_first, inputs_batch_first)
    with torch.no_grad():
        preds = model(inputs_batch_first)
    synops = SynapticOperations()
    synops.reset()
    result = {"synops": synops(model, preds, data), "activation_sparsity": ActivationSparsity()(model, preds, data),
              "connection_sparsity": ConnectionSparsity()(model)}
    model.cleanup_hooks()
    return result, preds


@pytest.mark.parametrize("embedding,polarity", [("lookup", "positive"), ("one_hot", "positive"), ("lookup", "signed")])
def test_language_model_matches_neurobench(embedding, polarity):
    torch.manual_seed(1)
    lm = EGRULanguageModel(120, 16, [32, 16], tie_weights=True, threshold=0.05, polarity=polarity)
    Pruner(lm, ["input", "recurrent", "embedding"], scope="matrix").prune(0.7)
    steps = 40
    tokens = torch.randint(0, 120, (steps, 1))
    ours = count_operations(lm, tokens, embedding=embedding)
    view = NeuroBenchView(lm, embedding=embedding)
    nb, preds = neurobench_metrics(view, tokens.t())
    with torch.no_grad():
        reference, _ = lm(tokens)
    torch.testing.assert_close(preds.transpose(0, 1), reference, atol=1e-5, rtol=0)
    synops = nb["synops"]
    # every MAC of ours is a NeuroBench MAC or AC; the one-hot embedding input is binary (ACs)
    assert synops["Effective_MACs"] + synops["Effective_ACs"] == round(ours.effective * steps)
    embedding_macs = sum(m.effective for m in ours.matmuls if m.layer == "embedding") * steps
    assert synops["Effective_ACs"] == round(embedding_macs)
    assert synops["Dense"] == round(ours.dense * steps)
    assert nb["activation_sparsity"] == pytest.approx(ours.activity_sparsity["pooled"], abs=1e-12)
    assert nb["connection_sparsity"] == round(ours.connection_sparsity["overall"], 4)


def test_stacked_egru_batch_matches_neurobench():
    torch.manual_seed(2)
    rnn = EGRU(6, [24, 12], threshold=0.1, batch_first=True)
    Pruner(rnn, ["input", "recurrent"], scope="global").prune(0.85)
    x = torch.randn(3, 30, 6)  # [B, T, I]: NeuroBench's layout
    ours = count_operations(rnn, x)
    nb, preds = neurobench_metrics(NeuroBenchView(rnn), x)
    reference, _ = rnn(x)
    torch.testing.assert_close(preds, reference, atol=1e-5, rtol=0)
    # NeuroBench divides by the batch (3 sequences): per sequence = per token x T
    assert nb["synops"]["Effective_MACs"] + nb["synops"]["Effective_ACs"] == pytest.approx(ours.effective * 30)
    assert nb["synops"]["Dense"] == pytest.approx(ours.dense * 30)
    assert nb["activation_sparsity"] == pytest.approx(ours.activity_sparsity["pooled"], abs=1e-12)
    assert nb["connection_sparsity"] == round(ours.connection_sparsity["overall"], 4)


def test_native_model_is_invisible_to_neurobench_except_the_readout():
    """The documented difference: NeuroBench on the unmodified language model counts only
    the readout (the EGRU's matmuls are not modules), finds no activation module, and its
    connection sparsity covers the readout weight only."""
    torch.manual_seed(3)
    lm = EGRULanguageModel(80, 12, [20], tie_weights=False, threshold=0.05)
    Pruner(lm, "all", scope="matrix").prune(0.5)
    steps = 25
    tokens = torch.randint(0, 80, (steps, 1))
    ours = count_operations(lm, tokens)

    class BatchFirst(torch.nn.Module):  # NeuroBench passes [B, T]; the model wants [T, B]
        def __init__(self, lm):
            super().__init__()
            self.lm = lm

        def forward(self, tokens):
            return self.lm(tokens.t())[0].transpose(0, 1)

    nb, _ = neurobench_metrics(BatchFirst(lm), tokens.t())
    readout = next(m for m in ours.matmuls if m.name == "readout.weight")
    assert nb["synops"]["Effective_MACs"] == round(readout.effective * steps)
    assert nb["synops"]["Dense"] == round(readout.dense * steps)
    assert nb["synops"]["Effective_MACs"] < ours.effective * steps
    assert nb["activation_sparsity"] == 0.0
    assert nb["connection_sparsity"] == round(ours.connection_sparsity["readout.weight"], 4)


def test_plain_gru_through_grucell_adds_the_gate_products():
    """With events off the EGRU is a GRU, which NeuroBench can count as an ``nn.GRUCell``
    (h = c = y). Its GRUCell count is our matmul count plus the element-wise gate products
    r * (W_hn h + b_hn), z * h and (1 - z) * n, one per unit each when nonzero: 2H at the
    first step (h = 0 makes z * h vanish) and 3H at every later step; its Dense count adds
    3H per step. We report these products separately (``OpCounts.elementwise``)."""
    torch.manual_seed(4)
    inputs, hidden, steps = 5, 12, 20
    rnn = EGRU(inputs, hidden, events=False)
    Pruner(rnn, ["input", "recurrent"], scope="matrix").prune(0.5)
    cell = torch.nn.GRUCell(inputs, hidden)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l0"))

    class CellLoop(torch.nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell

        def forward(self, x):
            h = x.new_zeros(x.shape[0], hidden)  # an explicit zero state: NeuroBench needs (x, h)
            outputs = []
            for t in range(x.shape[1]):
                h = self.cell(x[:, t], h)
                outputs.append(h)
            return torch.stack(outputs, dim=1)

    x = torch.randn(1, steps, inputs)
    ours = count_operations(rnn, x[0])
    nb, preds = neurobench_metrics(CellLoop(cell), x)
    torch.testing.assert_close(preds[0], rnn(x[0])[0].detach(), atol=1e-5, rtol=0)
    assert nb["synops"]["Effective_MACs"] == round(ours.effective * steps) + 3 * hidden * steps - hidden
    assert nb["synops"]["Dense"] == round(ours.dense * steps) + 3 * hidden * steps
    assert ours.elementwise["layer0"]["gru"]["multiplications"] == 3 * hidden


def pruned_baseline(cell, seed):
    torch.manual_seed(seed)
    lm = RNNLanguageModel(90, 12, [20, 12], cell=cell, tie_weights=True)
    Pruner(lm, ["input", "recurrent"], scope="matrix").prune(0.6)
    return lm


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("embedding", ["lookup", "one_hot"])
def test_baseline_view_matches_neurobench(cell, embedding):
    """The view of a dense LSTM/GRU LM (one ``nn.Linear`` per matmul) is counted exactly as
    ours; NeuroBench's ``Dense`` is the model's own dense count, which for an LSTM exceeds
    our reference (the dense GRU) by its fourth gate block, H (I + H) per layer and step."""
    lm = pruned_baseline(cell, 5)
    steps = 30
    tokens = torch.randint(0, 90, (steps, 1))
    ours = count_operations(lm, tokens, embedding=embedding)
    nb, preds = neurobench_metrics(NeuroBenchView(lm, embedding=embedding), tokens.t(), RNNOutput)
    with torch.no_grad():
        reference, _ = lm(tokens)
    torch.testing.assert_close(preds.transpose(0, 1), reference, atol=1e-5, rtol=0)
    synops = nb["synops"]
    assert synops["Effective_MACs"] + synops["Effective_ACs"] == round(ours.effective * steps)
    embedding_macs = sum(m.effective for m in ours.matmuls if m.layer == "embedding") * steps
    assert synops["Effective_ACs"] == round(embedding_macs)
    assert synops["Dense"] == round(ours.model_dense * steps)
    fourth_block = sum(h * (i + h) for i, h in zip([12, 20], [20, 12])) if cell == "lstm" else 0
    assert synops["Dense"] - round(ours.dense * steps) == fourth_block * steps
    assert nb["activation_sparsity"] == pytest.approx(ours.activity_sparsity["pooled"], abs=1e-12)
    assert nb["connection_sparsity"] == round(ours.connection_sparsity["overall"], 4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_baseline_through_torch_cells_adds_the_gate_products(cell):
    """The same LM run through ``nn.LSTMCell`` / ``nn.GRUCell`` (sharing its parameters):
    NeuroBench adds the element-wise gate products, 3H per layer and step except H fewer at
    the first step (f * c with c = 0; z * h with h = 0), as our ``elementwise``
    multiplications (3H for both cells). Its Dense count adds 3H per step for the GRUCell;
    for the LSTMCell it also adds 3H per step less H at the first step, and misses the first
    step's 4H x H recurrent MACs (the zero (h, c) state is binarised, not filled with ones).
    Its connection sparsity counts the cells' biases as connections."""
    lm = pruned_baseline(cell, 6)
    hidden, steps = lm.hidden_sizes, 25
    module = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[cell]
    cells = nn.ModuleList()
    for layer in lm.rnn.layers:
        torch_cell = module(layer.input_size, layer.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(torch_cell, name, getattr(layer, f"{name}_l0"))
        cells.append(torch_cell)

    class CellLoop(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.cells, self.readout = lm.embedding, cells, lm.readout

        def forward(self, tokens):
            states = [tokens.new_zeros(tokens.shape[0], h, dtype=torch.float32) for h in hidden]
            states = [(h, h.clone()) for h in states] if cell == "lstm" else states
            outputs = []
            for t in range(tokens.shape[1]):
                u = self.embedding(tokens[:, t])
                for k, torch_cell in enumerate(self.cells):
                    states[k] = torch_cell(u, states[k])  # explicit state: NeuroBench needs (x, h)
                    u = states[k][0] if cell == "lstm" else states[k]
                outputs.append(self.readout(u))
            return torch.stack(outputs, dim=1)

    tokens = torch.randint(0, 90, (steps, 1))
    ours = count_operations(lm, tokens)
    nb, preds = neurobench_metrics(CellLoop(), tokens.t(), RNNOutput)
    with torch.no_grad():
        reference, _ = lm(tokens)
    torch.testing.assert_close(preds.transpose(0, 1), reference, atol=1e-5, rtol=0)
    products = sum(3 * h * steps - h for h in hidden)
    assert [ours.elementwise[f"layer{k}"][cell]["multiplications"] for k in range(2)] == [3 * h for h in hidden]
    assert nb["synops"]["Effective_MACs"] == round(ours.effective * steps) + products
    if cell == "lstm":
        first_step_recurrent = sum(4 * h * h for h in hidden)
        assert nb["synops"]["Dense"] == round(ours.model_dense * steps) + products - first_step_recurrent
    else:
        assert nb["synops"]["Dense"] == round(ours.model_dense * steps) + sum(3 * h * steps for h in hidden)
    weights = sum(m.shape[0] * m.shape[1] for m in ours.matmuls)
    zero_weights = round(ours.connection_sparsity["overall"] * weights)
    biases = [p for layer in lm.rnn.layers for n, p in layer.named_parameters() if n.startswith("bias")]
    zero_biases = sum(int((b == 0).sum()) for b in biases)
    bias_count = sum(b.numel() for b in biases)
    assert nb["connection_sparsity"] == round((zero_weights + zero_biases) / (weights + bias_count), 4)
    assert nb["connection_sparsity"] < round(ours.connection_sparsity["overall"], 4)
    assert nb["activation_sparsity"] == 0.0  # no RNNOutput module in the loop: nothing recorded


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_native_baseline_torch_modules_are_not_countable_by_neurobench(cell):
    """NeuroBench hooks the model's ``nn.LSTM`` / ``nn.GRU`` layers but cannot count their
    synaptic operations (2.3.0 raises a TypeError from ``raise "... not yet supported"``),
    records no activation, and counts their biases in the connection sparsity."""
    lm = pruned_baseline(cell, 7)
    tokens = torch.randint(0, 90, (15, 1))
    ours = count_operations(lm, tokens)

    class BatchFirst(nn.Module):
        def __init__(self, lm):
            super().__init__()
            self.lm = lm

        def forward(self, tokens):
            return self.lm(tokens.t())[0].transpose(0, 1)

    model = TorchModel(BatchFirst(lm))
    model.register_hooks()
    data = (tokens.t(), tokens.t())
    with torch.no_grad():
        preds = model(tokens.t())
    assert sum(isinstance(hook.layer, nn.RNNBase) for hook in model.connection_hooks) == 2
    with pytest.raises(TypeError, match="exceptions must derive from BaseException"):
        SynapticOperations()(model, preds, data)
    assert ActivationSparsity()(model, preds, data) == 0.0
    weights = sum(m.shape[0] * m.shape[1] for m in ours.matmuls)
    zero_weights = round(ours.connection_sparsity["overall"] * weights)
    bias_count = sum(p.numel() for n, p in lm.rnn.named_parameters() if ".bias_" in n)
    assert ConnectionSparsity()(model) == round(zero_weights / (weights + bias_count), 4)
    model.cleanup_hooks()
