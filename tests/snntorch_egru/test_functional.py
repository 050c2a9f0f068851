"""The reference step itself: plain-GRU limit, event-timing ties, reset mechanisms, the surrogate."""

import pytest
import torch
from torch import nn

from snntorch_egru import surrogate
from snntorch_egru.functional import EGRUParameters, EGRUState, egru_step, egru_step_with_events


def gru_cell_parameters(cell: nn.GRUCell, threshold=0.1):
    return EGRUParameters(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh,
                          torch.full((cell.hidden_size,), threshold))


def test_events_off_is_torch_gru_cell():
    torch.manual_seed(0)
    cell = nn.GRUCell(5, 7)
    params = gru_cell_parameters(cell)
    h = torch.randn(3, 7)
    for _ in range(20):
        x = torch.randn(3, 5)
        y, state = egru_step(x, EGRUState(h, h), params, events=False)
        h_ref = cell(x, h)
        torch.testing.assert_close(y, h_ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(state.c, h_ref, atol=1e-6, rtol=0)
        h = h_ref


def tie_parameters(candidate_bias: float, threshold: torch.Tensor, hidden=3, inputs=2):
    """Zero weights, z forced to exactly 0 (sigmoid(-200) underflows), so c~ = n = tanh(candidate_bias)."""
    bias_ih = torch.zeros(3 * hidden)
    bias_ih[hidden:2 * hidden] = -200.0
    bias_ih[2 * hidden:] = candidate_bias
    return EGRUParameters(torch.zeros(3 * hidden, inputs), torch.zeros(3 * hidden, hidden), bias_ih,
                          torch.zeros(3 * hidden), threshold)


def test_state_exactly_at_threshold_emits_no_event():
    c_tilde = torch.tanh(torch.tensor(0.4))
    params = tie_parameters(0.4, c_tilde.expand(3).clone())
    y, state, e = egru_step_with_events(torch.zeros(1, 2), EGRUState.zeros(1, 3), params)
    assert torch.all(e == 0) and torch.all(y == 0), "H(0) must be 0: c~ == theta is not an event"
    assert torch.equal(state.c, c_tilde.expand(1, 3))


def test_state_just_above_threshold_emits_graded_event_and_subtracts_threshold():
    c_tilde = torch.tanh(torch.tensor(0.4))
    below = torch.nextafter(c_tilde, torch.tensor(0.0))
    params = tie_parameters(0.4, below.expand(3).clone())
    y, state, e = egru_step_with_events(torch.zeros(1, 2), EGRUState.zeros(1, 3), params)
    assert torch.all(e == 1)
    assert torch.equal(y, c_tilde.expand(1, 3)), "the event carries the value of c, not 1"
    assert torch.equal(state.c, (c_tilde - below).expand(1, 3))


@pytest.mark.parametrize("mechanism,expected_c", [("subtract", "c-theta"), ("zero", "0"), ("none", "c")])
def test_reset_mechanisms(mechanism, expected_c):
    c_tilde = torch.tanh(torch.tensor(0.8))
    theta = torch.full((3,), 0.25)
    params = tie_parameters(0.8, theta)
    y, state = egru_step(torch.zeros(2, 2), EGRUState.zeros(2, 3), params, reset_mechanism=mechanism)
    assert torch.equal(y, c_tilde.expand(2, 3))
    want = {"c-theta": c_tilde - 0.25, "0": torch.tensor(0.0), "c": c_tilde}[expected_c]
    torch.testing.assert_close(state.c, want.expand(2, 3), atol=1e-7, rtol=0)


def test_unknown_reset_mechanism_is_rejected():
    params = tie_parameters(0.1, torch.full((3,), 0.2))
    with pytest.raises(ValueError, match="reset_mechanism"):
        egru_step(torch.zeros(1, 2), EGRUState.zeros(1, 3), params, reset_mechanism="soft")


def test_triangle_forward_is_strict_heaviside_and_backward_is_triangle():
    spike = surrogate.triangle(dampening=0.7, width=2.0)
    v = torch.tensor([-1.0, -0.5, -0.25, 0.0, 0.1, 0.5, 2.0], requires_grad=True)
    out = spike(v)
    assert out.tolist() == [0, 0, 0, 0, 1, 1, 1]
    out.backward(torch.ones_like(v))
    expected = 0.7 * torch.clamp(1 - 2.0 * v.detach().abs(), min=0)
    torch.testing.assert_close(v.grad, expected)
    assert v.grad[0] == 0 and v.grad[-1] == 0, "outside the support no gradient passes"


def test_triangle_matches_reference_lm_unit_area_setting():
    spike = surrogate.triangle(3.6, 3.6)
    v = torch.linspace(-1, 1, 200001, dtype=torch.float64)
    area = torch.trapezoid(spike.derivative(v), v)
    assert abs(float(area) - 1.0) < 1e-6


@pytest.mark.parametrize("bad", [dict(dampening=0), dict(width=-1), dict(dampening=float("nan"))])
def test_triangle_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="triangle surrogate"):
        surrogate.triangle(**bad)


def test_triangle_is_usable_as_snntorch_spike_grad():
    import snntorch as snn

    lif = snn.Leaky(beta=0.9, spike_grad=surrogate.triangle())
    mem = lif.reset_mem()
    x = torch.full((4,), 0.6, requires_grad=True)
    spk, mem = lif(x, mem)
    spk, mem = lif(x, mem)
    spk.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_egru_gates_are_the_steps_gates():
    """egru_gates (used by the calibration observer and the NeuroBench view) is the step's own arithmetic."""
    from snntorch_egru.functional import egru_gates, egru_reset

    torch.manual_seed(3)
    cell = nn.GRUCell(5, 7)
    params = gru_cell_parameters(cell, threshold=0.05)
    state = EGRUState(torch.randn(3, 7).clamp(min=0), torch.randn(3, 7))
    x = torch.randn(3, 5)
    gates = egru_gates(x @ params.weight_ih.t() + params.bias_ih, state.y @ params.weight_hh.t() + params.bias_hh,
                       state.c)
    for mechanism in ("subtract", "zero", "none"):
        y, new_state, e = egru_step_with_events(x, state, params, reset_mechanism=mechanism)
        assert torch.equal(y, gates.c_tilde * e)
        assert torch.equal(new_state.c, egru_reset(gates.c_tilde, e, params.threshold, mechanism))
    c_gru, _ = egru_step(x, state, params, events=False)
    assert torch.equal(c_gru, gates.c_tilde)
    hidden = 7
    w_ih, w_hh, b_ih, b_hh = params.weight_ih, params.weight_hh, params.bias_ih, params.bias_hh
    torch.testing.assert_close(gates.a_z, x @ w_ih[hidden:2 * hidden].t() + b_ih[hidden:2 * hidden]
                               + state.y @ w_hh[hidden:2 * hidden].t() + b_hh[hidden:2 * hidden])
    torch.testing.assert_close(gates.h_n, state.y @ w_hh[2 * hidden:].t() + b_hh[2 * hidden:])
    torch.testing.assert_close(gates.n, torch.tanh(gates.a_n))
    torch.testing.assert_close(gates.r, torch.sigmoid(gates.a_r))
