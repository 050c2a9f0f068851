r"""A model's parameters as integers, and the EGRU step in integers (docs/fixed-point.md).

:func:`integer_layers` turns a model and its :class:`~.formats.QuantizationSpec` into
integer layers (:class:`IntegerDenseLayer`, :class:`IntegerEGRULayer`), raising a
:class:`QuantizationError` that names the layer and the value for anything that does not
fit (the values come from the hub's numpy helpers :func:`egru_format.fixed_point.mantissas`,
:func:`~egru_format.fixed_point.fixed_vector` and :func:`~egru_format.fixed_point.checked_weight_exp`,
the ones a file reader uses); :func:`egru_step_int` advances one :class:`IntegerEGRULayer` by one step. With gate
sums saturated to 24 bits (``sat24``) and F_g = 12 bit gates:

.. math::

    a_r &= \mathrm{sat}(W_r x + b_{Wr} + U_r y + b_{Ur}), \quad
    a_z = \mathrm{sat}(W_z x + b_{Wz} + U_z y + b_{Uz}), \\
    r &= \sigma_q(a_r), \quad z = \sigma_q(a_z), \quad
    h_n = \mathrm{sat}(U_n y + b_{Un}), \\
    a_n &= \mathrm{sat}(W_n x + b_{Wn} + \mathrm{rsr}(r h_n, F_g)), \quad
    n_c = \mathrm{rsr}(\tanh_q(a_n), F_g - F_c), \\
    \tilde c &= \mathrm{sat}(n_c + \mathrm{rsr}(z (c - n_c), F_g)), \quad
    e = \tilde c > \vartheta, \quad y = e \, \tilde c, \quad c \leftarrow \mathrm{sat}(\tilde c - e \vartheta)

and, for a signed-event layer (``polarity="signed"``, the torch EGRU's ``rnn.polarity``,
carried into :attr:`IntegerEGRULayer.polarity` by :func:`integer_layers`),

.. math::

    e = (\tilde c > \vartheta) \lor (\tilde c < -\vartheta), \quad y = e \, \tilde c, \quad
    c \leftarrow \mathrm{sat}(\tilde c - e \, \mathrm{sign}(\tilde c) \, \vartheta)

(docs/fixed-point.md, "Signed events": two comparisons instead of :math:`|\tilde c|`, which
would not fit 24 bits at :math:`\tilde c = -2^{23}`; ``y`` keeps the sign of :math:`\tilde c`).
The "zero" and "none" resets are those of the positive neuron. Both neurons are bit for bit
:func:`egru_format.arithmetic.egru_step_fixed`, the numpy step of the Lava fixed-point model.
(``rsr`` = :func:`~.primitives.rshift_round`; the Dense products are
:func:`~.primitives.dense_int`, in F_a; the last :math:`c \leftarrow` is the "subtract" reset.)

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.quantization import calibrate
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(3, 8, threshold=0.05)
    >>> x = torch.randn(20, 4, 3)
    >>> (layer,) = integer_layers(rnn, calibrate(rnn, x))
    >>> layer.name, layer.weight_ih.dtype, int(layer.threshold[0])    # 0.05 * 2**F_c
    ('l0', torch.int64, 1638)
    >>> counts = {}
    >>> y, c, e = egru_step_int(torch.zeros(4, 3, dtype=torch.int64), torch.zeros(4, 8, dtype=torch.int64),
    ...                         torch.zeros(4, 8, dtype=torch.int64), layer, counts)
    >>> y.shape, e.dtype, sum(counts.values())
    (torch.Size([4, 8]), torch.bool, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from egru_format import FRAC_GATE, INT24_MIN, RESET_MECHANISMS, DenseQuantization, EGRUQuantization, QuantizationError
from egru_format.arithmetic import check_polarity
from egru_format.fixed_point import checked_weight_exp, fixed_vector

from ..language_model import EGRULanguageModel
from .formats import QuantizationSpec
from .layout import dense_tensors, layer_plan, recurrent_stack
from .primitives import FloatWeights, dense_int, quantize_weights, rshift_round, sat24, sigmoid_q, tanh_q

__all__ = ["IntegerDenseLayer", "IntegerEGRULayer", "egru_step_int", "integer_dense_layer", "integer_layers"]


@dataclass(frozen=True, eq=False)
class IntegerDenseLayer:
    """A dense identity layer in integers: ``out = sat24(dense_int(x, weight, weight_exp) + bias)``."""

    name: str
    weight: torch.Tensor        # Lava integer weights 2k, int64 [out, in]
    weight_exp: int
    bias: Optional[torch.Tensor]  # int64 [out] in frac_state, or None
    frac_source: int
    frac_state: int

    def __post_init__(self):
        object.__setattr__(self, "_cached", FloatWeights(self.weight))


@dataclass(frozen=True, eq=False)
class IntegerEGRULayer:
    """One EGRU layer in integers (docs/fixed-point.md): everything int64.

    ``reset_mechanism`` (``"subtract"``, ``"zero"``, ``"none"``) and ``polarity``
    (``"positive"``: events where ``c~ > theta``; ``"signed"``: where ``|c~| > theta``) are
    the torch model's (:func:`integer_layers` copies them); anything else raises a
    ValueError here rather than running another neuron.
    """

    name: str
    weight_ih: torch.Tensor     # Lava integer weights 2k, [3H, in]
    weight_hh: torch.Tensor     # [3H, H]
    weight_exp_ih: int
    weight_exp_hh: int
    bias_ih: torch.Tensor       # [3H] in F_a (zeros without bias)
    bias_hh: torch.Tensor
    threshold: torch.Tensor     # [H] in F_c, >= 1
    frac_source: int
    frac_preact: int
    frac_state: int
    frac_gate: int = FRAC_GATE
    reset_mechanism: str = "subtract"
    events: bool = True
    polarity: str = "positive"

    def __post_init__(self):
        check_polarity(self.polarity)
        if self.reset_mechanism not in RESET_MECHANISMS:
            raise ValueError(f"{self.name}: reset_mechanism must be one of {RESET_MECHANISMS}, "
                             f"got {self.reset_mechanism!r}")
        object.__setattr__(self, "_cached_ih", FloatWeights(self.weight_ih))
        object.__setattr__(self, "_cached_hh", FloatWeights(self.weight_hh))

    @property
    def hidden_size(self) -> int:
        return int(self.weight_hh.shape[1])


def egru_step_int(x: Optional[torch.Tensor], y_prev: torch.Tensor, c_prev: torch.Tensor, layer: IntegerEGRULayer,
                  overflow: Optional[dict] = None, *, ax: Optional[torch.Tensor] = None):
    """One EGRU step in integers (docs/fixed-point.md, "The EGRU step").

    Args:
        x: incoming messages int64 [B, I] in ``layer.frac_source`` (ignored if ``ax`` is given).
        y_prev, c_prev: previous graded output and state, int64 [B, H] in F_c.
        layer: :class:`IntegerEGRULayer`.
        overflow: dict of counters to increment (keys "dense", "preact", "candidate", "state").
        ax: the precomputed input Dense output ``dense_int(x, W_ih, e_ih)`` [B, 3H].

    Returns:
        ``(y, c, e)``: graded output and state (int64 [B, H], F_c) and the events (bool,
        None with ``events=False``, where y = c = c~).

    The event and the reset follow ``layer.polarity``; a signed layer fires on either side
    of ``+-theta`` (strict), sends ``y = c~`` with its sign and subtracts ``sign(c~) theta``.
    With ``z = 1`` (``a_z >= 5``) and ``n = 0`` the candidate is the previous state, which
    shows the neuron alone:

    >>> H, fa = 4, 16
    >>> bias_ih = torch.zeros(3 * H, dtype=torch.int64)
    >>> bias_ih[H:2 * H] = 5 << fa                                  # a_z = 5: z = 4096, c~ = c_prev
    >>> layer = IntegerEGRULayer("demo", torch.zeros(3 * H, 1, dtype=torch.int64),
    ...                          torch.zeros(3 * H, H, dtype=torch.int64), 0, 0, bias_ih,
    ...                          torch.zeros(3 * H, dtype=torch.int64), torch.full((H,), 100), 0, fa, 16,
    ...                          polarity="signed")
    >>> y, c, e = egru_step_int(torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, H, dtype=torch.int64),
    ...                         torch.tensor([[150, -150, 100, -101]]), layer)
    >>> y.tolist(), c.tolist()                                      # +-theta itself does not fire
    ([[150, -150, 0, -101]], [[50, -50, 100, -1]])
    """
    H = layer.hidden_size
    fa, fc, fg = layer.frac_preact, layer.frac_state, layer.frac_gate
    if ax is None:
        ax = dense_int(x, layer.weight_ih, layer.weight_exp_ih, overflow, cached=layer._cached_ih)
    ah = dense_int(y_prev, layer.weight_hh, layer.weight_exp_hh, overflow, cached=layer._cached_hh)
    ax_r, ax_z, ax_n = ax.split(H, dim=-1)
    ah_r, ah_z, ah_n = ah.split(H, dim=-1)
    bx_r, bx_z, bx_n = layer.bias_ih.split(H)
    bh_r, bh_z, bh_n = layer.bias_hh.split(H)
    a_r = sat24(ax_r + bx_r + ah_r + bh_r, overflow, "preact")
    a_z = sat24(ax_z + bx_z + ah_z + bh_z, overflow, "preact")
    r = sigmoid_q(a_r, fa)
    z = sigmoid_q(a_z, fa)
    hn = sat24(ah_n + bh_n, overflow, "preact")
    a_n = sat24(ax_n + bx_n + rshift_round(r * hn, fg), overflow, "preact")
    n = tanh_q(a_n, fa)
    nc = rshift_round(n, fg - fc)
    c_tilde = sat24(nc + rshift_round(z * (c_prev - nc), fg), overflow, "candidate")
    if not layer.events:
        return c_tilde, c_tilde, None
    signed = layer.polarity == "signed"
    e = (c_tilde > layer.threshold) | (c_tilde < -layer.threshold) if signed else c_tilde > layer.threshold
    y = torch.where(e, c_tilde, torch.zeros_like(c_tilde))
    if layer.reset_mechanism == "subtract":
        step = torch.sign(c_tilde) * layer.threshold if signed else layer.threshold
        c = sat24(c_tilde - e.to(torch.int64) * step, overflow, "state")
    elif layer.reset_mechanism == "zero":
        c = torch.where(e, torch.zeros_like(c_tilde), c_tilde)
    else:
        c = c_tilde
    return y, c, e




def _fixed_vector(values: torch.Tensor, frac: int, name: str, *, low: int = INT24_MIN) -> torch.Tensor:
    """The hub's :func:`egru_format.fixed_point.fixed_vector` on a tensor: int64, on its device."""
    q = fixed_vector(values.detach().cpu().double().numpy(), frac, name=name, low=low)
    return torch.from_numpy(q).to(values.device)


def integer_dense_layer(name: str, weight: torch.Tensor, bias: Optional[torch.Tensor], q: DenseQuantization,
                        frac_source: int) -> IntegerDenseLayer:
    """The integer parameters of one Dense layer ``out = W x + b`` (e.g. a readout on EGRU events).

    ``frac_source``: fractional bits of its input messages (the previous layer's
    ``frac_state``). Raises :class:`QuantizationError` naming ``name`` for a mantissa,
    ``weight_exp`` or bias that does not fit.

    >>> import torch
    >>> layer = integer_dense_layer("readout", torch.tensor([[0.5, -0.25]]), torch.tensor([0.125]),
    ...                             DenseQuantization(frac_state=8, scale_exp=-7), frac_source=8)
    >>> layer.weight.tolist(), layer.weight_exp, layer.bias.tolist()   # Lava's weights: 2 x mantissa
    ([[128, -64]], -8, [32])
    """
    if not isinstance(q, DenseQuantization):
        raise QuantizationError(f"{name}: expected a DenseQuantization, got {type(q).__name__}")
    e = checked_weight_exp(q.scale_exp, frac_source, q.frac_state, name=f"{name}.weight")
    w = quantize_weights(weight, q.scale_exp, name=f"{name}.weight")
    b = None if bias is None else _fixed_vector(bias, q.frac_state, f"{name}.bias")
    return IntegerDenseLayer(name, w.lava_weights, e, b, frac_source, q.frac_state)


def integer_layers(model, quantization: QuantizationSpec) -> list:
    """The integer parameters of every layer after the input (:class:`IntegerDenseLayer` / :class:`IntegerEGRULayer`).

    Raises :class:`QuantizationError` naming the layer and the value for anything the
    arithmetic cannot represent: a weight mantissa outside [-127, 127], a
    ``weight_exp`` outside [-8, 7], a bias outside 24 bits, a threshold that quantises
    below 1 (or above 2**23 - 1), a token input with ``frac_input != 0``.
    """
    plan = layer_plan(model)
    if not isinstance(quantization, QuantizationSpec):
        raise TypeError(f"quantization must be a QuantizationSpec, got {type(quantization).__name__}")
    if len(quantization.layers) != len(plan):
        raise QuantizationError(f"the spec has {len(quantization.layers)} layers but the model has {len(plan)} "
                                f"({[name for name, _, _ in plan]})")
    if isinstance(model, EGRULanguageModel) and quantization.frac_input != 0:
        raise QuantizationError(f"token inputs are one-hot integers 1: frac_input must be 0, "
                                f"got {quantization.frac_input}")
    rnn = recurrent_stack(model)
    out = []
    with torch.no_grad():
        for k, ((name, kind, index), q) in enumerate(zip(plan, quantization.layers)):
            source = quantization.frac_source(k)
            if kind == "dense":
                if not isinstance(q, DenseQuantization):
                    raise QuantizationError(f"{name}: expected a DenseQuantization, got {type(q).__name__}")
                weight, bias = dense_tensors(model, name)
                out.append(integer_dense_layer(name, weight, bias, q, source))
                continue
            if not isinstance(q, EGRUQuantization):
                raise QuantizationError(f"{name}: expected an EGRUQuantization, got {type(q).__name__}")
            params = rnn.layer_parameters(index)
            e_ih = checked_weight_exp(q.scale_exp_ih, source, q.frac_preact, name=f"{name}.weight_ih")
            e_hh = checked_weight_exp(q.scale_exp_hh, q.frac_state, q.frac_preact, name=f"{name}.weight_hh")
            w_ih = quantize_weights(params.weight_ih, q.scale_exp_ih, name=f"{name}.weight_ih")
            w_hh = quantize_weights(params.weight_hh, q.scale_exp_hh, name=f"{name}.weight_hh")
            zeros = torch.zeros(3 * rnn.hidden_sizes[index], dtype=torch.int64)
            b_ih = zeros if params.bias_ih is None else _fixed_vector(params.bias_ih, q.frac_preact, f"{name}.bias_ih")
            b_hh = zeros if params.bias_hh is None else _fixed_vector(params.bias_hh, q.frac_preact, f"{name}.bias_hh")
            theta = _fixed_vector(params.threshold, q.frac_state, f"{name}.threshold", low=1) \
                if rnn.events else torch.ones(rnn.hidden_sizes[index], dtype=torch.int64)
            out.append(IntegerEGRULayer(
                name, w_ih.lava_weights, w_hh.lava_weights, e_ih, e_hh, b_ih, b_hh, theta, source,
                q.frac_preact, q.frac_state, q.frac_gate, rnn.reset_mechanism, bool(rnn.events), rnn.polarity))
    return out

