r"""Quantisation-aware training: the deployed arithmetic in floating point, with straight-through gradients.

:func:`quantization_aware` wraps an ``EGRU`` or ``EGRULanguageModel`` in a
:class:`QuantizationAware` module that shares its parameters and puts every quantity on
its fixed-point grid (docs/fixed-point.md): weights on ``mantissa * 2**s``, biases and
thresholds on their formats, Dense outputs floored to F_a, sums saturated to 24 bits,
products rounded half up, PLAN gates (:func:`fake_sigmoid_q`, :func:`fake_tanh_q`).
Rounding is the identity in the backward pass (straight-through, :math:`\partial
\lfloor v \rceil / \partial v := 1`), events use the model's surrogate, saturation has
the clamp's gradient. The neuron is the model's: events :math:`e = H(\tilde c - \vartheta)`,
or :math:`H(|\tilde c| - \vartheta)` with ``polarity="signed"``, and its reset (the signed
"subtract" removes :math:`\mathrm{sign}(\tilde c)\,\vartheta`, exact on the grid). In float64
(the default) the forward pass equals the integer mode
(:func:`~snntorch_egru.quantization.to_integer`) bit for bit, for both neurons.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.quantization import calibrate, to_integer
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(3, 8, threshold=0.05)
    >>> x = torch.randn(20, 4, 3)
    >>> q = calibrate(rnn, x)
    >>> qat = quantization_aware(rnn, q)
    >>> y, _ = qat(x)
    >>> torch.equal(y, to_integer(rnn, q)(x).output.double())
    True
    >>> y.sum().backward()                     # straight-through: the float parameters get gradients
    >>> rnn.weight_ih_l0.grad.abs().sum() > 0
    tensor(True)
    >>> _ = qat.project_()                     # after an optimiser step: back into the representable range
    >>> float(fake_sigmoid_q(torch.tensor(1.0))), float(fake_tanh_q(torch.tensor(0.25)))   # PLAN on 12 bits
    (0.75, 0.25)
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from egru_format import FRAC_GATE, GATE_ONE, INT24_MAX, INT24_MIN, MANTISSA_MAX, MANTISSA_MIN, DenseQuantization
from egru_format import EGRUQuantization

from ..functional import egru_reset, event_argument
from ..language_model import EGRULanguageModel
from ..layer import EGRU
from .formats import QuantizationSpec
from .integer import integer_layers
from .layout import layer_plan, recurrent_stack
from .models import to_integer

__all__ = ["fake_sigmoid_q", "fake_tanh_q", "fake_quantize_dense", "project_dense_", "QuantizationAware",
           "quantization_aware"]


def _ste(value: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """Forward ``quantized``, backward identity (straight-through)."""
    return value + (quantized - value).detach()


def _pow2(frac: int) -> float:
    return math.ldexp(1.0, frac)


def _fq_round(v: torch.Tensor, frac: int) -> torch.Tensor:
    """Round half up to the 2**-frac grid (emulates rshift_round), straight-through."""
    scale = _pow2(frac)
    return _ste(v, torch.floor(v * scale + 0.5) / scale)


def _fq_floor(v: torch.Tensor, frac: int) -> torch.Tensor:
    """Floor to the 2**-frac grid (emulates the Dense ``>>``), straight-through."""
    scale = _pow2(frac)
    return _ste(v, torch.floor(v * scale) / scale)


def _fq_sat(v: torch.Tensor, frac: int) -> torch.Tensor:
    """sat24 on the 2**-frac grid (gradient zero where it clips)."""
    scale = _pow2(frac)
    return v.clamp(INT24_MIN / scale, INT24_MAX / scale)


def _fq_round_away(v: torch.Tensor, scale: float, low: int, high: int) -> torch.Tensor:
    """``clip(round_half_away(v * scale), low, high) / scale``, straight-through."""
    q = (torch.sign(v) * torch.floor(v.abs() * scale + 0.5)).clamp(low, high) / scale
    return _ste(v, q)


def _fq_param(v: torch.Tensor, frac: int, low: int = INT24_MIN) -> torch.Tensor:
    """round_half_away to the 2**-frac grid, clipped to [low, 2**23 - 1], straight-through."""
    return _fq_round_away(v, _pow2(frac), low, INT24_MAX)


def _fq_weight(w: torch.Tensor, scale_exp: int) -> torch.Tensor:
    """``clip(round_half_away(W / 2**s), -127, 127) * 2**s``, straight-through."""
    return _fq_round_away(w, _pow2(-scale_exp), MANTISSA_MIN, MANTISSA_MAX)


def fake_sigmoid_q(x: torch.Tensor) -> torch.Tensor:
    """``sigmoid_q`` in floating point: equals ``sigmoid_q(a, F) / 4096`` for ``x = a / 2**F`` (any F >= 0).

    The rounding ``rshift_round(m, F - 7)`` of ``m = |a|`` is ``floor(|x| * 128 + 1/2)``
    on the real value, so the result does not depend on F. Backward: PLAN's slopes
    (straight-through rounding).
    """
    m = x.abs()
    p3 = (_ste(m * 128, torch.floor(m * 128 + 0.5)) + 3456) / GATE_ONE
    p2 = (_ste(m * 512, torch.floor(m * 512 + 0.5)) + 2560) / GATE_ONE
    p1 = (_ste(m * 1024, torch.floor(m * 1024 + 0.5)) + 2048) / GATE_ONE
    f = torch.where(m >= 5, torch.ones_like(m), torch.where(m >= 2.375, p3, torch.where(m >= 1, p2, p1)))
    return torch.where(x >= 0, f, 1 - f)


def fake_tanh_q(x: torch.Tensor) -> torch.Tensor:
    """``tanh_q`` in floating point: ``2 * fake_sigmoid_q(2x) - 1``."""
    return 2 * fake_sigmoid_q(2 * x) - 1


def fake_quantize_dense(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                        q: DenseQuantization) -> torch.Tensor:
    """Quantisation-aware forward of a Dense layer on messages ``x`` that are already on their grid.

    ``sat(floor_F(x @ W_q^T) + b_q)`` with ``W_q`` = the weights on ``mantissa * 2**s``,
    ``b_q`` the bias on ``2**-F`` (F = ``q.frac_state``), straight-through rounding and the
    clamp's gradient, in ``x``'s dtype: with float64 and ``x`` from a :class:`QuantizationAware`
    forward it equals :func:`integer_dense_layer` run by :class:`IntegerNetwork` (divided by
    ``2**F``) bit for bit.
    """
    wq = _fq_weight(weight.to(x.dtype), q.scale_exp)
    out = _fq_floor(x @ wq.t(), q.frac_state)
    if bias is not None:
        out = out + _fq_param(bias.to(x.dtype), q.frac_state)
    return _fq_sat(out, q.frac_state)


@torch.no_grad()
def project_dense_(weight: torch.Tensor, bias: Optional[torch.Tensor], q: DenseQuantization) -> None:
    """Clamp a Dense layer's parameters in place into what ``q`` can represent (after an optimiser step)."""
    bound = math.ldexp(1.0, q.scale_exp)
    weight.clamp_(MANTISSA_MIN * bound, MANTISSA_MAX * bound)
    if bias is not None:
        limit = math.ldexp(INT24_MAX, -q.frac_state)
        bias.clamp_(-limit, limit)


class QuantizationAware(nn.Module):
    """Quantisation-aware forward pass of an ``EGRU`` or ``EGRULanguageModel`` (shares its parameters).

    Every quantity is put on its fixed-point grid as docs/fixed-point.md prescribes:
    weights to ``mantissa * 2**s``, biases and thresholds to their formats, Dense outputs
    floored to F_a, sums saturated to 24 bits, products rounded half up, PLAN
    sigmoid/tanh on 12-bit gates. Rounding is straight-through in the backward pass,
    events use the model's surrogate (on ``c~ - theta``, or ``|c~| - theta`` for a
    signed-event model), saturation has the clamp's gradient.

    With ``dtype=torch.float64`` (the default) every intermediate is exact, so the
    forward pass equals the integer mode (:func:`to_integer`) bit for bit (as long as no
    Dense output wraps at int32, which the integer mode counts as ``"dense"``
    overflow). In float32 it is faster and matches up to rounding of the float32
    matmuls (a few LSB, occasionally a flipped event).

    Call :meth:`project_` after each optimiser step to keep the parameters
    representable (weights within the mantissa range, thresholds >= 1 LSB).
    Dropout of the wrapped model applies in training mode (not part of the arithmetic).

    ``forward`` takes what the model takes and returns ``(output, state)`` in ``dtype``;
    ``state`` is ``(ys, cs)``, per EGRU layer [B, H] tensors, to pass back.
    """

    def __init__(self, model, quantization: QuantizationSpec, *, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.model = model
        self.quantization = quantization
        self.dtype = dtype
        self.plan = layer_plan(model)
        self.last_events: list = []
        integer_layers(model, quantization)  # validates the spec against the model now

    @property
    def rnn(self) -> EGRU:
        return recurrent_stack(self.model)

    def forward(self, x: torch.Tensor, state=None):
        model, q, dtype = self.model, self.quantization, self.dtype
        lm = isinstance(model, EGRULanguageModel)
        unbatched = False
        if lm:
            model._check_tokens(x)
        else:
            if x.dim() == 2:
                unbatched, x = True, x.unsqueeze(1)
            elif model.batch_first:
                x = x.transpose(0, 1)
            if x.dim() != 3 or x.shape[-1] != model.input_size:
                raise ValueError(f"input must be [T, B, {model.input_size}], got {tuple(x.shape)}")
            x = _fq_param(x.to(dtype), q.frac_input)
        rnn = self.rnn
        ys0, cs0 = self._initial_state(state, x.shape[1], unbatched)
        ys_n, cs_n, self.last_events = [], [], []
        egru_k = 0
        for k, ((name, kind, index), lq) in enumerate(zip(self.plan, q.layers)):
            if kind == "dense":
                if name == "embedding":
                    wq = _fq_weight(model.embedding.weight.t().to(dtype), lq.scale_exp)
                    x = _fq_sat(_fq_floor(wq.t()[x], lq.frac_state), lq.frac_state)
                else:
                    x = fake_quantize_dense(x, model.readout.weight, model.readout.bias, lq)
                if name == "embedding" and model.dropout_embedding and self.training:
                    x = nn.functional.dropout(x, model.dropout_embedding, training=True)
                continue
            ys, es, y, c = self._run_layer(x, ys0[egru_k], cs0[egru_k], index, lq)
            x = ys
            ys_n.append(y)
            cs_n.append(c)
            self.last_events.append(es)
            egru_k += 1
            if self.training:
                last = egru_k == rnn.num_layers
                p = (model.dropout_output if lm else 0.0) if last else rnn.dropout
                if p:
                    x = nn.functional.dropout(x, p, training=True)
        if unbatched:
            x = x.squeeze(1)
            ys_n = [t.squeeze(0) for t in ys_n]
            cs_n = [t.squeeze(0) for t in cs_n]
        elif not lm and model.batch_first:
            x = x.transpose(0, 1)
        return x, (tuple(ys_n), tuple(cs_n))

    def _initial_state(self, state, batch: int, unbatched: bool):
        sizes = self.rnn.hidden_sizes
        if state is None:
            ys = [torch.zeros(batch, h, dtype=self.dtype) for h in sizes]
            return ys, [y.clone() for y in ys]
        ys, cs = state
        ys = [t.unsqueeze(0) if unbatched else t for t in ys]
        cs = [t.unsqueeze(0) if unbatched else t for t in cs]
        if len(ys) != len(sizes) or len(cs) != len(sizes):
            raise ValueError(f"state must hold one (y, c) per EGRU layer ({len(sizes)})")
        return [t.to(self.dtype) for t in ys], [t.to(self.dtype) for t in cs]

    def _run_layer(self, x, y, c, index: int, lq: EGRUQuantization):
        rnn, dtype = self.rnn, self.dtype
        p = rnn.layer_parameters(index)
        H = rnn.hidden_sizes[index]
        fa, fc = lq.frac_preact, lq.frac_state
        w_ih = _fq_weight(p.weight_ih.to(dtype), lq.scale_exp_ih)
        w_hh = _fq_weight(p.weight_hh.to(dtype), lq.scale_exp_hh)
        zeros = torch.zeros(3 * H, dtype=dtype)
        b_ih = zeros if p.bias_ih is None else _fq_param(p.bias_ih.to(dtype), fa)
        b_hh = zeros if p.bias_hh is None else _fq_param(p.bias_hh.to(dtype), fa)
        theta = _fq_param(p.threshold.to(dtype), fc, low=1)
        bx_r, bx_z, bx_n = b_ih.split(H)
        bh_r, bh_z, bh_n = b_hh.split(H)
        ax_all = _fq_floor(x @ w_ih.t(), fa)
        ys, es = [], []
        for t in range(ax_all.shape[0]):
            ax_r, ax_z, ax_n = ax_all[t].split(H, -1)
            ah_r, ah_z, ah_n = _fq_floor(y @ w_hh.t(), fa).split(H, -1)
            r = fake_sigmoid_q(_fq_sat(ax_r + bx_r + ah_r + bh_r, fa))
            z = fake_sigmoid_q(_fq_sat(ax_z + bx_z + ah_z + bh_z, fa))
            hn = _fq_sat(ah_n + bh_n, fa)
            n = fake_tanh_q(_fq_sat(ax_n + bx_n + _fq_round(r * hn, fa), fa))
            nc = n if fc >= FRAC_GATE else _fq_round(n, fc)
            c_tilde = _fq_sat(nc + _fq_round(z * (c - nc), fc), fc)
            if not rnn.events:
                y = c = c_tilde
                ys.append(y)
                continue
            e = rnn.spike_grad(event_argument(c_tilde, theta, rnn.polarity))
            y = c_tilde * e
            if rnn.reset_mechanism == "subtract":     # the reset's sign(c~) theta is exact on the grid
                c = _fq_sat(egru_reset(c_tilde, e, theta, "subtract", rnn.polarity), fc)
            else:
                c = egru_reset(c_tilde, e, theta, rnn.reset_mechanism, rnn.polarity)
            ys.append(y)
            es.append(e)
        return torch.stack(ys), (torch.stack(es) if rnn.events else None), y, c

    @torch.no_grad()
    def project_(self) -> "QuantizationAware":
        """Clamp parameters into the representable ranges (weights, biases, thresholds); returns self."""
        model, rnn = self.model, self.rnn
        for (name, kind, index), lq in zip(self.plan, self.quantization.layers):
            if kind == "dense":
                if name == "embedding":
                    project_dense_(model.embedding.weight, None, lq)
                else:
                    project_dense_(model.readout.weight, model.readout.bias, lq)
                continue
            for attr, s in (("weight_ih", lq.scale_exp_ih), ("weight_hh", lq.scale_exp_hh)):
                bound = math.ldexp(1.0, s)
                getattr(rnn, f"{attr}_l{index}").clamp_(MANTISSA_MIN * bound, MANTISSA_MAX * bound)
            limit = math.ldexp(INT24_MAX, -lq.frac_preact)
            for attr in ("bias_ih", "bias_hh"):
                b = getattr(rnn, f"{attr}_l{index}")
                if b is not None:
                    b.clamp_(-limit, limit)
            theta = getattr(rnn, f"threshold_l{index}")
            theta.clamp_(math.ldexp(1.0, -lq.frac_state), math.ldexp(INT24_MAX, -lq.frac_state))
        return self

    def to_integer(self):
        """The integer model of the wrapped model with this spec (:func:`to_integer`)."""
        return to_integer(self.model, self.quantization)

    def activity(self):
        """Fraction of nonzero events per EGRU layer and pooled, over the last forward pass."""
        from ..activity import activity_statistics

        if not self.last_events or any(e is None for e in self.last_events):
            raise RuntimeError("activity() needs a forward pass with events first")
        return activity_statistics(self.last_events)


def quantization_aware(model, quantization: QuantizationSpec, *, dtype: torch.dtype = torch.float64) \
        -> QuantizationAware:
    """A :class:`QuantizationAware` wrapper: train it (its parameters are ``model``'s) to fine-tune for the
    integer mode."""
    return QuantizationAware(model, quantization, dtype=dtype)
