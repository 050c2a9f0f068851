r"""The EGRU equations as one pure time step: the reference every implementation is tested against.

One layer with input size :math:`I` and :math:`H` units keeps an internal state
:math:`c` and a graded output :math:`y`. With stacked weights
:math:`W \in \mathbb{R}^{3H \times I}`, :math:`U \in \mathbb{R}^{3H \times H}` (gate
order r, z, n as in ``torch.nn.GRU``), biases :math:`b_W, b_U` and per-unit
thresholds :math:`\vartheta > 0`:

.. math::

    r_t &= \sigma(W_r x_t + b_{Wr} + U_r y_{t-1} + b_{Ur}) \\
    z_t &= \sigma(W_z x_t + b_{Wz} + U_z y_{t-1} + b_{Uz}) \\
    n_t &= \tanh(W_n x_t + b_{Wn} + r_t \odot (U_n y_{t-1} + b_{Un})) \\
    \tilde c_t &= z_t \odot c_{t-1} + (1 - z_t) \odot n_t \\
    e_t &= H(\tilde c_t - \vartheta), \quad H(0) = 0 \\
    y_t &= \tilde c_t \odot e_t \\
    c_t &= \tilde c_t - e_t \odot \vartheta \quad \text{(reset by subtraction)}

Signed events (``polarity="signed"``, opt-in): a unit fires when the state's
magnitude crosses the threshold, and its graded event keeps the sign of the state:

.. math::

    e_t = H(|\tilde c_t| - \vartheta), \quad
    y_t = \tilde c_t \odot e_t, \quad
    c_t = \tilde c_t - e_t \odot \operatorname{sign}(\tilde c_t) \odot \vartheta

so events may be negative and the reset moves the state towards zero from either
side. The pseudo-derivative acts on :math:`|\tilde c_t| - \vartheta`. The default
``polarity="positive"`` is the reference neuron above.

The recurrent matmul acts on the sparse graded events :math:`y`, never on
:math:`c`. Other resets: ``"zero"`` sets :math:`c_t = \tilde c_t (1 - e_t)`,
``"none"`` keeps :math:`c_t = \tilde c_t`. With ``events=False`` the step is a
plain GRU: :math:`y_t = c_t = \tilde c_t`, exactly ``torch.nn.GRUCell`` with
:math:`h = c`.

In the backward pass :math:`H` is replaced by the ``spike_fn``'s pseudo-derivative
(default: :func:`snntorch_egru.surrogate.triangle`). Gradients flow through the
event into :math:`y` and through the reset into :math:`c` and :math:`\vartheta`.

Example::

    >>> import torch
    >>> from snntorch_egru.functional import EGRUParameters, EGRUState, egru_step
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> I, H, B = 3, 4, 2
    >>> params = EGRUParameters(
    ...     weight_ih=torch.randn(3 * H, I), weight_hh=torch.randn(3 * H, H),
    ...     bias_ih=torch.zeros(3 * H), bias_hh=torch.zeros(3 * H),
    ...     threshold=torch.full((H,), 0.1))
    >>> state = EGRUState.zeros(B, H)
    >>> y, state = egru_step(torch.randn(B, I), state, params)
    >>> y.shape, state.c.shape
    (torch.Size([2, 4]), torch.Size([2, 4]))
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch

from egru_format import POLARITIES, RESET_MECHANISMS
from egru_format.arithmetic import check_polarity

from .surrogate import triangle

__all__ = ["EGRUParameters", "EGRUState", "EGRUGates", "egru_gates", "egru_reset", "egru_step",
           "egru_step_with_events", "event_argument", "check_polarity", "POLARITIES"]


def event_argument(c_tilde: torch.Tensor, threshold: torch.Tensor, polarity: str = "positive") -> torch.Tensor:
    """What the event function H sees: ``c~ - theta`` (positive) or ``|c~| - theta`` (signed)."""
    return (c_tilde.abs() if polarity == "signed" else c_tilde) - threshold

class EGRUParameters(NamedTuple):
    """Parameters of one EGRU layer, in ``torch.nn.GRU``'s layout (gate order r, z, n).

    Attributes:
        weight_ih: input weights :math:`W`, shape [3H, I].
        weight_hh: recurrent weights :math:`U`, shape [3H, H].
        bias_ih: input bias :math:`b_W`, shape [3H], or None.
        bias_hh: recurrent bias :math:`b_U`, shape [3H], or None.
        threshold: per-unit thresholds :math:`\\vartheta > 0`, shape [H].
    """

    weight_ih: torch.Tensor
    weight_hh: torch.Tensor
    bias_ih: Optional[torch.Tensor]
    bias_hh: Optional[torch.Tensor]
    threshold: torch.Tensor


class EGRUState(NamedTuple):
    """State carried between steps: graded output ``y`` and internal state ``c`` (after reset), each [B, H]."""

    y: torch.Tensor
    c: torch.Tensor

    @classmethod
    def zeros(cls, batch_size: int, hidden_size: int, *, dtype=None, device=None) -> "EGRUState":
        y = torch.zeros(batch_size, hidden_size, dtype=dtype, device=device)
        return cls(y, torch.zeros_like(y))


class EGRUGates(NamedTuple):
    """The gates of one step and their pre-activations, each [B, H] (see the module docstring).

    Attributes:
        a_r, a_z: pre-activations of r and z, :math:`W x + b_W + U y + b_U` (gate parts r, z).
        h_n: the recurrent part of the candidate, :math:`U_n y_{t-1} + b_{Un}`.
        a_n: pre-activation of n, :math:`W_n x + b_{Wn} + r \\odot h_n`.
        r, z, n: the gates.
        c_tilde: the candidate state :math:`z \\odot c_{t-1} + (1 - z) \\odot n`.
    """

    a_r: torch.Tensor
    a_z: torch.Tensor
    h_n: torch.Tensor
    a_n: torch.Tensor
    r: torch.Tensor
    z: torch.Tensor
    n: torch.Tensor
    c_tilde: torch.Tensor


def egru_gates(gates_x: torch.Tensor, gates_h: torch.Tensor, c_prev: torch.Tensor) -> EGRUGates:
    """The gates and candidate state of one step from the two matmul outputs.

    Args:
        gates_x: :math:`W x_t + b_W` [B, 3H] (gate order r, z, n).
        gates_h: :math:`U y_{t-1} + b_U` [B, 3H].
        c_prev: :math:`c_{t-1}` [B, H].

    Callers that compute the matmuls themselves (a hooked ``nn.Linear``, a float64
    observer) get exactly the reference's gates from here.

    >>> import torch
    >>> g = egru_gates(torch.zeros(1, 3), torch.zeros(1, 3), torch.ones(1, 1))
    >>> g.r.item(), g.n.item(), g.c_tilde.item()       # z = 1/2: c~ = (c + n) / 2
    (0.5, 0.0, 0.5)
    """
    hidden_size = gates_h.shape[-1] // 3
    x_r, x_z, x_n = gates_x.split(hidden_size, dim=-1)
    h_r, h_z, h_n = gates_h.split(hidden_size, dim=-1)
    a_r = x_r + h_r
    a_z = x_z + h_z
    r = torch.sigmoid(a_r)
    z = torch.sigmoid(a_z)
    a_n = x_n + r * h_n
    n = torch.tanh(a_n)
    c_tilde = z * c_prev + (1.0 - z) * n
    return EGRUGates(a_r, a_z, h_n, a_n, r, z, n, c_tilde)


def egru_reset(c_tilde: torch.Tensor, e: torch.Tensor, threshold: torch.Tensor, reset_mechanism: str,
               polarity: str = "positive") -> torch.Tensor:
    """The state after the events ``e`` (0/1, in ``c_tilde``'s dtype): ``c_t`` of the module docstring.

    With ``polarity="signed"`` the subtractive reset subtracts ``sign(c~) * theta``.
    """
    if reset_mechanism == "subtract":
        if polarity == "signed":
            return c_tilde - e * torch.sign(c_tilde).detach() * threshold
        return c_tilde - e * threshold
    if reset_mechanism == "zero":
        return c_tilde * (1.0 - e)
    return c_tilde


def egru_step(
    x_t: torch.Tensor,
    state: EGRUState,
    params: EGRUParameters,
    *,
    spike_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    reset_mechanism: str = "subtract",
    events: bool = True,
    polarity: str = "positive",
) -> tuple[torch.Tensor, EGRUState]:
    """Advance one EGRU layer by one time step (see the module docstring for the maths).

    Args:
        x_t: input [B, I].
        state: :class:`EGRUState` (y_{t-1}, c_{t-1}), each [B, H].
        params: :class:`EGRUParameters`.
        spike_fn: event function called with ``c - threshold``; returns H(.) forward
            and a pseudo-derivative backward. Default: ``triangle()``.
        reset_mechanism: ``"subtract"`` (EGRU), ``"zero"`` or ``"none"``.
        events: False turns the layer into a plain GRU (y = c, no threshold, no reset).
        polarity: ``"positive"`` (reference neuron) or ``"signed"`` (events where |c~| > theta).

    Returns:
        ``(y_t, EGRUState(y_t, c_t))``.
    """
    y, state, _ = egru_step_with_events(
        x_t, state, params, spike_fn=spike_fn, reset_mechanism=reset_mechanism, events=events, polarity=polarity
    )
    return y, state


def egru_step_with_events(
    x_t: torch.Tensor,
    state: EGRUState,
    params: EGRUParameters,
    *,
    spike_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    reset_mechanism: str = "subtract",
    events: bool = True,
    polarity: str = "positive",
) -> tuple[torch.Tensor, EGRUState, Optional[torch.Tensor]]:
    """:func:`egru_step` that also returns the events e_t (None with ``events=False``).

    The events carry the pseudo-gradient, so an activity regulariser built on them
    trains the thresholds and the weights.
    """
    if reset_mechanism not in RESET_MECHANISMS:
        raise ValueError(f"reset_mechanism must be one of {RESET_MECHANISMS}, got {reset_mechanism!r}")
    check_polarity(polarity)
    gates_x = x_t @ params.weight_ih.t()
    gates_h = state.y @ params.weight_hh.t()
    if params.bias_ih is not None:
        gates_x = gates_x + params.bias_ih
    if params.bias_hh is not None:
        gates_h = gates_h + params.bias_hh
    c_tilde = egru_gates(gates_x, gates_h, state.c).c_tilde
    if not events:
        return c_tilde, EGRUState(c_tilde, c_tilde), None
    if spike_fn is None:
        spike_fn = triangle()
    e = spike_fn(event_argument(c_tilde, params.threshold, polarity))
    y = c_tilde * e
    return y, EGRUState(y, egru_reset(c_tilde, e, params.threshold, reset_mechanism, polarity)), e
