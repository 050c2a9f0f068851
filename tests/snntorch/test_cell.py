"""EGRUCell: snnTorch neuron conventions, equal to the reference step."""

import pytest
import torch
from torch import nn

import snntorch_egru
from reference import rollout
from snntorch_egru import EGRUCell


def cell_case(seed=0, **kwargs):
    torch.manual_seed(seed)
    cell = EGRUCell(4, 6, **kwargs)
    with torch.no_grad():
        cell.weight_ih.mul_(2.0)
        cell.weight_hh.mul_(2.0)
    return cell


@pytest.mark.parametrize("polarity", ["positive", "signed"])
def test_cell_rollout_equals_reference_forward_and_gradients(polarity):
    cell = cell_case(polarity=polarity)
    x = torch.randn(40, 3, 4, requires_grad=True)
    y, c = None, None
    ys = []
    for x_t in x:
        y, c = cell(x_t, y, c)
        ys.append(y)
    ys = torch.stack(ys)
    params = cell.parameters_for_step()
    ref_ys, _, _, ref_c, _ = rollout(x, [params], [torch.zeros(3, 6)], [torch.zeros(3, 6)], spike_fn=cell.spike_grad,
                                     polarity=polarity)
    assert 0.05 < float((ys != 0).float().mean()) < 0.9
    assert bool((ys < 0).any()) == (polarity == "signed")
    torch.testing.assert_close(ys, ref_ys, atol=1e-6, rtol=0)
    torch.testing.assert_close(c, ref_c[0], atol=1e-6, rtol=0)
    inputs = [x, *cell.parameters()]
    g = torch.autograd.grad(ys.pow(2).mean() + c.sum(), inputs)
    r = torch.autograd.grad(ref_ys.pow(2).mean() + ref_c[0].sum(), inputs)
    for a, b in zip(g, r):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_init_hidden_keeps_state_and_matches_explicit_state():
    explicit = cell_case()
    hidden = cell_case(init_hidden=True)
    x = torch.randn(15, 2, 4)
    y, c = None, None
    for x_t in x:
        y, c = explicit(x_t, y, c)
        y_hidden = hidden(x_t)
        torch.testing.assert_close(y_hidden, y, atol=0, rtol=0)
    torch.testing.assert_close(hidden.c, c, atol=0, rtol=0)
    assert "y" not in hidden.state_dict() and "c" not in hidden.state_dict(), "state buffers are non-persistent"


def test_output_true_returns_state_too():
    cell = cell_case(init_hidden=True, output=True)
    y, c = cell(torch.randn(2, 4))
    assert y.shape == c.shape == (2, 6)


def test_state_is_resized_when_batch_changes_even_if_input_size_differs_from_hidden():
    cell = cell_case(init_hidden=True)
    cell(torch.randn(5, 4))
    assert cell.y.shape == (5, 6)
    out = cell(torch.randn(2, 4))
    assert out.shape == (2, 6) and cell.c.shape == (2, 6)


def test_reset_zeroes_egru_cells_and_builtin_snntorch_neurons_in_sequential():
    import snntorch as snn

    net = nn.Sequential(EGRUCell(4, 6, init_hidden=True), nn.Linear(6, 3), snn.Leaky(beta=0.5, init_hidden=True))
    for x_t in torch.randn(10, 2, 4):
        net(x_t)
    first = net[0]
    assert first.c.abs().sum() > 0
    snntorch_egru.reset(net)
    fresh = net(torch.zeros(2, 4))
    expected = EGRUCell(4, 6)
    expected.load_state_dict(first.state_dict())
    torch.testing.assert_close(first.y, expected(torch.zeros(2, 4))[0], atol=0, rtol=0)
    assert fresh.shape == (2, 3)


def test_detach_hidden_cuts_the_graph():
    cell = cell_case(init_hidden=True)
    cell(torch.randn(2, 4))
    snntorch_egru.detach_hidden(cell)
    assert not cell.c.requires_grad and not cell.y.requires_grad


def test_cell_does_not_accumulate_in_snntorch_global_instance_list():
    from snntorch import SpikingNeuron

    before = len(SpikingNeuron.instances)
    for _ in range(5):
        EGRUCell(2, 3)
    assert len(SpikingNeuron.instances) == before


def test_passing_state_with_init_hidden_is_an_error():
    cell = cell_case(init_hidden=True)
    with pytest.raises(TypeError, match="init_hidden"):
        cell(torch.randn(2, 4), torch.zeros(2, 6))


def test_state_quant_is_applied_to_c():
    from snntorch.functional import quant

    q = quant.state_quant(num_bits=4, uniform=True, threshold=1.0)
    cell = cell_case(state_quant=q)
    _, c = cell(torch.randn(3, 4))
    levels = torch.unique(c.detach())
    assert len(levels) <= 16
