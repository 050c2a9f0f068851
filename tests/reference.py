"""Plain roll-out of :func:`snntorch_egru.functional.egru_step`: the reference the tests compare against."""

from __future__ import annotations

import torch

from snntorch_egru.functional import EGRUState, egru_step_with_events


class SmoothStep:
    """A differentiable stand-in for H whose exact derivative is the triangle (for gradcheck).

    step(v) is the integral of dampening * max(0, 1 - width |v|) shifted to be 0 far below
    zero, so numerical and analytical derivatives agree and gradcheck can verify every
    formula of the hand-written backward pass.
    """

    def __init__(self, dampening=0.7, width=1.0):
        self.dampening, self.width = dampening, width

    def step(self, v):
        a = 1.0 / self.width
        u = v.clamp(-a, a)
        inner = u + a - self.width * (u * u.abs() + a * a) / 2.0
        area = self.dampening * a
        return torch.where(v >= a, torch.full_like(v, area), self.dampening * inner)

    def derivative(self, v):
        return (1.0 - self.width * v.abs()).clamp(min=0.0) * self.dampening

    def __call__(self, v):
        return self.step(v)


def rollout(x, layer_params, y0s, c0s, *, spike_fn=None, reset_mechanism="subtract", events=True,
            polarity="positive"):
    """Run stacked layers step by step. Returns (ys_last [T,B,H], per-layer events, final y's, final c's, c~ per layer)."""
    layer_input = x
    events_per_layer, y_n, c_n, c_tildes = [], [], [], []
    for params, y0, c0 in zip(layer_params, y0s, c0s):
        state = EGRUState(y0, c0)
        ys, es, cts = [], [], []
        for x_t in layer_input:
            c_prev = state.c
            y_t, state, e_t = egru_step_with_events(
                x_t, state, params, spike_fn=spike_fn, reset_mechanism=reset_mechanism, events=events,
                polarity=polarity,
            )
            ys.append(y_t)
            es.append(e_t)
            cts.append(_pre_reset(y_t, state.c, e_t, params.threshold, reset_mechanism, events, polarity))
        layer_input = torch.stack(ys)
        events_per_layer.append(torch.stack(es) if events else None)
        c_tildes.append(torch.stack(cts))
        y_n.append(state.y)
        c_n.append(state.c)
    return layer_input, events_per_layer, y_n, c_n, c_tildes


def _pre_reset(y, c, e, threshold, reset_mechanism, events, polarity):
    if not events:
        return c
    if reset_mechanism == "subtract":
        if polarity == "signed":   # a fired unit's y is c~ itself; a silent one was not reset
            return torch.where(e > 0, y, c)
        return c + e * threshold
    if reset_mechanism == "none":
        return c
    return torch.where(e > 0, y, c)


def threshold_margin(c_tildes, thresholds, polarity="positive") -> float:
    """Smallest |c~ - theta| (signed events: ||c~| - theta|) over all layers, steps, samples and units."""
    def seen(ct):
        return ct.abs() if polarity == "signed" else ct
    return min(float((seen(ct) - th).detach().abs().min()) for ct, th in zip(c_tildes, thresholds))
