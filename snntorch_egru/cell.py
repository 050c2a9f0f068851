r"""``EGRUCell``: one EGRU time step as an snnTorch neuron.

Follows snnTorch's neuron conventions: one call is one time step, the user loops over
time; with ``init_hidden=True`` the state lives in the module (non-persistent buffers)
and ``forward`` returns only the graded events, so the cell composes inside
``nn.Sequential``. The maths is :func:`snntorch_egru.functional.egru_step`.

**``snntorch.utils.reset(net)`` does not reset EGRU cells** (it only knows snnTorch's own
neuron classes, and no supported hook lets another class join in): call
:func:`snntorch_egru.reset` instead, which resets every EGRU cell and every snnTorch
neuron anywhere in ``net``. A cell whose stored state has another batch shape than its
input raises an error naming the fix instead of silently continuing or re-zeroing (a stale
state of the same batch shape cannot be told from a sequence that continues, and is not caught).
As in snnTorch, ``EGRUCell.reset_hidden()`` / ``EGRUCell.detach_hidden()`` called on the
class act on every live cell, and called on an instance, on that cell only.

Example::

    >>> import torch
    >>> from torch import nn
    >>> import snntorch_egru
    >>> from snntorch_egru import EGRUCell
    >>> net = nn.Sequential(EGRUCell(3, 16, init_hidden=True), nn.Linear(16, 2))
    >>> for x_t in torch.randn(10, 5, 3):     # [T, B, I]
    ...     out = net(x_t)
    >>> out.shape
    torch.Size([5, 2])
    >>> _ = snntorch_egru.reset(net)          # zero the hidden state before a new sequence
"""

from __future__ import annotations

import math
import weakref

import torch
from snntorch import SpikingNeuron
from torch import nn

from egru_format import RESET_MECHANISMS

from ._checks import check_finite, check_shape, check_size, check_tensor, positive_threshold, threshold_tensor
from .functional import EGRUParameters, EGRUState, check_polarity, egru_step_with_events
from .surrogate import triangle

__all__ = ["EGRUCell"]


class _ClassOrInstanceMethod:
    """A method that runs on one instance (``cell.f()``) or, called on the class (``Cls.f()``, as
    snnTorch's ``snn.Leaky.reset_hidden()``), on every live instance of the class."""

    def __init__(self, function):
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, instance, owner):
        if instance is not None:
            return lambda: self.function(instance)

        def on_every_live_instance():
            for cell in list(owner._live_cells):
                if isinstance(cell, owner):
                    self.function(cell)
        on_every_live_instance.__doc__ = self.__doc__
        return on_every_live_instance


class EGRUCell(SpikingNeuron):
    r"""One EGRU step: ``(y_t, c_t) = cell(x_t, y_{t-1}, c_{t-1})``.

    Args:
        input_size: features of ``input_``, I.
        hidden_size: units, H.
        bias: learn ``bias_ih`` and ``bias_hh``.
        threshold: initial per-unit threshold (float or [H] tensor), > 0.
        learn_threshold: the threshold is a Parameter (else a buffer).
        spike_grad: snnTorch-style event function of ``c - threshold``; default ``triangle()``.
        surrogate_disable: plain Heaviside without a pseudo-derivative (inference).
        init_hidden: keep ``y`` and ``c`` in the module; ``forward(input_)`` returns ``y``.
        output: with ``init_hidden``, return ``(y, c)`` instead of ``y``.
        reset_mechanism: ``"subtract"`` (EGRU), ``"zero"`` or ``"none"``.
        state_quant: snnTorch state quantiser applied to ``c`` after the reset, or False.
        min_threshold: floor of the straight-through threshold clamp (see :class:`EGRU`).
        polarity: ``"positive"`` (reference neuron) or ``"signed"`` (events where |c~| > theta,
            carrying the sign of c~; see :mod:`snntorch_egru.functional`).

    Inputs: ``input_`` [B, I] (or [I]); ``y``, ``c`` [B, H] or None (zeros).
    Outputs: ``(y, c)``, or ``y`` with ``init_hidden=True`` and ``output=False``.
    Learnable parameters: ``weight_ih`` [3H, I], ``weight_hh`` [3H, H], ``bias_ih``,
    ``bias_hh`` [3H] (gate order r, z, n as ``torch.nn.GRUCell``), ``threshold`` [H].
    """

    _egru_neuron = True
    #: every live cell (weak references), for the class-level reset_hidden / detach_hidden
    _live_cells: "weakref.WeakSet" = weakref.WeakSet()

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        threshold=0.1,
        learn_threshold: bool = True,
        spike_grad=None,
        surrogate_disable: bool = False,
        init_hidden: bool = False,
        output: bool = False,
        reset_mechanism: str = "subtract",
        state_quant=False,
        min_threshold: float = 1e-3,
        polarity: str = "positive",
    ):
        check_polarity(polarity)
        if reset_mechanism not in RESET_MECHANISMS:
            raise ValueError(f"reset_mechanism must be one of {RESET_MECHANISMS}, got {reset_mechanism!r}")
        input_size = check_size("input_size", input_size)
        hidden_size = check_size("hidden_size", hidden_size)
        if not min_threshold > 0:
            raise ValueError(f"min_threshold must be > 0, got {min_threshold}")
        super().__init__(
            threshold=threshold_tensor(threshold, hidden_size),
            spike_grad=spike_grad if spike_grad is not None else triangle(),
            surrogate_disable=surrogate_disable,
            init_hidden=init_hidden,
            learn_threshold=learn_threshold,
            reset_mechanism=reset_mechanism,
            state_quant=state_quant,
            output=output,
        )
        # snnTorch keeps every neuron in a global list for its own reset helpers; this
        # neuron resets itself, so it leaves the list and can be garbage-collected.
        if SpikingNeuron.instances and SpikingNeuron.instances[-1] is self:
            SpikingNeuron.instances.pop()
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.min_threshold = float(min_threshold)
        self.polarity = polarity
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.register_buffer("y", torch.zeros(0), persistent=False)
        self.register_buffer("c", torch.zeros(0), persistent=False)
        self.last_event = None
        self.reset_parameters()
        EGRUCell._live_cells.add(self)

    def reset_parameters(self) -> None:
        """``torch.nn.GRUCell``'s initialisation U(-1/sqrt(H), 1/sqrt(H)); the threshold is kept."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for tensor in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if tensor is not None:
                nn.init.uniform_(tensor, -bound, bound)

    def parameters_for_step(self) -> EGRUParameters:
        """The parameters as used by the step (threshold after the positivity clamp)."""
        return EGRUParameters(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                              positive_threshold(self.threshold, self.min_threshold, "threshold"))

    def forward(self, input_: torch.Tensor, y: torch.Tensor = None, c: torch.Tensor = None):
        if self.init_hidden and (y is not None or c is not None):
            raise TypeError("`y` and `c` must not be passed while init_hidden=True: the cell keeps its own state")
        check_tensor("input_", input_, dtype=self.weight_ih.dtype, device=self.weight_ih.device)
        if input_.dim() not in (1, 2) or input_.shape[-1] != self.input_size:
            raise ValueError(
                f"input_ must have shape [B, {self.input_size}] or [{self.input_size}] (one time step), "
                f"got {tuple(input_.shape)}"
            )
        check_finite("input_", input_)
        state_shape = (*input_.shape[:-1], self.hidden_size)
        if self.init_hidden:
            if tuple(self.y.shape) != state_shape:
                if self.y.numel():
                    raise ValueError(
                        f"EGRUCell holds a state of shape {list(self.y.shape)} from an earlier batch, but this input "
                        f"needs {list(state_shape)}: reset the state before each new batch with "
                        f"snntorch_egru.reset(net) (snntorch.utils.reset does not know EGRU cells) or "
                        f"cell.reset_hidden()")
                self.y = input_.new_zeros(state_shape)
                self.c = input_.new_zeros(state_shape)
            y, c = self.y, self.c
        else:
            y = input_.new_zeros(state_shape) if y is None else y
            c = input_.new_zeros(state_shape) if c is None else c
            for name, tensor in (("y", y), ("c", c)):
                check_tensor(name, tensor, dtype=input_.dtype, device=input_.device)
                check_shape(name, tensor, state_shape, "batch, hidden_size")
                check_finite(name, tensor)
        y, state, self.last_event = egru_step_with_events(
            input_, EGRUState(y, c), self.parameters_for_step(),
            spike_fn=self.spike_grad, reset_mechanism=self.reset_mechanism, polarity=self.polarity,
        )
        c = state.c
        if self.state_quant:
            c = self.state_quant(c)
        if self.init_hidden:
            self.y, self.c = y, c
            return (y, c) if self.output else y
        return y, c

    def __getstate__(self):
        # Copies (copy.deepcopy, pickling) keep the stored state's values, not its graph.
        state = dict(self.__dict__)
        state["last_event"] = None
        state["_buffers"] = {name: (None if b is None else b.detach()) for name, b in self._buffers.items()}
        return state

    def __setstate__(self, state):
        state.setdefault("polarity", "positive")   # cells pickled before the signed neuron existed
        super().__setstate__(state)
        EGRUCell._live_cells.add(self)          # copies are live cells too

    @_ClassOrInstanceMethod
    def reset_hidden(self) -> None:
        """Zero the stored state (re-created lazily with the next input's batch shape).

        ``cell.reset_hidden()``: this cell; ``EGRUCell.reset_hidden()``: every live cell."""
        self.y = torch.zeros(0, device=self.y.device)
        self.c = torch.zeros(0, device=self.c.device)
        self.last_event = None

    @_ClassOrInstanceMethod
    def detach_hidden(self) -> None:
        """Cut the stored state from the autograd graph (truncated BPTT).

        ``cell.detach_hidden()``: this cell; ``EGRUCell.detach_hidden()``: every live cell."""
        self.y = self.y.detach()
        self.c = self.c.detach()

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}, "
                f"reset_mechanism={self.reset_mechanism!r}, init_hidden={self.init_hidden}, "
                f"spike_grad={self.spike_grad!r}"
                + (f", polarity={self.polarity!r}" if self.polarity != "positive" else ""))
