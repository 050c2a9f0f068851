"""The fixed-point view of a quantised network's layers (format version 2, docs/fixed-point.md), numpy only.

:func:`fixed_point_layers` turns the layers of a quantised
:class:`~egru_format.spec.NetworkSpec` into one entry per layer — :class:`FixedPointInput`,
:class:`FixedPointDense`, :class:`FixedPointEGRU` — holding every integer the fixed-point
arithmetic uses: the Lava integer weights ``2 * round_half_away(W / 2**s)``, each Dense
``weight_exp = s - F_src + F_dst - 1``, the integer biases ``round_half_away(b * 2**F)``
and thresholds ``round_half_away(theta * 2**F_c)``. A Lava ``fixed_pt`` model loads
exactly these; :func:`egru_format.integer_network` gives them for a whole spec after
validating it. The range-checked helpers that derive them, :func:`mantissas`,
:func:`fixed_vector` and :func:`checked_weight_exp`, are public: the torch integer mode
(``snntorch_egru.quantization``) calls them too, so the file and the model cannot
disagree. They raise :class:`~egru_format.QuantizationError` naming the entry; its
``field`` and ``problem`` become the :class:`FormatError` of a file.

    >>> import numpy as np
    >>> from egru_format import InputLayer, DenseLayer, InputQuantization, DenseQuantization
    >>> layers = [InputLayer(2, quantization=InputQuantization(8)),
    ...           DenseLayer(np.array([[0.5, -0.25]], np.float32), np.array([0.125], np.float32),
    ...                      quantization=DenseQuantization(frac_state=8, scale_exp=-7))]
    >>> first, dense = fixed_point_layers(layers)
    >>> dense.weight.tolist(), dense.weight_exp, dense.bias.tolist()
    ([[128, -64]], -8, [32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .constants import FRAC_GATE, INT24_MAX, INT24_MIN, MANTISSA_MAX, MANTISSA_MIN, WEIGHT_EXP_MAX, WEIGHT_EXP_MIN
from .errors import FormatError, QuantizationError
from .integer import round_half_away, weight_exp
from .spec import DenseLayer, DenseQuantization, EGRULayer, EGRUQuantization, InputLayer, InputQuantization

__all__ = ["FixedPointInput", "FixedPointDense", "FixedPointEGRU", "fixed_point_layers", "mantissas", "fixed_vector",
           "checked_weight_exp", "SPEC_SOURCE"]

#: The ``source`` that errors about an in-memory spec name.
SPEC_SOURCE = "<NetworkSpec>"


@dataclass(frozen=True, eq=False)
class FixedPointInput:
    """The input in the fixed-point arithmetic: messages are integers with ``frac_input`` fractional bits."""

    size: int
    encoding: str
    frac_input: int


@dataclass(frozen=True, eq=False)
class FixedPointDense:
    """A dense identity layer in integers: ``out = sat24(wrap32(shift(weight @ x, weight_exp)) + bias)``.

    ``weight``: int64 [out, in], the Lava integer weights ``2 * mantissa`` (even, in
    [-254, 254]); ``bias``: int64 [out] with ``frac_state`` fractional bits, or None.
    """

    weight: np.ndarray
    weight_exp: int
    bias: Optional[np.ndarray]
    frac_source: int
    frac_state: int


@dataclass(frozen=True, eq=False)
class FixedPointEGRU:
    """An egru layer in integers (docs/fixed-point.md, "The EGRU step").

    ``weight_ih`` [3H, in], ``weight_hh`` [3H, H]: int64 Lava integer weights (2 * mantissa);
    ``bias_ih``, ``bias_hh``: int64 [3H] in F_a (zeros where the file has no bias);
    ``threshold``: int64 [H] in F_c, >= 1 (None with ``events = false``); ``polarity``:
    the layer's event polarity (:data:`~egru_format.constants.POLARITIES`).
    """

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    weight_exp_ih: int
    weight_exp_hh: int
    bias_ih: np.ndarray
    bias_hh: np.ndarray
    threshold: Optional[np.ndarray]
    frac_source: int
    frac_preact: int
    frac_state: int
    frac_gate: int
    reset_mechanism: str
    events: bool
    polarity: str = "positive"


def _finite(values: np.ndarray, name: str) -> None:
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        problem = f"contains {bad} NaN/Inf value(s)"
        raise QuantizationError(f"{name} {problem}", field=name, problem=problem)


def mantissas(matrix, scale_exp: int, *, name: str = "weight", clip: bool = False) -> np.ndarray:
    """The 8-bit mantissas ``k = round_half_away(W * 2**-s)`` of a weight matrix, int64.

    The Lava integer weight is ``2 * k``. A mantissa outside ``[MANTISSA_MIN,
    MANTISSA_MAX]`` raises :class:`QuantizationError` naming ``name``, the weight, its
    index and the mantissa (``field`` = ``name``), unless ``clip=True`` (then it is
    clipped); NaN/Inf always raise.

    >>> mantissas(np.array([[0.5, -0.25]]), -7).tolist()
    [[64, -32]]
    >>> mantissas(np.array([130.0, -300.0]), 0, clip=True).tolist()
    [127, -127]
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    _finite(matrix, name)
    k = round_half_away(np.ldexp(matrix, -int(scale_exp)))
    if clip:
        return np.clip(k, MANTISSA_MIN, MANTISSA_MAX).astype(np.int64)
    bad = (k < MANTISSA_MIN) | (k > MANTISSA_MAX)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        problem = (f"weight {matrix[index]:g} at {list(index)} needs mantissa {int(k[index])} at scale "
                   f"2**{scale_exp}, outside the 8-bit range [{MANTISSA_MIN}, {MANTISSA_MAX}] "
                   f"(max |W| may be at most {MANTISSA_MAX + 0.5} * 2**{scale_exp})")
        raise QuantizationError(f"{name}: {problem}", field=name, problem=problem)
    return k.astype(np.int64)


def fixed_vector(values, frac: int, *, name: str = "value", low: int = INT24_MIN) -> np.ndarray:
    """``round_half_away(v * 2**frac)`` as int64, every entry in ``[low, INT24_MAX]``.

    The integer biases (``low`` = ``INT24_MIN``) and thresholds (``low=1``) of
    docs/fixed-point.md. An entry outside raises :class:`QuantizationError`: the message
    reads ``name[i] = v quantises to q ...``; ``field`` is ``name`` and ``problem`` reads
    ``value v at [i] quantises to q ...`` (the file reader's form).

    >>> fixed_vector(np.array([0.125, -1.0]), 8).tolist()
    [32, -256]
    >>> fixed_vector(np.array([0.05, 1e-6]), 10, name="l0.threshold", low=1)
    Traceback (most recent call last):
    ...
    egru_format.QuantizationError: l0.threshold[1] = 1e-06 quantises to 0 with 10 fractional bits,
    outside [1, 8388607]
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    _finite(values, name)
    q = round_half_away(np.ldexp(values, int(frac)))
    bad = (q < low) | (q > INT24_MAX)
    if bad.any():
        i = int(np.argmax(bad))
        tail = f"quantises to {int(q[i])} with {frac} fractional bits, outside [{low}, {INT24_MAX}]"
        raise QuantizationError(f"{name}[{i}] = {values[i]:g} {tail}", field=name,
                                problem=f"value {values[i]:g} at [{i}] {tail}")
    return q.astype(np.int64)


def checked_weight_exp(scale_exp: int, frac_source: int, frac_dest: int, *, name: str = "weight_exp") -> int:
    """:func:`~egru_format.integer.weight_exp` ``= s - F_src + F_dst - 1``, which must lie in Loihi's range.

    Outside ``[WEIGHT_EXP_MIN, WEIGHT_EXP_MAX]``: :class:`QuantizationError` with the
    message ``name: weight_exp = e is outside Loihi's range [-8, 7] (...)``, ``field`` =
    ``name`` and a ``problem`` that spells out the sum.

    >>> checked_weight_exp(-7, 8, 8)
    -8
    >>> checked_weight_exp(-30, 0, 16, name="l0.weight_hh")
    Traceback (most recent call last):
    ...
    egru_format.QuantizationError: l0.weight_hh: weight_exp = -15 is outside Loihi's range [-8, 7]
    (s - F_src + F_dst - 1 = -30 - 0 + 16 - 1)
    """
    exp = weight_exp(scale_exp, frac_source, frac_dest)
    if not WEIGHT_EXP_MIN <= exp <= WEIGHT_EXP_MAX:
        sum_ = f"{scale_exp} - {frac_source} + {frac_dest} - 1"
        limits = f"Loihi's range [{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}]"
        raise QuantizationError(f"{name}: weight_exp = {exp} is outside {limits} (s - F_src + F_dst - 1 = {sum_})",
                                field=name, problem=f"weight_exp = s - F_src + F_dst - 1 = {sum_} = {exp} is "
                                                    f"outside {limits}")
    return exp


def _integer_layer(k: int, layer, q, frac_source: int):
    """One dense or egru layer's integers; :class:`QuantizationError` whose ``field`` is the file path."""
    if isinstance(layer, DenseLayer):
        frac = q.frac_state
        exp = checked_weight_exp(q.scale_exp, frac_source, frac, name=f"layer/{k}/quantization/scale_exp")
        weight = 2 * mantissas(layer.weight, q.scale_exp, name=f"layer/{k}/weight")
        bias = None if layer.bias is None else fixed_vector(layer.bias, frac, name=f"layer/{k}/bias")
        return FixedPointDense(weight, exp, bias, frac_source, frac)
    fa, fc = q.frac_preact, q.frac_state
    exp_ih = checked_weight_exp(q.scale_exp_ih, frac_source, fa, name=f"layer/{k}/quantization/scale_exp_ih")
    exp_hh = checked_weight_exp(q.scale_exp_hh, fc, fa, name=f"layer/{k}/quantization/scale_exp_hh")
    three_h = layer.weight_hh.shape[0]
    biases = [np.zeros(three_h, np.int64) if getattr(layer, name) is None
              else fixed_vector(getattr(layer, name), fa, name=f"layer/{k}/{name}") for name in ("bias_ih", "bias_hh")]
    threshold = None
    if layer.events:
        threshold = fixed_vector(layer.threshold, fc, name=f"layer/{k}/neuron/threshold", low=1)
    return FixedPointEGRU(
        2 * mantissas(layer.weight_ih, q.scale_exp_ih, name=f"layer/{k}/weight_ih"),
        2 * mantissas(layer.weight_hh, q.scale_exp_hh, name=f"layer/{k}/weight_hh"),
        exp_ih, exp_hh, biases[0], biases[1], threshold, frac_source, fa, fc, FRAC_GATE,
        layer.reset_mechanism, bool(layer.events), layer.polarity)


_EXPECTED = {InputLayer: InputQuantization, DenseLayer: DenseQuantization, EGRULayer: EGRUQuantization}


def fixed_point_layers(layers, source=SPEC_SOURCE) -> list:
    """The fixed-point view of layers whose float fields are already valid, one entry per layer.

    Returns ``[FixedPointInput, FixedPointDense | FixedPointEGRU, ...]``. Every layer must
    carry its quantization (:class:`FormatError` naming the first one without); the
    formats' own ranges were checked when they were constructed. An integer that does
    not fit raises :class:`FormatError` naming ``source`` and the entry.
    """
    missing = [k for k, layer in enumerate(layers) if layer.quantization is None]
    if missing:
        present = next(k for k, layer in enumerate(layers) if layer.quantization is not None)
        raise FormatError(source, f"layer/{missing[0]}/quantization",
                          f"missing: a quantised network has a quantization group in every layer "
                          f"(layer/{present} has one)")
    out = []
    frac_source = 0
    for k, layer in enumerate(layers):
        q = layer.quantization
        prefix = f"layer/{k}/quantization"
        expected = _EXPECTED[type(layer)]
        if not isinstance(q, expected):
            raise FormatError(source, prefix, f"a {layer.type} layer needs a {expected.__name__}, "
                                              f"got {type(q).__name__}")
        if isinstance(layer, InputLayer):
            if layer.encoding == "tokens" and q.frac_input != 0:
                raise FormatError(source, f"{prefix}/frac_input",
                                  f"must be 0 for token inputs (one-hot messages are the integer 1), got {q.frac_input}")
            out.append(FixedPointInput(int(layer.size), layer.encoding, q.frac_input))
            frac_source = q.frac_input
            continue
        try:
            out.append(_integer_layer(k, layer, q, frac_source))
        except QuantizationError as exc:   # the helpers name the field: wrap it with the file
            raise FormatError(source, exc.field, exc.problem) from None
        frac_source = out[-1].frac_state
    return out

