r"""``EGRU``: stacked EGRU layers over whole sequences, with ``torch.nn.GRU``'s conventions.

Each layer follows :mod:`snntorch_egru.functional` (see there for the equations);
layer :math:`k+1` reads layer :math:`k`'s graded events :math:`y`, so both the
recurrent and the layer-to-layer matmuls act on activity-sparse inputs.

Threshold positivity: thresholds are stored as given (``threshold_l{k}``, shape [H])
and used through a straight-through clamp at ``min_threshold`` (forward:
``max(theta, min_threshold)``; backward: identity), so events are always defined by
a positive threshold and a threshold pushed below the floor can still recover.

State: unlike the reference implementation, which restarts ``c`` at zero and
carries only ``y`` between segments, this layer carries both ``y`` and ``c``
(``forward`` returns ``(y_n, c_n)`` and accepts them back). Passing ``state=(y0, None)``
restarts ``c`` at zero as the reference does.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(input_size=8, hidden_size=16, num_layers=2, threshold=0.1)
    >>> x = torch.randn(50, 4, 8)            # [T, B, I]
    >>> y, (y_n, c_n) = rnn(x)
    >>> y.shape, y_n.shape, c_n.shape
    (torch.Size([50, 4, 16]), torch.Size([2, 4, 16]), torch.Size([2, 4, 16]))
    >>> stats = rnn.activity()               # fraction of nonzero y, per layer and pooled
    >>> len(stats.per_layer)
    2
"""

from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence, Union

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from egru_format import RESET_MECHANISMS

from ._checks import check_finite, check_shape, check_size, check_tensor, positive_threshold, threshold_tensor
from ._sequence import RESET_CODES, EGRUSequenceFunction
from .activity import ActivityStats, activity_statistics
from .functional import EGRUParameters, EGRUState, check_polarity, egru_step_with_events
from .surrogate import triangle

__all__ = ["EGRU"]

HiddenSize = Union[int, Sequence[int]]


class EGRU(nn.Module):
    r"""Event-based GRU over sequences: a drop-in for ``torch.nn.GRU`` with activity-sparse outputs.

    Args:
        input_size: features per input step, I.
        hidden_size: units per layer, an int or one int per layer.
        num_layers: number of stacked layers (implied by a list ``hidden_size``).
        bias: learn ``bias_ih_l{k}`` and ``bias_hh_l{k}``.
        batch_first: inputs and outputs are [B, T, .] instead of [T, B, .].
        dropout: dropout on each layer's output except the last (training only).
        events: False turns every layer into a plain GRU (y = c, no thresholds):
            it then reproduces ``torch.nn.GRU`` with the same weights.
        threshold: initial per-unit threshold: a float, a [H] tensor, or one per layer.
        learn_threshold: thresholds are Parameters (True) or buffers.
        spike_grad: event function with a pseudo-derivative (snnTorch's ``spike_grad``
            convention). Default ``triangle()``. Functions that expose ``step`` and
            ``derivative`` (like ``triangle``) run the fused sequence kernel; any other
            snnTorch surrogate runs a per-step autograd loop.
        reset_mechanism: ``"subtract"`` (EGRU), ``"zero"`` or ``"none"``.
        min_threshold: floor of the straight-through threshold clamp.
        polarity: ``"positive"`` (the reference neuron: events where c~ > theta) or
            ``"signed"`` (events where |c~| > theta, carrying the sign of c~, reset
            towards zero by sign(c~) * theta; see :mod:`snntorch_egru.functional`).

    Inputs: ``x`` [T, B, I] (or [B, T, I] with ``batch_first``, or unbatched [T, I]);
    ``state`` None (zeros) or ``(y0, c0)`` with each [L, B, H] (a sequence of per-layer
    [B, H_k] tensors when the layer sizes differ); ``c0=None`` means zeros.

    Outputs: ``y`` (graded events of the last layer, shaped like x with H features) and
    ``(y_n, c_n)`` in the same layout as the state.

    Variable-length batches: ``x`` may be a ``torch.nn.utils.rnn.PackedSequence``
    (``pack_padded_sequence``), with ``torch.nn.GRU``'s semantics: ``y`` is packed like
    ``x``, ``(y_n, c_n)`` hold each sequence's state after its own last step, in the
    batch order of the unpacked input (the initial state is given in that order too).
    The layers run on each run of steps with the same number of live sequences, carrying
    the finished sequences' states aside, so no padding is ever computed, and
    :meth:`activity` and the operation counts see only real steps.

    Learnable parameters: ``weight_ih_l{k}`` [3H, I_k], ``weight_hh_l{k}`` [3H, H],
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` [3H] (gate order r, z, n), ``threshold_l{k}`` [H].
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: HiddenSize,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        events: bool = True,
        threshold=0.1,
        learn_threshold: bool = True,
        spike_grad=None,
        reset_mechanism: str = "subtract",
        min_threshold: float = 1e-3,
        device=None,
        dtype=None,
        polarity: str = "positive",
    ):
        super().__init__()
        input_size = check_size("input_size", input_size)
        num_layers = check_size("num_layers", num_layers)
        if isinstance(hidden_size, numbers.Integral) and not isinstance(hidden_size, bool):
            hidden_sizes = [check_size("hidden_size", hidden_size)] * num_layers
        else:
            try:
                if isinstance(hidden_size, (str, bytes)):
                    raise TypeError
                hidden_size = list(hidden_size)
            except TypeError:
                raise TypeError(f"hidden_size must be an int or a sequence of ints (one per layer), got "
                                f"{type(hidden_size).__name__} {hidden_size!r}") from None
            if len(hidden_size) == 0:
                raise ValueError("hidden_size is an empty sequence: give one size per layer")
            hidden_sizes = [check_size(f"hidden_size[{k}]", h) for k, h in enumerate(hidden_size)]
            if num_layers not in (1, len(hidden_sizes)):
                raise ValueError(
                    f"num_layers={num_layers} disagrees with the {len(hidden_sizes)} sizes in hidden_size"
                )
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
            raise TypeError(f"dropout must be a number in [0, 1), got {type(dropout).__name__} {dropout!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if reset_mechanism not in RESET_MECHANISMS:
            raise ValueError(f"reset_mechanism must be one of {RESET_MECHANISMS}, got {reset_mechanism!r}")
        if not min_threshold > 0:
            raise ValueError(f"min_threshold must be > 0, got {min_threshold}")
        self.polarity = check_polarity(polarity)
        self.input_size = int(input_size)
        self.hidden_sizes = hidden_sizes
        self.num_layers = len(hidden_sizes)
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.events = events
        self.learn_threshold = learn_threshold
        self.spike_grad = spike_grad if spike_grad is not None else triangle()
        self.reset_mechanism = reset_mechanism
        self.min_threshold = float(min_threshold)
        self.last_events: list = []
        #: Set True to keep each layer's pre-reset states c~ [T, B, H] of the next forward passes in
        #: ``last_candidates`` (differentiable; a diagnostic readout of the dense state).
        self.record_candidates = False
        self.last_candidates: list = []
        thresholds = self._per_layer_thresholds(threshold, dtype)
        factory = {"device": device, "dtype": dtype}
        layer_input = self.input_size
        for k, hidden in enumerate(hidden_sizes):
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(3 * hidden, layer_input, **factory)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(3 * hidden, hidden, **factory)))
            if bias:
                self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(3 * hidden, **factory)))
                self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(3 * hidden, **factory)))
            else:
                self.register_parameter(f"bias_ih_l{k}", None)
                self.register_parameter(f"bias_hh_l{k}", None)
            theta = thresholds[k].to(**{key: v for key, v in factory.items() if v is not None})
            if learn_threshold:
                self.register_parameter(f"threshold_l{k}", nn.Parameter(theta))
            else:
                self.register_buffer(f"threshold_l{k}", theta)
            layer_input = hidden
        self.reset_parameters()

    def _per_layer_thresholds(self, threshold, dtype) -> list:
        if isinstance(threshold, (list, tuple)):
            if len(threshold) != len(self.hidden_sizes):
                raise ValueError(f"got {len(threshold)} thresholds for {len(self.hidden_sizes)} layers")
            return [threshold_tensor(t, h, f"threshold of layer {k}", dtype=dtype)
                    for k, (t, h) in enumerate(zip(threshold, self.hidden_sizes))]
        return [threshold_tensor(threshold, h, f"threshold of layer {k}", dtype=dtype)
                for k, h in enumerate(self.hidden_sizes)]

    def reset_parameters(self) -> None:
        """``torch.nn.GRU``'s initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)). Thresholds are kept."""
        for k, hidden in enumerate(self.hidden_sizes):
            bound = 1.0 / math.sqrt(hidden)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                tensor = getattr(self, f"{name}_l{k}")
                if tensor is not None:
                    nn.init.uniform_(tensor, -bound, bound)

    @property
    def hidden_size(self):
        """The layer size as an int when all layers are equal, else the list of sizes."""
        sizes = set(self.hidden_sizes)
        return self.hidden_sizes[0] if len(sizes) == 1 else list(self.hidden_sizes)

    def layer_parameters(self, k: int) -> EGRUParameters:
        """Layer ``k``'s parameters as used in the forward pass (threshold after the positivity clamp)."""
        if not 0 <= k < self.num_layers:
            raise IndexError(f"layer {k} out of range for {self.num_layers} layers")
        return EGRUParameters(
            getattr(self, f"weight_ih_l{k}"),
            getattr(self, f"weight_hh_l{k}"),
            getattr(self, f"bias_ih_l{k}"),
            getattr(self, f"bias_hh_l{k}"),
            positive_threshold(getattr(self, f"threshold_l{k}"), self.min_threshold, f"threshold_l{k}"),
        )

    @classmethod
    def from_gru(cls, gru: nn.GRU, **kwargs) -> "EGRU":
        """An EGRU with a ``torch.nn.GRU``'s weights (same gate order, copied as is).

        Keyword arguments (``events``, ``threshold``, ...) go to the constructor; the
        sizes, bias, batch_first and dropout come from ``gru``.
        """
        if not isinstance(gru, nn.GRU):
            raise TypeError(f"from_gru needs a torch.nn.GRU, got {type(gru).__name__}")
        if gru.bidirectional or getattr(gru, "proj_size", 0):
            raise ValueError("from_gru supports unidirectional GRUs without projections only")
        weight = gru.weight_ih_l0
        model = cls(gru.input_size, gru.hidden_size, gru.num_layers, bias=gru.bias, batch_first=gru.batch_first,
                    dropout=gru.dropout, device=weight.device, dtype=weight.dtype, **kwargs)
        with torch.no_grad():
            for k in range(gru.num_layers):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    source = getattr(gru, f"{name}_l{k}", None)
                    if source is not None:
                        getattr(model, f"{name}_l{k}").copy_(source)
        return model

    def forward(self, x: torch.Tensor, state=None):
        if isinstance(x, PackedSequence):
            return self._forward_packed(x, state)
        reference = self.weight_ih_l0
        check_tensor("input", x, dtype=reference.dtype, device=reference.device)
        if x.dim() not in (2, 3):
            raise ValueError(
                f"input must have rank 3 ([T, B, I]{' batch_first: [B, T, I]' if self.batch_first else ''}) "
                f"or rank 2 (unbatched [T, I]), got shape {tuple(x.shape)}"
            )
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        steps, batch, features = x.shape
        if features != self.input_size:
            raise ValueError(f"input has {features} features per step but the layer expects input_size={self.input_size}")
        if steps == 0:
            raise ValueError("input has no time steps (T = 0)")
        check_finite("input", x)
        y0s, c0s, stacked = self._initial_state(state, batch, unbatched, x)
        if batch == 0:
            return self._empty_batch(x, y0s, c0s, stacked)
        layer_input = x.contiguous()
        y_n, c_n, self.last_events, self.last_candidates = [], [], [], []
        for k in range(self.num_layers):
            params = self.layer_parameters(k)
            ys, es, c_last, *candidates = self._run_layer(layer_input, y0s[k], c0s[k], params)
            self.last_candidates.extend(candidates)
            y_n.append(ys[-1])
            c_n.append(c_last)
            self.last_events.append(es)
            layer_input = ys
            if self.dropout and self.training and k < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
        output = layer_input
        if unbatched:
            output = output.squeeze(1)
            y_n = [t.squeeze(0) for t in y_n]
            c_n = [t.squeeze(0) for t in c_n]
        elif self.batch_first:
            output = output.transpose(0, 1)
        if stacked:
            return output, (torch.stack(y_n), torch.stack(c_n))
        return output, (tuple(y_n), tuple(c_n))

    def _forward_packed(self, packed: PackedSequence, state):
        """:meth:`forward` on a ``PackedSequence`` (see the class docstring)."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        reference = self.weight_ih_l0
        check_tensor("input (PackedSequence data)", data, dtype=reference.dtype, device=reference.device)
        if data.dim() != 2 or data.shape[1] != self.input_size:
            raise ValueError(f"PackedSequence data must have shape [N, input_size={self.input_size}], "
                             f"got {tuple(data.shape)}")
        check_finite("input", data)
        sizes = [int(b) for b in batch_sizes]
        batch = sizes[0]
        y0s, c0s, stacked = self._initial_state(state, batch, False, data)
        if sorted_indices is not None:   # the state is given in the unpacked batch order
            y0s = [y.index_select(0, sorted_indices) for y in y0s]
            c0s = [c.index_select(0, sorted_indices) for c in c0s]
        params = [self.layer_parameters(k) for k in range(self.num_layers)]
        ys_state, cs_state = list(y0s), list(c0s)
        outputs, events, candidates = [], [[] for _ in params], [[] for _ in params]
        begin, row = 0, 0
        while begin < len(sizes):          # one run of steps with the same number of live sequences
            live = sizes[begin]
            end = begin
            while end < len(sizes) and sizes[end] == live:
                end += 1
            rows = (end - begin) * live
            layer_input = data[row:row + rows].view(end - begin, live, self.input_size)
            for k, layer_params in enumerate(params):
                ys, es, c_last, *c_tildes = self._run_layer(layer_input.contiguous(), ys_state[k][:live],
                                                           cs_state[k][:live], layer_params)
                ys_state[k] = torch.cat([ys[-1], ys_state[k][live:]])
                cs_state[k] = torch.cat([c_last, cs_state[k][live:]])
                events[k].append(es.reshape(rows, -1) if es is not None else None)
                candidates[k].extend(c.reshape(rows, -1) for c in c_tildes)
                layer_input = ys
                if self.dropout and self.training and k < self.num_layers - 1:
                    layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
            outputs.append(layer_input.reshape(rows, -1))
            begin, row = end, row + rows
        self.last_events = [torch.cat(e) if self.events else None for e in events]
        self.last_candidates = [torch.cat(c) for c in candidates if c]
        if unsorted_indices is not None:
            ys_state = [y.index_select(0, unsorted_indices) for y in ys_state]
            cs_state = [c.index_select(0, unsorted_indices) for c in cs_state]
        output = PackedSequence(torch.cat(outputs), batch_sizes, sorted_indices, unsorted_indices)
        if stacked:
            return output, (torch.stack(ys_state), torch.stack(cs_state))
        return output, (tuple(ys_state), tuple(cs_state))

    def _empty_batch(self, x: torch.Tensor, y0s: list, c0s: list, stacked: bool):
        """Batch size 0, as ``torch.nn.GRU``: an empty output [T, 0, H] ([0, T, H] batch_first)
        and the (empty) initial state back as the final state."""
        # empty, but part of the graph as nn.GRU's is (a backward pass gives zero gradients)
        output = x.new_zeros(x.shape[0], 0, self.hidden_sizes[-1]) + self.weight_ih_l0.sum() * 0.0
        if self.batch_first:
            output = output.transpose(0, 1)
        self.last_events = [x.new_zeros(x.shape[0], 0, h) if self.events else None for h in self.hidden_sizes]
        if stacked:
            return output, (torch.stack(y0s), torch.stack(c0s))
        return output, (tuple(y0s), tuple(c0s))

    def _initial_state(self, state, batch: int, unbatched: bool, x: torch.Tensor):
        uniform = len(set(self.hidden_sizes)) == 1
        if state is None:
            zeros = [x.new_zeros(batch, h) for h in self.hidden_sizes]
            return zeros, [z.clone() for z in zeros], uniform
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError("state must be a pair (y0, c0) (c0 may be None), as returned by forward")
        y0, c0 = state
        stacked = isinstance(y0, torch.Tensor)
        y0s = self._state_part("state y0", y0, batch, unbatched, x)
        c0s = [y.new_zeros(y.shape) for y in y0s] if c0 is None else self._state_part("state c0", c0, batch, unbatched, x)
        return y0s, c0s, stacked

    def _state_part(self, name: str, part, batch: int, unbatched: bool, x: torch.Tensor) -> list:
        if isinstance(part, torch.Tensor):
            if len(set(self.hidden_sizes)) != 1:
                raise ValueError(f"{name}: layer sizes differ {self.hidden_sizes}; pass one [B, H_k] tensor per layer")
            shape = (self.num_layers, self.hidden_sizes[0]) if unbatched else (self.num_layers, batch, self.hidden_sizes[0])
            check_tensor(name, part, dtype=x.dtype, device=x.device)
            check_shape(name, part, shape, "[layers, H]" if unbatched else "[layers, batch, H]")
            parts = list(part.unbind(0))
        else:
            parts = list(part)
            if len(parts) != self.num_layers:
                raise ValueError(f"{name} has {len(parts)} entries for {self.num_layers} layers")
            for k, (tensor, hidden) in enumerate(zip(parts, self.hidden_sizes)):
                check_tensor(f"{name}[{k}]", tensor, dtype=x.dtype, device=x.device)
                check_shape(f"{name}[{k}]", tensor, (hidden,) if unbatched else (batch, hidden),
                            "[H]" if unbatched else "[batch, H]")
        parts = [p.unsqueeze(0) if unbatched else p for p in parts]
        for k, p in enumerate(parts):
            check_finite(f"{name} (layer {k})", p)
        return parts

    def _run_layer(self, x, y0, c0, params: EGRUParameters):
        hidden = params.weight_hh.shape[1]
        fused = hasattr(self.spike_grad, "step") and hasattr(self.spike_grad, "derivative")
        if fused:
            bias_ih = params.bias_ih if params.bias_ih is not None else x.new_zeros(3 * hidden)
            bias_hh = params.bias_hh if params.bias_hh is not None else x.new_zeros(3 * hidden)
            if not self.events:
                c0 = y0
            return EGRUSequenceFunction.apply(
                x, y0, c0, params.weight_ih, params.weight_hh, bias_ih, bias_hh, params.threshold,
                self.spike_grad, RESET_CODES[self.reset_mechanism], self.events, self.polarity == "signed",
                self.record_candidates,
            )
        if self.record_candidates:
            raise NotImplementedError(
                "record_candidates needs the fused kernel: a spike_grad with step() and derivative(), "
                f"such as snntorch_egru.surrogate.triangle(); got {self.spike_grad!r}")
        state = EGRUState(y0, y0 if not self.events else c0)
        ys, es = [], []
        for x_t in x:
            y_t, state, e_t = egru_step_with_events(x_t, state, params, spike_fn=self.spike_grad,
                                                    reset_mechanism=self.reset_mechanism, events=self.events,
                                                    polarity=self.polarity)
            ys.append(y_t)
            es.append(e_t)
        return torch.stack(ys), (torch.stack(es) if self.events else None), state.c

    def __getstate__(self):
        # The events of the last forward pass belong to its autograd graph: copies
        # (copy.deepcopy, pickling) start without them.
        state = dict(self.__dict__)
        state["last_events"] = []
        state["last_candidates"] = []
        return state

    def __setstate__(self, state):
        # models pickled before the signed neuron and the candidates readout existed
        state.setdefault("polarity", "positive")
        state.setdefault("record_candidates", False)
        state.setdefault("last_candidates", [])
        super().__setstate__(state)

    def activity(self) -> ActivityStats:
        """Fraction of nonzero graded outputs per layer and pooled, over the last forward pass."""
        if not self.last_events:
            raise RuntimeError("activity() needs a forward pass first")
        if not self.events:
            raise RuntimeError("activity is undefined with events=False (every unit communicates every step)")
        return activity_statistics(self.last_events)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
                f"batch_first={self.batch_first}, dropout={self.dropout}, events={self.events}, "
                f"reset_mechanism={self.reset_mechanism!r}, spike_grad={self.spike_grad!r}"
                + (f", polarity={self.polarity!r}" if self.polarity != "positive" else ""))

