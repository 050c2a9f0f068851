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

The native ``EGRU`` keeps its weights as plain parameters, so NeuroBench sees none of its
matmuls: wrapping an ``EGRULanguageModel`` directly counts the readout only (asserted
below). ``snntorch_egru.opcount.NeuroBenchView`` rebuilds the model from ``nn.Linear``
modules sharing the weights, which NeuroBench counts completely.
"""

import pytest
import torch
from neurobench.metrics.static import ConnectionSparsity
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
from neurobench.models import TorchModel

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.opcount import EGRUEventOutput, NeuroBenchView, count_operations  # noqa: E402
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


@pytest.mark.parametrize("embedding", ["lookup", "one_hot"])
def test_language_model_matches_neurobench(embedding):
    torch.manual_seed(1)
    lm = EGRULanguageModel(120, 16, [32, 16], tie_weights=True, threshold=0.05)
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
