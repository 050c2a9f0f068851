"""Fused EGRU sequence kernel: one autograd Function over a whole sequence of one layer.

The forward pass runs the time loop without building an autograd graph and keeps only
what the backward pass needs (gate activations, the recurrent candidate term, the
pre-reset state, the events). The backward pass first computes, for all time steps at
once, every factor that depends only on forward values (gate derivatives, surrogate
slopes, post-reset states), then runs the reverse recurrence with a handful of
pointwise ops and one matmul per step, and finally computes every weight gradient with
one matmul over all time steps. The maths is the one of
:func:`snntorch_egru.functional.egru_step`; the tests check this kernel against it
(forward, gradients, and a float64 gradcheck with a smooth event function).

Event functions are objects with ``step(v)`` (forward H) and ``derivative(v)`` (the
pseudo-derivative used in the backward pass), e.g.
:class:`snntorch_egru.surrogate.TriangleSurrogate`. One whose ``strict_heaviside``
attribute is true promises ``step(v) == (v > 0)``, which the forward loop then
computes with a single comparison.

Options after ``events`` (positional, both default False): ``signed`` and
``return_candidates``. Signed events (``signed=True``): the event function sees
``|c~| - theta`` and the subtractive reset removes ``sign(c~) * theta``
(:func:`snntorch_egru.functional.egru_step` with ``polarity="signed"``); the backward
pass multiplies the gradient through the event argument by ``sign(c~)``.
``return_candidates=True`` adds a fourth output, the pre-reset states c~ [T, B, H],
differentiable (a readout of the dense state, for diagnostics).
"""

from __future__ import annotations

import torch

from egru_format import RESET_MECHANISMS

#: Reset mechanism -> the integer code the kernels take (this kernel, the event-driven C kernel).
RESET_CODES = {mechanism: code for code, mechanism in enumerate(RESET_MECHANISMS)}
SUBTRACT, ZERO, NONE = RESET_CODES["subtract"], RESET_CODES["zero"], RESET_CODES["none"]


def _post_reset(c_tilde: torch.Tensor, e: torch.Tensor, threshold: torch.Tensor, reset_code: int,
                signed: bool = False) -> torch.Tensor:
    if reset_code == SUBTRACT:
        return torch.addcmul(c_tilde, e, torch.sign(c_tilde) * threshold if signed else threshold, value=-1.0)
    if reset_code == ZERO:
        return torch.addcmul(c_tilde, e, c_tilde, value=-1.0)
    return c_tilde


class EGRUSequenceFunction(torch.autograd.Function):
    """``(ys, es, c_n) = f(x, y0, c0, W_ih, W_hh, b_ih, b_hh, threshold, event_fn, reset_code, events[, signed])``.

    Shapes: x [T, B, I]; y0, c0 [B, H]; W_ih [3H, I]; W_hh [3H, H]; b_ih, b_hh [3H];
    threshold [H]. Returns graded events ys [T, B, H], events es [T, B, H] (floats with
    pseudo-gradient; None when ``events`` is False) and the final state c_n [B, H].
    With ``events`` False the layer is a plain GRU and ``c0`` must equal ``y0``. The
    optional ``signed`` (default False) selects signed events (module docstring).
    """

    @staticmethod
    def forward(ctx, x, y0, c0, weight_ih, weight_hh, bias_ih, bias_hh, threshold, event_fn, reset_code, events,
                *options):
        if len(options) > 2:
            raise TypeError(f"EGRUSequenceFunction takes at most two options (signed, return_candidates), "
                            f"got {len(options)}")
        signed = bool(options[0]) if options else False
        return_candidates = bool(options[1]) if len(options) > 1 else False
        steps, batch, _ = x.shape
        hidden = weight_hh.shape[1]
        h2 = 2 * hidden
        weight_ih_t, weight_hh_t = weight_ih.t(), weight_hh.t()
        new = x.new_empty
        rz = new(steps, batch, h2)
        n = new(steps, batch, hidden)
        c_tilde = new(steps, batch, hidden)
        ys = new(steps, batch, hidden) if events else c_tilde
        es = new(steps, batch, hidden) if events else None
        gates_h = new(batch, 3 * hidden)
        fires = torch.empty(batch, hidden, dtype=torch.bool, device=x.device)
        strict = bool(getattr(event_fn, "strict_heaviside", False))
        c_buffers = (new(batch, hidden), new(batch, hidden))
        y_prev, c_prev = y0, c0
        chunk = _chunk_steps(steps, batch)
        for begin in range(0, steps, chunk):
            end = min(steps, begin + chunk)
            # input projection for a chunk of steps at once (one matmul, bounded memory)
            gates_x = torch.addmm(bias_ih, x[begin:end].reshape((end - begin) * batch, -1),
                                  weight_ih_t).view(end - begin, batch, 3 * hidden)
            for t in range(begin, end):
                g_x = gates_x[t - begin]
                torch.addmm(bias_hh, y_prev, weight_hh_t, out=gates_h)
                rz_t, n_t, c_t = rz[t], n[t], c_tilde[t]
                torch.add(g_x[:, :h2], gates_h[:, :h2], out=rz_t).sigmoid_()
                torch.addcmul(g_x[:, h2:], rz_t[:, :hidden], gates_h[:, h2:], out=n_t).tanh_()
                torch.lerp(n_t, c_prev, rz_t[:, hidden:], out=c_t)
                if not events:
                    c_prev = y_prev = c_t
                    continue
                e_t = es[t]
                if strict:
                    torch.gt(c_t.abs() if signed else c_t, threshold, out=fires)
                    e_t.copy_(fires)
                else:
                    e_t.copy_(event_fn.step((c_t.abs() if signed else c_t) - threshold))
                torch.mul(c_t, e_t, out=ys[t])
                y_prev = ys[t]
                if reset_code == NONE:
                    c_prev = c_t
                else:
                    c_prev = c_buffers[t % 2]
                    if reset_code == SUBTRACT:
                        amount = torch.sign(c_t).mul_(threshold) if signed else threshold
                    else:
                        amount = c_t
                    torch.addcmul(c_t, e_t, amount, value=-1.0, out=c_prev)
        ctx.event_fn = event_fn
        ctx.reset_code = reset_code
        ctx.events = events
        ctx.signed = signed
        ctx.num_options = len(options)
        # Strict events are recomputed in the backward pass as (c~ > theta) instead of being kept.
        saved_es = es if events and not strict else None
        ctx.save_for_backward(x, y0, c0, weight_ih, weight_hh, bias_hh, threshold, rz, n, c_tilde, ys, saved_es)
        c_n = c_prev.clone()
        outputs = (ys, es, c_n) if events else (ys.clone(), None, c_n)
        if return_candidates:
            outputs += (c_tilde.clone(),)
        return outputs

    @staticmethod
    def backward(ctx, grad_ys, grad_es, grad_c_n, *grad_extra):
        grad_candidates = grad_extra[0] if grad_extra else None
        x, y0, c0, weight_ih, weight_hh, bias_hh, threshold, rz, n, c_tilde, ys, saved_es = ctx.saved_tensors
        events, reset_code, event_fn, signed = ctx.events, ctx.reset_code, ctx.event_fn, ctx.signed
        steps, batch, _ = x.shape
        hidden = weight_hh.shape[1]
        h2 = 2 * hidden
        needs = ctx.needs_input_grad

        def events_of(rows: slice) -> torch.Tensor:
            if saved_es is not None:
                return saved_es[rows]
            magnitude = c_tilde[rows].abs() if signed else c_tilde[rows]
            return (magnitude > threshold).to(c_tilde.dtype)

        def post_reset(rows: slice) -> torch.Tensor:
            if not events:
                return c_tilde[rows]
            return _post_reset(c_tilde[rows], events_of(rows), threshold, reset_code, signed)

        grad_x = x.new_empty(x.shape) if needs[0] else None
        grad_w_ih = x.new_zeros(weight_ih.shape) if needs[3] else None
        grad_w_hh = x.new_zeros(weight_hh.shape) if needs[4] else None
        grad_b_ih = x.new_zeros(3 * hidden) if needs[5] else None
        grad_b_hh = x.new_zeros(3 * hidden) if needs[6] else None
        grad_y_rec = x.new_zeros(batch, hidden)
        grad_c = grad_c_n.clone() if grad_c_n is not None else x.new_zeros(batch, hidden)
        grad_y = x.new_empty(batch, hidden)
        grad_e = x.new_empty(batch, hidden)
        grad_c_tilde = x.new_empty(batch, hidden)
        if events:
            grad_v_sum = x.new_zeros(batch, hidden)
            grad_reset_sum = x.new_zeros(batch, hidden) if reset_code == SUBTRACT else None

        # Reverse time in chunks: per chunk, the factors that depend on forward values only
        # are computed for all its steps at once, and the weight gradients with one matmul.
        chunk = _chunk_steps(steps, batch)
        for end in range(steps, 0, -chunk):
            begin = max(0, end - chunk)
            rows = slice(begin, end)
            r, z, n_c = rz[rows, :, :hidden], rz[rows, :, hidden:], n[rows]
            if begin == 0:
                c_prev = torch.cat([c0.unsqueeze(0), post_reset(slice(0, end - 1))])
                y_prev = torch.cat([y0.unsqueeze(0), ys[0:end - 1]])
            else:
                c_prev = post_reset(slice(begin - 1, end - 1))
                y_prev = ys[begin - 1:end - 1]
            # the recurrent candidate term U_n y_{t-1} + b_Un, recomputed rather than kept
            h_n = torch.addmm(bias_hh[h2:], y_prev.reshape(-1, hidden), weight_hh[h2:].t()).view_as(n_c)
            factor_z = (c_prev - n_c).mul_(z).mul_(1.0 - z)          # d c~ / d a_z
            factor_n = (1.0 - z).mul_(1.0 - n_c * n_c)                # d c~ / d a_n
            factor_r = (1.0 - r).mul_(r).mul_(h_n)                    # d a_n / d a_r (through r * h_n)
            del c_prev, h_n
            if events:
                e_c = events_of(rows)
                if signed:
                    sign_c = torch.sign(c_tilde[rows])                       # d|c~| / dc~
                    slope = event_fn.derivative(c_tilde[rows].abs() - threshold)
                    signed_threshold = sign_c * threshold                      # what the reset subtracts
                    signed_events = e_c * sign_c                               # d c / d theta = -e sign(c~)
                else:
                    slope = event_fn.derivative(c_tilde[rows] - threshold)
            grad_gates_h = x.new_empty(end - begin, batch, 3 * hidden)  # [d a_r, d a_z, d a_n * r]
            grad_n_pre = x.new_empty(end - begin, batch, hidden)        # d a_n
            for t in range(end - 1, begin - 1, -1):
                i = t - begin
                if grad_ys is None:
                    grad_y.copy_(grad_y_rec)
                else:
                    torch.add(grad_ys[t], grad_y_rec, out=grad_y)
                if events:
                    c_t, e_t = c_tilde[t], e_c[i]
                    # dL/de = dL/dy * c~ + dL/dc * dc/de (+ a direct gradient on the events)
                    torch.mul(grad_y, c_t, out=grad_e)
                    if grad_es is not None:
                        grad_e += grad_es[t]
                    if reset_code == SUBTRACT:
                        grad_e.addcmul_(grad_c, signed_threshold[i] if signed else threshold, value=-1.0)
                        grad_reset_sum.addcmul_(grad_c, signed_events[i] if signed else e_t)
                        torch.addcmul(grad_c, grad_y, e_t, out=grad_c_tilde)
                    elif reset_code == ZERO:
                        grad_e.addcmul_(grad_c, c_t, value=-1.0)
                        torch.sub(grad_y, grad_c, out=grad_c_tilde).mul_(e_t).add_(grad_c)
                    else:
                        torch.addcmul(grad_c, grad_y, e_t, out=grad_c_tilde)
                    grad_e.mul_(slope[i])                  # dL/dv with v = c~ - theta (or |c~| - theta)
                    grad_v_sum += grad_e
                    if signed:
                        grad_c_tilde.addcmul_(grad_e, sign_c[i])
                    else:
                        grad_c_tilde += grad_e
                else:
                    torch.add(grad_y, grad_c, out=grad_c_tilde)
                if grad_candidates is not None:
                    grad_c_tilde += grad_candidates[t]
                g_t, gn = grad_gates_h[i], grad_n_pre[i]
                torch.mul(grad_c_tilde, factor_z[i], out=g_t[:, hidden:h2])
                torch.mul(grad_c_tilde, factor_n[i], out=gn)
                torch.mul(gn, factor_r[i], out=g_t[:, :hidden])
                torch.mul(gn, r[i], out=g_t[:, h2:])
                grad_c = grad_c_tilde * z[i]
                grad_y_rec = g_t @ weight_hh
            _accumulate_weight_gradients(
                x[rows], y_prev, weight_ih, grad_gates_h, grad_n_pre,
                grad_x[rows] if grad_x is not None else None, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh,
            )

        grad_threshold = None
        if events:
            grad_threshold = -grad_v_sum.sum(0)
            if grad_reset_sum is not None:
                grad_threshold -= grad_reset_sum.sum(0)
        return (grad_x, grad_y_rec, grad_c, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh,
                grad_threshold, None, None, None) + (None,) * ctx.num_options


_CHUNK_ROWS = 256  # rows (steps x batch) per chunk: big enough for efficient matmuls, small in memory


def _chunk_steps(steps: int, batch: int) -> int:
    return max(1, min(steps, _CHUNK_ROWS // max(batch, 1)))


def _accumulate_weight_gradients(x_rows, y_prev, weight_ih, grad_gates_h, grad_n_pre,
                                 grad_x_rows, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh):
    """Add one chunk's contribution to the input and weight gradients (one matmul each)."""
    count, batch, three_h = grad_gates_h.shape
    hidden = three_h // 3
    h2 = 2 * hidden
    flat_g_h = grad_gates_h.view(count * batch, three_h)
    flat_g_n = grad_n_pre.view(count * batch, hidden)
    flat_x = x_rows.reshape(count * batch, -1)
    if grad_x_rows is not None:
        torch.addmm(flat_g_n @ weight_ih[h2:], flat_g_h[:, :h2], weight_ih[:h2],
                    out=grad_x_rows.view(count * batch, -1))
    if grad_w_ih is not None:
        grad_w_ih[:h2].addmm_(flat_g_h[:, :h2].t(), flat_x)
        grad_w_ih[h2:].addmm_(flat_g_n.t(), flat_x)
    if grad_w_hh is not None:
        grad_w_hh.addmm_(flat_g_h.t(), y_prev.reshape(count * batch, hidden))
    if grad_b_ih is not None:
        grad_b_ih[:h2] += flat_g_h[:, :h2].sum(0)
        grad_b_ih[h2:] += flat_g_n.sum(0)
    if grad_b_hh is not None:
        grad_b_hh += flat_g_h.sum(0)
