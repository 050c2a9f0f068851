"""Fused EGRU sequence kernel: one autograd Function over a whole sequence of one layer.

The forward pass runs the time loop without building an autograd graph and keeps only
what the backward pass needs (gate activations, the pre-reset state, the events).
The backward pass runs the recurrence in reverse by hand, then computes every weight
gradient with one matmul over all time steps. The maths is the one of
:func:`snntorch_egru.functional.egru_step`; the tests check this kernel against it.

Event functions are objects with ``step(v)`` (forward H) and ``derivative(v)`` (the
pseudo-derivative used in the backward pass), e.g.
:class:`snntorch_egru.surrogate.TriangleSurrogate`.
"""

from __future__ import annotations

import torch

RESET_CODES = {"subtract": 0, "zero": 1, "none": 2}


def _reset(c_tilde: torch.Tensor, e: torch.Tensor, threshold: torch.Tensor, reset_code: int) -> torch.Tensor:
    if reset_code == 0:
        return torch.addcmul(c_tilde, e, threshold, value=-1.0)
    if reset_code == 1:
        return torch.addcmul(c_tilde, e, c_tilde, value=-1.0)
    return c_tilde


class EGRUSequenceFunction(torch.autograd.Function):
    """``(ys, es, c_n) = f(x, y0, c0, W_ih, W_hh, b_ih, b_hh, threshold)`` for one layer.

    Shapes: x [T, B, I]; y0, c0 [B, H]; W_ih [3H, I]; W_hh [3H, H]; b_ih, b_hh [3H];
    threshold [H]. Returns graded events ys [T, B, H], events es [T, B, H] (floats with
    pseudo-gradient; None when ``events`` is False) and the final state c_n [B, H].
    """

    @staticmethod
    def forward(ctx, x, y0, c0, weight_ih, weight_hh, bias_ih, bias_hh, threshold, event_fn, reset_code, events):
        steps, batch, _ = x.shape
        hidden = weight_hh.shape[1]
        h2 = 2 * hidden
        gates_x = torch.addmm(bias_ih, x.reshape(steps * batch, -1), weight_ih.t()).view(steps, batch, 3 * hidden)
        weight_hh_t = weight_hh.t()
        new = x.new_empty
        rz = new(steps, batch, h2)
        n = new(steps, batch, hidden)
        h_n = new(steps, batch, hidden)
        c_tilde = new(steps, batch, hidden)
        ys = new(steps, batch, hidden) if events else c_tilde
        es = new(steps, batch, hidden) if events else None
        gates_h = new(batch, 3 * hidden)
        y_prev, c_prev = y0, c0
        for t in range(steps):
            torch.addmm(bias_hh, y_prev, weight_hh_t, out=gates_h)
            rz_t, n_t, c_t = rz[t], n[t], c_tilde[t]
            torch.add(gates_x[t, :, :h2], gates_h[:, :h2], out=rz_t).sigmoid_()
            h_n[t].copy_(gates_h[:, h2:])
            torch.addcmul(gates_x[t, :, h2:], rz_t[:, :hidden], h_n[t], out=n_t).tanh_()
            torch.sub(c_prev, n_t, out=c_t).mul_(rz_t[:, hidden:]).add_(n_t)
            if events:
                e_t = es[t]
                e_t.copy_(event_fn.step(c_t - threshold))
                torch.mul(c_t, e_t, out=ys[t])
                c_prev = _reset(c_t, e_t, threshold, reset_code)
                y_prev = ys[t]
            else:
                c_prev = y_prev = c_t
        ctx.event_fn = event_fn
        ctx.reset_code = reset_code
        ctx.events = events
        ctx.save_for_backward(x, y0, c0, weight_ih, weight_hh, threshold, rz, n, h_n, c_tilde, ys, es)
        c_n = c_prev.clone() if c_prev is c_tilde[-1] else c_prev
        if events:
            return ys, es, c_n
        return ys.clone(), None, c_n

    @staticmethod
    def backward(ctx, grad_ys, grad_es, grad_c_n):
        x, y0, c0, weight_ih, weight_hh, threshold, rz, n, h_n, c_tilde, ys, es = ctx.saved_tensors
        events, reset_code, event_fn = ctx.events, ctx.reset_code, ctx.event_fn
        steps, batch, _ = x.shape
        hidden = weight_hh.shape[1]
        h2 = 2 * hidden
        grad_gates_h = x.new_empty(steps, batch, 3 * hidden)
        grad_n_pre = x.new_empty(steps, batch, hidden)
        grad_y_rec = x.new_zeros(batch, hidden)
        grad_c = grad_c_n.clone() if grad_c_n is not None else x.new_zeros(batch, hidden)
        grad_threshold = x.new_zeros(hidden) if events else None
        for t in range(steps - 1, -1, -1):
            grad_y = grad_y_rec if grad_ys is None else grad_ys[t] + grad_y_rec
            c_t = c_tilde[t]
            if events:
                e_t = es[t]
                grad_e = grad_y * c_t
                if grad_es is not None:
                    grad_e += grad_es[t]
                grad_c_tilde = grad_y * e_t
                if reset_code == 0:
                    grad_e.addcmul_(grad_c, threshold, value=-1.0)
                    grad_c_tilde += grad_c
                    grad_threshold.sub_((grad_c * e_t).sum(0))
                elif reset_code == 1:
                    grad_e.addcmul_(grad_c, c_t, value=-1.0)
                    grad_c_tilde.addcmul_(grad_c, 1.0 - e_t)
                else:
                    grad_c_tilde += grad_c
                grad_v = grad_e.mul_(event_fn.derivative(c_t - threshold))
                grad_c_tilde += grad_v
                grad_threshold.sub_(grad_v.sum(0))
            else:
                grad_c_tilde = grad_y + grad_c
            if t == 0:
                c_prev = c0
            elif events:
                c_prev = _reset(c_tilde[t - 1], es[t - 1], threshold, reset_code)
            else:
                c_prev = c_tilde[t - 1]
            r = rz[t, :, :hidden]
            z = rz[t, :, hidden:]
            n_t = n[t]
            g_t = grad_gates_h[t]
            # z gate: dL/da_z = dc~ (c_{t-1} - n) z (1 - z)
            torch.sub(c_prev, n_t, out=g_t[:, hidden:h2]).mul_(grad_c_tilde).mul_(z * (1.0 - z))
            # candidate: dL/da_n = dc~ (1 - z) (1 - n^2)
            gn = grad_n_pre[t]
            torch.mul(n_t, n_t, out=gn).neg_().add_(1.0).mul_(1.0 - z).mul_(grad_c_tilde)
            # reset gate: dL/da_r = dL/da_n * h_n * r (1 - r)
            torch.mul(gn, h_n[t], out=g_t[:, :hidden]).mul_(r * (1.0 - r))
            torch.mul(gn, r, out=g_t[:, h2:])
            grad_c = grad_c_tilde * z
            grad_y_rec = g_t @ weight_hh
        flat_g_h = grad_gates_h.view(steps * batch, 3 * hidden)
        flat_x = x.reshape(steps * batch, -1)
        needs = ctx.needs_input_grad
        grad_x = grad_w_ih = grad_w_hh = grad_b_ih = grad_b_hh = None
        if needs[0]:
            grad_x = torch.addmm(
                (grad_n_pre.view(steps * batch, hidden) @ weight_ih[h2:]),
                flat_g_h[:, :h2], weight_ih[:h2],
            ).view_as(x)
        if needs[3]:
            grad_w_ih = x.new_empty(weight_ih.shape)
            torch.mm(flat_g_h[:, :h2].t(), flat_x, out=grad_w_ih[:h2])
            torch.mm(grad_n_pre.view(steps * batch, hidden).t(), flat_x, out=grad_w_ih[h2:])
        if needs[4]:
            y_prev = torch.cat([y0.unsqueeze(0), ys[:-1]]).view(steps * batch, hidden)
            grad_w_hh = flat_g_h.t() @ y_prev
        if needs[5]:
            grad_b_ih = torch.cat([flat_g_h[:, :h2].sum(0), grad_n_pre.view(steps * batch, hidden).sum(0)])
        if needs[6]:
            grad_b_hh = flat_g_h.sum(0)
        return (grad_x, grad_y_rec, grad_c, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh,
                grad_threshold, None, None, None)
