r"""Whole models in exact integer arithmetic: :func:`to_integer` and the network it runs.

:func:`to_integer` gives an :class:`IntegerEGRU` or an :class:`IntegerEGRULanguageModel`;
both run an :class:`IntegerNetwork` (a stack of the integer layers of
:mod:`snntorch_egru.quantization.integer`) and return an :class:`IntegerResult`: the
integer outputs, their float view ``output_int / 2**frac``, the state to pass back and
the overflow counters of the call (:func:`new_overflow_counters`, keys
``OVERFLOW_KEYS``). Vector inputs are quantised once,
``x_int = sat24(round_half_away(x * 2**F_in))``; token inputs are one-hot integers 1.
Each EGRU layer runs the torch model's neuron: its reset mechanism and its event
polarity (``"positive"``, or ``"signed"``: events where ``|c~| > theta``, negative
messages and states included; :func:`~snntorch_egru.quantization.egru_step_int`).

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.quantization import calibrate
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(3, 8, threshold=0.05)
    >>> x = torch.randn(20, 4, 3)
    >>> result = to_integer(rnn, calibrate(rnn, x))(x)
    >>> result.output_int.dtype, result.frac, result.overflow_total
    (torch.int64, 15, 0)
    >>> torch.equal(result.output, (result.output_int / 2**result.frac).float())
    True
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Sequence

import torch

from egru_format import OVERFLOW_KEYS
from egru_format.integer import INPUT_CLAMP

from ..language_model import EGRULanguageModel
from ..layer import EGRU
from .formats import QuantizationSpec
from .integer import IntegerDenseLayer, IntegerEGRULayer, egru_step_int, integer_layers
from .primitives import dense_int, round_half_away, sat24, shift, wrap32

__all__ = ["IntegerResult", "IntegerNetwork", "IntegerEGRU", "IntegerEGRULanguageModel", "new_overflow_counters",
           "to_integer"]


def new_overflow_counters(names: Sequence[str]) -> Dict[str, Dict[str, int]]:
    """Zeroed overflow counters ``{name: {key: 0 for key in OVERFLOW_KEYS}}`` for :meth:`IntegerNetwork.run`."""
    return {name: {key: 0 for key in OVERFLOW_KEYS} for name in names}


class IntegerResult(NamedTuple):
    """What an integer model returns.

    Attributes:
        output: float view ``output_int / 2**frac`` (float32; float64 views with ``.output_int``).
        output_int: int64 outputs (graded events of the last layer, or logits).
        frac: fractional bits of ``output_int``.
        state: ``(ys, cs)``: per EGRU layer the int64 [B, H] graded output and state (pass it back).
        overflow: ``{layer name: {counter: count}}`` for this call.
        events: per EGRU layer, bool events [T, B, H] (None with events=False).
    """

    output: torch.Tensor
    output_int: torch.Tensor
    frac: int
    state: tuple
    overflow: dict
    events: list

    @property
    def overflow_total(self) -> int:
        return sum(sum(counts.values()) for counts in self.overflow.values())


class IntegerNetwork:
    """Runs a stack of integer layers (:class:`IntegerDenseLayer`, :class:`IntegerEGRULayer`) over a
    [T, B, in] int64 message tensor; the building block of :class:`IntegerEGRU` and
    :class:`IntegerEGRULanguageModel`, usable for any other stack of these layers (e.g. an EGRU
    with a Dense readout: ``integer_layers(rnn, spec) + [integer_dense_layer(...)]``).
    ``run(messages, state, overflow)`` returns ``(output, (ys, cs), events)``; ``overflow`` is
    :func:`new_overflow_counters` of ``["input"] + [layer.name ...]``.
    """

    def __init__(self, layers: list, frac_input: int):
        self.layers = layers
        self.frac_input = frac_input

    @property
    def egru_layers(self) -> list:
        return [layer for layer in self.layers if isinstance(layer, IntegerEGRULayer)]

    def _initial_state(self, state, batch: int):
        egrus = self.egru_layers
        if state is None:
            ys = [torch.zeros(batch, layer.hidden_size, dtype=torch.int64) for layer in egrus]
            return ys, [y.clone() for y in ys]
        ys, cs = state
        ys, cs = list(ys), list(cs)
        if len(ys) != len(egrus) or len(cs) != len(egrus):
            raise ValueError(f"state must hold one (y, c) per EGRU layer ({len(egrus)})")
        for k, (y, c, layer) in enumerate(zip(ys, cs, egrus)):
            for what, t in (("y", y), ("c", c)):
                if t.dtype != torch.int64 or tuple(t.shape) != (batch, layer.hidden_size):
                    raise ValueError(f"state {what}[{k}] must be int64 of shape {(batch, layer.hidden_size)}, "
                                     f"got {t.dtype} {tuple(t.shape)}")
        return ys, cs

    def run(self, messages: torch.Tensor, state, overflow: dict, *, one_hot: bool = False):
        """``messages``: int64 [T, B, in] (or token ids [T, B] if ``one_hot``)."""
        batch = messages.shape[1]
        ys0, cs0 = self._initial_state(state, batch)
        x = messages
        ys_n, cs_n, events = [], [], []
        egru_k = 0
        for k, layer in enumerate(self.layers):
            counts = overflow[layer.name]
            if isinstance(layer, IntegerDenseLayer):
                if one_hot and k == 0:   # dense on a one-hot vector = one column of the weights
                    acc = layer.weight.t()[x]
                    x = wrap32(shift(acc, layer.weight_exp), counts, "dense")
                else:
                    x = dense_int(x, layer.weight, layer.weight_exp, counts, cached=layer._cached)
                if layer.bias is not None:
                    x = x + layer.bias
                x = sat24(x, counts, "output")
                continue
            ax_all = dense_int(x, layer.weight_ih, layer.weight_exp_ih, counts, cached=layer._cached_ih)
            y, c = ys0[egru_k], cs0[egru_k]
            ys, es = [], []
            for t in range(ax_all.shape[0]):
                y, c, e = egru_step_int(None, y, c, layer, counts, ax=ax_all[t])
                ys.append(y)
                es.append(e)
            x = torch.stack(ys)
            ys_n.append(y)
            cs_n.append(c)
            events.append(torch.stack(es) if layer.events else None)
            egru_k += 1
        return x, (tuple(ys_n), tuple(cs_n)), events


class IntegerEGRU:
    """An :class:`~snntorch_egru.EGRU` in exact integer arithmetic (docs/fixed-point.md).

    ``IntegerEGRU(model, quantization)(x, state=None)`` takes float inputs shaped as the
    model takes them ([T, B, I], [B, T, I] with ``batch_first``, or [T, I]), quantises
    them to ``frac_input`` (``sat24(round_half_away(x * 2**F_in))``, counted as
    ``overflow["input"]["input"]``) and returns an :class:`IntegerResult` whose
    ``output_int`` holds the last layer's graded events in its ``frac_state``.
    ``run_integer(x_int, state)`` takes already quantised int64 inputs [T, B, I].
    """

    def __init__(self, model: EGRU, quantization: QuantizationSpec):
        if not isinstance(model, EGRU):
            raise TypeError(f"IntegerEGRU needs an snntorch_egru.EGRU, got {type(model).__name__}")
        self.quantization = quantization
        self.layers = integer_layers(model, quantization)
        self.frac_input = quantization.frac_input
        self.frac_output = quantization.output_frac
        self.batch_first = model.batch_first
        self.input_size = model.input_size
        self._network = IntegerNetwork(self.layers, self.frac_input)

    def quantize_input(self, x: torch.Tensor, overflow: Optional[dict] = None) -> torch.Tensor:
        """``sat24(round_half_away(x * 2**frac_input))`` as int64."""
        scaled = torch.ldexp(x.detach().to(torch.float64), torch.tensor(float(self.frac_input), dtype=torch.float64))
        if not bool(torch.isfinite(scaled).all()):
            raise ValueError("input contains NaN/Inf")
        q = round_half_away(scaled.clamp(-INPUT_CLAMP, INPUT_CLAMP)).to(torch.int64)
        return sat24(q, overflow, "input")

    def run_integer(self, x_int: torch.Tensor, state=None) -> IntegerResult:
        if x_int.dtype != torch.int64 or x_int.dim() != 3 or x_int.shape[-1] != self.input_size:
            raise ValueError(f"x_int must be int64 [T, B, {self.input_size}], got {x_int.dtype} {tuple(x_int.shape)}")
        overflow = new_overflow_counters(["input"] + [layer.name for layer in self.layers])
        return self._finish(x_int, state, overflow)

    def _finish(self, x_int, state, overflow, unbatched=False, batch_first=False) -> IntegerResult:
        out, state, events = self._network.run(x_int, state, overflow)
        if unbatched:
            out = out.squeeze(1)
            state = tuple(tuple(t.squeeze(0) for t in part) for part in state)
        elif batch_first:
            out = out.transpose(0, 1)
        view = torch.ldexp(out.to(torch.float64), torch.tensor(-float(self.frac_output), dtype=torch.float64))
        return IntegerResult(view.float(), out, self.frac_output, state, overflow, events)

    def __call__(self, x: torch.Tensor, state=None) -> IntegerResult:
        if x.dim() not in (2, 3):
            raise ValueError(f"input must be [T, B, I] or [T, I], got shape {tuple(x.shape)}")
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            if state is not None:
                state = tuple(tuple(t.unsqueeze(0) for t in part) for part in state)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input has {x.shape[-1]} features, expected {self.input_size}")
        overflow = new_overflow_counters(["input"] + [layer.name for layer in self.layers])
        x_int = self.quantize_input(x, overflow["input"])
        return self._finish(x_int, state, overflow, unbatched, self.batch_first and not unbatched)


class IntegerEGRULanguageModel:
    """An :class:`~snntorch_egru.EGRULanguageModel` in exact integer arithmetic.

    ``(tokens [T, B], state=None) -> IntegerResult`` with ``output_int`` the logits
    [T, B, V] in the readout's ``frac_state`` and ``output`` the float logits.
    """

    def __init__(self, model: EGRULanguageModel, quantization: QuantizationSpec):
        if not isinstance(model, EGRULanguageModel):
            raise TypeError(f"IntegerEGRULanguageModel needs an EGRULanguageModel, got {type(model).__name__}")
        self.quantization = quantization
        self.layers = integer_layers(model, quantization)
        self.frac_output = quantization.output_frac
        self.vocab_size = model.vocab_size
        self._network = IntegerNetwork(self.layers, 0)

    def __call__(self, tokens: torch.Tensor, state=None) -> IntegerResult:
        if tokens.dtype not in (torch.int64, torch.int32) or tokens.dim() != 2:
            raise ValueError(f"tokens must be integer ids [T, B], got {tokens.dtype} {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.vocab_size})")
        overflow = new_overflow_counters([layer.name for layer in self.layers])
        out, state, events = self._network.run(tokens.long(), state, overflow, one_hot=True)
        view = torch.ldexp(out.to(torch.float64), torch.tensor(-float(self.frac_output), dtype=torch.float64))
        return IntegerResult(view.float(), out, self.frac_output, state, overflow, events)


def to_integer(model, quantization: QuantizationSpec):
    """:class:`IntegerEGRU` or :class:`IntegerEGRULanguageModel` of ``model`` (parameters copied now)."""
    if isinstance(model, EGRULanguageModel):
        return IntegerEGRULanguageModel(model, quantization)
    if isinstance(model, EGRU):
        return IntegerEGRU(model, quantization)
    raise TypeError(f"to_integer needs an EGRU or EGRULanguageModel, got {type(model).__name__}")
