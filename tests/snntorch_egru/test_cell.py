"""EGRUCell: snnTorch neuron conventions, equal to the reference step."""

import pytest
import torch
from torch import nn

import snntorch_egru
from tests.reference import rollout
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


def test_a_stale_state_from_another_batch_shape_is_an_error_naming_the_reset():
    cell = cell_case(init_hidden=True)
    cell(torch.randn(5, 4))
    assert cell.y.shape == (5, 6)
    with pytest.raises(ValueError, match=r"state of shape \[5, 6\] from an earlier batch.*snntorch_egru.reset\(net\)"):
        cell(torch.randn(2, 4))
    cell.reset_hidden()
    out = cell(torch.randn(2, 4))
    assert out.shape == (2, 6) and cell.c.shape == (2, 6)


def _issue_loop(net, reset):
    torch.manual_seed(0)
    x = torch.randn(20, 3, 4)
    reset(net)
    a = torch.stack([net(x_t) for x_t in x])
    reset(net)
    b = torch.stack([net(x_t) for x_t in x])
    return a, b


def test_the_snntorch_loop_is_batch_independent_with_the_library_reset():
    import snntorch as snn
    from snntorch import utils

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), EGRUCell(8, 16, init_hidden=True))
    a, b = _issue_loop(net, snntorch_egru.reset)
    assert torch.equal(a, b)
    a, b = _issue_loop(net, utils.reset)             # the trap this guards against: snnTorch's reset leaves c
    assert not torch.equal(a, b)
    # nested and mixed with snnTorch neurons, a Leaky only inside a sub-module
    torch.manual_seed(1)
    inner = nn.Sequential(EGRUCell(8, 6, init_hidden=True), nn.Linear(6, 5), snn.Leaky(beta=0.8, init_hidden=True))
    mixed = nn.Sequential(nn.Linear(4, 8), nn.Sequential(inner))   # the neurons two levels down
    a, b = _issue_loop(mixed, snntorch_egru.reset)
    assert torch.equal(a, b) and a.abs().sum() > 0


def test_class_level_reset_and_detach_act_on_every_live_cell_as_in_snntorch():
    cells = [cell_case(seed=s, init_hidden=True) for s in range(2)]
    x = torch.randn(2, 4, requires_grad=True)
    for cell in cells:
        cell(x)
        assert cell.c.requires_grad
    EGRUCell.detach_hidden()
    assert all(not cell.c.requires_grad and cell.c.numel() for cell in cells)
    EGRUCell.reset_hidden()
    assert all(cell.c.numel() == 0 for cell in cells)
    cells[0](x)
    cells[1](x)
    cells[0].reset_hidden()                              # on an instance: that cell only
    assert cells[0].c.numel() == 0 and cells[1].c.numel() > 0


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
