"""The fused sequence layer equals the functional reference rolled out over time.

Tolerances: forward <= 1e-6 absolute (float32), gradients <= 1e-5 absolute and relative
(float32, loss normalised to O(1)). Inputs whose pre-reset state comes within 1e-5 of a
threshold anywhere are rejected by the seed search (a float32 rounding difference could
flip such an event), so the comparison needs no loosened tolerance.
"""

import pytest
import torch
from torch import nn

from tests.reference import SmoothStep, rollout, threshold_margin
from snntorch_egru import EGRU
from snntorch_egru._sequence import EGRUSequenceFunction

MARGIN = 1e-5


def make_layer(hidden_size, num_layers, seed, *, bias=True, reset_mechanism="subtract", spike_grad=None,
               input_size=6, weight_scale=2.0, polarity="positive"):
    torch.manual_seed(seed)
    rnn = EGRU(input_size, hidden_size, num_layers, bias=bias, reset_mechanism=reset_mechanism,
               spike_grad=spike_grad, polarity=polarity)
    with torch.no_grad():
        for k in range(rnn.num_layers):
            getattr(rnn, f"weight_ih_l{k}").mul_(weight_scale)
            getattr(rnn, f"weight_hh_l{k}").mul_(weight_scale)
            getattr(rnn, f"threshold_l{k}").uniform_(0.05, 0.4)
    return rnn


def reference_for(rnn, x, state=None, **kwargs):
    params = [rnn.layer_parameters(k) for k in range(rnn.num_layers)]
    batch = x.shape[1]
    if state is None:
        y0s = [x.new_zeros(batch, h) for h in rnn.hidden_sizes]
        c0s = [x.new_zeros(batch, h) for h in rnn.hidden_sizes]
    else:
        y0s, c0s = state
    return rollout(x, params, y0s, c0s, spike_fn=rnn.spike_grad, reset_mechanism=rnn.reset_mechanism,
                   events=rnn.events, polarity=rnn.polarity, **kwargs)


def well_separated_case(hidden_size, num_layers, steps=200, batch=3, **kwargs):
    """First seed whose reference trajectory keeps every c~ at least MARGIN from its threshold."""
    for seed in range(200):
        rnn = make_layer(hidden_size, num_layers, seed, **kwargs)
        x = torch.randn(steps, batch, rnn.input_size, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            ref = reference_for(rnn, x)
        thresholds = [rnn.layer_parameters(k).threshold for k in range(rnn.num_layers)]
        if threshold_margin(ref[4], thresholds, rnn.polarity) > MARGIN:
            return rnn, x
    raise AssertionError("no seed kept c~ away from the thresholds: shrink the case")


CASES = [
    (8, 1, "subtract", True, "positive"), (8, 3, "subtract", True, "positive"),
    ([7, 5, 9], 3, "subtract", False, "positive"), (8, 2, "zero", True, "positive"), (8, 2, "none", True, "positive"),
    (8, 1, "subtract", True, "signed"), ([7, 5, 9], 3, "subtract", False, "signed"),
    (8, 2, "zero", True, "signed"), (8, 2, "none", True, "signed"),
]


@pytest.mark.parametrize("hidden_size,num_layers,reset_mechanism,bias,polarity", CASES)
def test_forward_and_gradients_match_reference(hidden_size, num_layers, reset_mechanism, bias, polarity):
    rnn, x = well_separated_case(hidden_size, num_layers, steps=60 if num_layers > 1 else 200,
                                 reset_mechanism=reset_mechanism, bias=bias, polarity=polarity)
    x.requires_grad_(True)
    y, (y_n, c_n) = rnn(x)
    activity = rnn.activity().pooled
    assert 0.05 < activity < 0.9, f"test case has degenerate activity {activity}"
    if polarity == "signed":   # the case exercises events of both signs
        assert (y < 0).any() and (y > 0).any()

    y_n, c_n = list(y_n), list(c_n)
    ref_y, ref_events, ref_yn, ref_cn, _ = reference_for(rnn, x)
    torch.testing.assert_close(y, ref_y, atol=1e-6, rtol=0)
    for k in range(rnn.num_layers):
        torch.testing.assert_close(rnn.last_events[k], ref_events[k], atol=0, rtol=0)
        torch.testing.assert_close(y_n[k], ref_yn[k], atol=1e-6, rtol=0)
        torch.testing.assert_close(c_n[k], ref_cn[k], atol=1e-6, rtol=0)

    weights = torch.randn_like(y)
    inputs = [x, *rnn.parameters()]
    names = ["x", *(name for name, _ in rnn.named_parameters())]

    def loss_of(out, finals, events):
        return ((out * weights).mean() + sum(c.pow(2).mean() for c in finals)
                + 0.1 * sum(e.mean() for e in events))

    grads = torch.autograd.grad(loss_of(y, c_n, rnn.last_events), inputs)
    ref_grads = torch.autograd.grad(loss_of(ref_y, ref_cn, ref_events), inputs)
    for name, g, r in zip(names, grads, ref_grads):
        assert r.abs().max() > 0 or name.startswith("bias"), f"reference gradient of {name} is all zero"
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5, msg=lambda m: f"gradient of {name}: {m}")


def test_initial_state_and_its_gradient_match_reference():
    rnn, x = well_separated_case(8, 2, steps=50)
    torch.manual_seed(1)
    y0 = (0.1 * torch.randn(2, 3, 8)).requires_grad_(True)
    c0 = (0.1 * torch.randn(2, 3, 8)).requires_grad_(True)
    y, (y_n, c_n) = rnn(x, (y0, c0))
    ref_y, _, _, ref_cn, _ = reference_for(rnn, x, (list(y0), list(c0)))
    torch.testing.assert_close(y, ref_y, atol=1e-6, rtol=0)
    g = torch.autograd.grad(y.sum() + c_n.sum(), (y0, c0))
    r = torch.autograd.grad(ref_y.sum() + sum(c.sum() for c in ref_cn), (y0, c0))
    for a, b in zip(g, r):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_generic_snntorch_surrogate_runs_the_step_loop_and_matches_reference():
    from snntorch import surrogate

    rnn, x = well_separated_case(8, 2, steps=40, spike_grad=surrogate.atan())
    y, _ = rnn(x)
    ref_y = reference_for(rnn, x)[0]
    torch.testing.assert_close(y, ref_y, atol=1e-6, rtol=0)


@pytest.mark.parametrize("reset_code,events,signed", [(0, True, False), (1, True, False), (2, True, False),
                                                     (0, False, False), (0, True, True), (1, True, True),
                                                     (2, True, True)])
def test_fused_kernel_gradcheck_float64(reset_code, events, signed):
    torch.manual_seed(3)
    steps, batch, inputs, hidden = 5, 2, 3, 4
    args = [
        torch.randn(steps, batch, inputs, dtype=torch.float64),
        0.3 * torch.randn(batch, hidden, dtype=torch.float64),
        0.3 * torch.randn(batch, hidden, dtype=torch.float64),
        torch.randn(3 * hidden, inputs, dtype=torch.float64),
        torch.randn(3 * hidden, hidden, dtype=torch.float64),
        0.5 * torch.randn(3 * hidden, dtype=torch.float64),
        0.5 * torch.randn(3 * hidden, dtype=torch.float64),
        torch.rand(hidden, dtype=torch.float64) * 0.3 + 0.05,
    ]
    for a in args:
        a.requires_grad_(True)
    smooth = SmoothStep(dampening=0.9, width=1.5)

    def fn(*tensors):
        ys, es, c_n = EGRUSequenceFunction.apply(*tensors, smooth, reset_code, events, signed)
        return (ys, c_n) if es is None else (ys, es, c_n)

    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("signed", [False, True])
def test_fused_kernel_candidates_output_gradcheck_float64(signed):
    """The optional fourth output c~ [T, B, H] (the dense readout diagnostic) and its gradient."""
    torch.manual_seed(4)
    steps, batch, inputs, hidden = 4, 2, 3, 4
    args = [torch.randn(steps, batch, inputs, dtype=torch.float64), 0.3 * torch.randn(batch, hidden, dtype=torch.float64),
            0.3 * torch.randn(batch, hidden, dtype=torch.float64), torch.randn(3 * hidden, inputs, dtype=torch.float64),
            torch.randn(3 * hidden, hidden, dtype=torch.float64), 0.5 * torch.randn(3 * hidden, dtype=torch.float64),
            0.5 * torch.randn(3 * hidden, dtype=torch.float64), torch.rand(hidden, dtype=torch.float64) * 0.3 + 0.05]
    for a in args:
        a.requires_grad_(True)
    smooth = SmoothStep(dampening=0.9, width=1.5)

    def fn(*tensors):
        ys, es, c_n, c_tilde = EGRUSequenceFunction.apply(*tensors, smooth, 0, True, signed, True)
        return ys, es, c_n, c_tilde

    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-7, rtol=1e-5)
    ys, es, _, c_tilde = fn(*args)
    torch.testing.assert_close(ys, c_tilde * es, atol=1e-12, rtol=0)


def test_signed_step_follows_its_equations():
    """egru_step(polarity="signed") against the equations written out: e = H(|c~| - theta),
    y = c~ e, c = c~ - e sign(c~) theta, with c~ from the same step without events."""
    from snntorch_egru.functional import EGRUParameters, EGRUState, egru_step_with_events

    torch.manual_seed(5)
    batch, inputs, hidden = 64, 5, 7
    params = EGRUParameters(2 * torch.randn(3 * hidden, inputs, dtype=torch.float64),
                            2 * torch.randn(3 * hidden, hidden, dtype=torch.float64),
                            torch.randn(3 * hidden, dtype=torch.float64), torch.randn(3 * hidden, dtype=torch.float64),
                            torch.rand(hidden, dtype=torch.float64) * 0.4 + 0.05)
    state = EGRUState(torch.randn(batch, hidden, dtype=torch.float64), torch.randn(batch, hidden, dtype=torch.float64))
    x = torch.randn(batch, inputs, dtype=torch.float64)
    c_tilde, _, _ = egru_step_with_events(x, state, params, events=False)
    y, new, e = egru_step_with_events(x, state, params, polarity="signed")
    fired = (c_tilde.abs() > params.threshold).to(torch.float64)
    assert 0 < fired.mean() < 1 and (y < 0).any() and (y > 0).any()
    torch.testing.assert_close(e, fired, atol=0, rtol=0)
    torch.testing.assert_close(y, c_tilde * fired, atol=0, rtol=0)
    torch.testing.assert_close(new.c, c_tilde - fired * torch.sign(c_tilde) * params.threshold, atol=0, rtol=0)
    with pytest.raises(ValueError, match="polarity must be one of"):
        egru_step_with_events(x, state, params, polarity="negative")


def test_events_false_reproduces_torch_gru_multi_layer():
    torch.manual_seed(0)
    gru = nn.GRU(5, 12, num_layers=3)
    rnn = EGRU.from_gru(gru, events=False)
    x = torch.randn(80, 4, 5, requires_grad=True)
    h0 = 0.5 * torch.randn(3, 4, 12)
    out, h_n = gru(x, h0)
    y, (y_n, c_n) = rnn(x, (h0, h0))
    torch.testing.assert_close(y, out, atol=1e-6, rtol=0)
    torch.testing.assert_close(y_n, h_n, atol=1e-6, rtol=0)
    torch.testing.assert_close(c_n, h_n, atol=1e-6, rtol=0)
    gru_names = [name for name, _ in gru.named_parameters()]
    g_ref = torch.autograd.grad(out.pow(2).mean(), [x, *gru.parameters()])
    g = torch.autograd.grad(y.pow(2).mean(), [x, *(getattr(rnn, name) for name in gru_names)])
    for name, a, b in zip(["x", *gru_names], g, g_ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=lambda m: f"gradient of {name}: {m}")


def test_batch_first_and_unbatched_agree_with_time_first():
    rnn, x = well_separated_case(8, 2, steps=30)
    y, (y_n, c_n) = rnn(x)
    rnn.batch_first = True
    y_bf, (y_n_bf, c_n_bf) = rnn(x.transpose(0, 1))
    torch.testing.assert_close(y_bf.transpose(0, 1), y, atol=0, rtol=0)
    torch.testing.assert_close(c_n_bf, c_n, atol=0, rtol=0)
    rnn.batch_first = False
    y_single, (_, c_single) = rnn(x[:, 0])
    torch.testing.assert_close(y_single, y[:, 0], atol=1e-6, rtol=0)
    torch.testing.assert_close(c_single, c_n[:, 0], atol=1e-6, rtol=0)


def test_carrying_state_across_segments_equals_one_long_run():
    rnn, x = well_separated_case(8, 2, steps=60)
    y_full, (y_n, c_n) = rnn(x)
    y_a, state = rnn(x[:25])
    y_b, (y_n2, c_n2) = rnn(x[25:], state)
    torch.testing.assert_close(torch.cat([y_a, y_b]), y_full, atol=1e-6, rtol=0)
    torch.testing.assert_close(c_n2, c_n, atol=1e-6, rtol=0)


def test_models_can_be_copied_after_a_training_forward_pass():
    import copy
    import pickle

    from snntorch_egru import EGRUCell, EGRULanguageModel

    lm = EGRULanguageModel(20, 8, [8], tie_weights=True)
    lm(torch.randint(0, 20, (5, 2)))
    twin = copy.deepcopy(lm)
    assert twin.readout.weight is twin.embedding.weight
    assert torch.equal(twin.embedding.weight, lm.embedding.weight)
    cell = EGRUCell(3, 4, init_hidden=True)
    cell(torch.randn(2, 3))
    cell_twin = pickle.loads(pickle.dumps(cell))
    assert torch.equal(cell_twin.c, cell.c) and not cell_twin.c.requires_grad
