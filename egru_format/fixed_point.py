"""The integers of a quantised network (format version 2, docs/fixed-point.md), numpy only.

:func:`integer_network` turns a quantised :class:`~egru_format.spec.NetworkSpec` into one
entry per layer — :class:`FixedPointInput`, :class:`FixedPointDense`,
:class:`FixedPointEGRU` — holding every integer the fixed-point arithmetic uses: the Lava
integer weights ``2 * round_half_away(W / 2**s)``, each Dense ``weight_exp =
s - F_src + F_dst - 1``, the integer biases ``round_half_away(b * 2**F)`` and thresholds
``round_half_away(theta * 2**F_c)``. A Lava ``fixed_pt`` model loads exactly these.

    >>> import numpy as np
    >>> from egru_format import (NetworkSpec, InputLayer, DenseLayer, InputQuantization,
    ...                          DenseQuantization, integer_network)
    >>> spec = NetworkSpec([InputLayer(2, quantization=InputQuantization(8)),
    ...                     DenseLayer(np.array([[0.5, -0.25]], np.float32), np.array([0.125], np.float32),
    ...                                quantization=DenseQuantization(frac_state=8, scale_exp=-7))])
    >>> first, dense = integer_network(spec)
    >>> dense.weight.tolist(), dense.weight_exp, dense.bias.tolist()
    ([[128, -64]], -8, [32])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .constants import FRAC_GATE, INT24_MAX, INT24_MIN, MANTISSA_MAX, MANTISSA_MIN, WEIGHT_EXP_MAX, WEIGHT_EXP_MIN
from .errors import FormatError
from .integer import round_half_away, weight_exp
from .spec import DenseLayer, DenseQuantization, EGRULayer, EGRUQuantization, InputLayer, InputQuantization

__all__ = ["FixedPointInput", "FixedPointDense", "FixedPointEGRU", "integer_network", "integer_layers",
           "SPEC_SOURCE"]

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
    ``threshold``: int64 [H] in F_c, >= 1 (None with ``events = false``).
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


def _mantissas(source, name: str, matrix: np.ndarray, scale_exp: int) -> np.ndarray:
    k = round_half_away(np.ldexp(matrix.astype(np.float64), -scale_exp))
    bad = (k < MANTISSA_MIN) | (k > MANTISSA_MAX)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FormatError(source, name,
                          f"weight {matrix[index]:g} at {list(index)} needs mantissa {int(k[index])} at scale "
                          f"2**{scale_exp}, outside the 8-bit range [{MANTISSA_MIN}, {MANTISSA_MAX}]")
    return k.astype(np.int64)


def _fixed_vector(source, name: str, values: np.ndarray, frac: int, low: int = INT24_MIN) -> np.ndarray:
    q = round_half_away(np.ldexp(values.astype(np.float64), frac))
    bad = (q < low) | (q > INT24_MAX)
    if bad.any():
        i = int(np.argmax(bad))
        raise FormatError(source, name,
                          f"value {values[i]:g} at [{i}] quantises to {int(q[i])} with {frac} fractional bits, "
                          f"outside [{low}, {INT24_MAX}]")
    return q.astype(np.int64)


def _checked_weight_exp(source, name: str, scale_exp: int, frac_source: int, frac_dest: int) -> int:
    exp = weight_exp(scale_exp, frac_source, frac_dest)
    if not WEIGHT_EXP_MIN <= exp <= WEIGHT_EXP_MAX:
        raise FormatError(source, name,
                          f"weight_exp = s - F_src + F_dst - 1 = {scale_exp} - {frac_source} + {frac_dest} - 1 = "
                          f"{exp} is outside Loihi's range [{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}]")
    return exp


_EXPECTED = {InputLayer: InputQuantization, DenseLayer: DenseQuantization, EGRULayer: EGRUQuantization}


def integer_layers(layers, source=SPEC_SOURCE) -> list:
    """The fixed-point view of layers whose float fields are already valid.

    Every layer must carry its quantization (:class:`FormatError` naming the first one
    without); the formats' own ranges were checked when they were constructed.
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
        if isinstance(layer, DenseLayer):
            frac = q.frac_state
            exp = _checked_weight_exp(source, f"{prefix}/scale_exp", q.scale_exp, frac_source, frac)
            weight = 2 * _mantissas(source, f"layer/{k}/weight", layer.weight, q.scale_exp)
            bias = None if layer.bias is None else _fixed_vector(source, f"layer/{k}/bias", layer.bias, frac)
            out.append(FixedPointDense(weight, exp, bias, frac_source, frac))
            frac_source = frac
            continue
        fa, fc = q.frac_preact, q.frac_state
        exp_ih = _checked_weight_exp(source, f"{prefix}/scale_exp_ih", q.scale_exp_ih, frac_source, fa)
        exp_hh = _checked_weight_exp(source, f"{prefix}/scale_exp_hh", q.scale_exp_hh, fc, fa)
        three_h = layer.weight_hh.shape[0]
        biases = []
        for name in ("bias_ih", "bias_hh"):
            value = getattr(layer, name)
            biases.append(np.zeros(three_h, np.int64) if value is None
                          else _fixed_vector(source, f"layer/{k}/{name}", value, fa))
        threshold = None
        if layer.events:
            threshold = _fixed_vector(source, f"layer/{k}/neuron/threshold", layer.threshold, fc, low=1)
        out.append(FixedPointEGRU(
            2 * _mantissas(source, f"layer/{k}/weight_ih", layer.weight_ih, q.scale_exp_ih),
            2 * _mantissas(source, f"layer/{k}/weight_hh", layer.weight_hh, q.scale_exp_hh),
            exp_ih, exp_hh, biases[0], biases[1], threshold, frac_source, fa, fc, FRAC_GATE,
            layer.reset_mechanism, bool(layer.events)))
        frac_source = fc
    return out


def integer_network(spec, source=SPEC_SOURCE) -> list:
    """The integers of a quantised network, one entry per layer (numpy only).

    Returns ``[FixedPointInput, FixedPointDense | FixedPointEGRU, ...]``. The spec is
    validated first; :class:`FormatError` if it is not quantised or invalid.
    """
    from .validation import validate_spec  # validation uses integer_layers: import here, not at the top

    validate_spec(spec, source=source)
    if not spec.quantized:
        raise FormatError(source, "layer/0/quantization", "missing: the network is not quantised (a float network)")
    return integer_layers(spec.layers, source)
