r"""The fixed-point formats of a model: one :class:`QuantizationSpec` over per-layer formats.

The per-layer formats and every fixed-point constant live in the hub, :mod:`egru_format`
(one class per layer kind, shared with the file format and the Lava side):
:class:`~egru_format.EGRUQuantization` (an EGRU layer: ``frac_preact`` F_a,
``frac_state`` F_c, ``scale_exp_ih``, ``scale_exp_hh``) and
:class:`~egru_format.DenseQuantization` (an embedding or readout). This module adds the
whole-model spec and calibration's own bounds (:data:`HEADROOM`, :data:`DEFAULT_MAX_FRAC`).

A Dense edge from a source with ``F_src`` fractional bits into a destination with
``F_dst`` and weights on ``mantissa * 2**s`` shifts its accumulator by

.. math::

    \mathrm{weight\_exp} = s - F_{src} + F_{dst} - 1 \in [-8, 7]

(the ``- 1``: Lava's integer weight is twice the mantissa).

    >>> from egru_format import EGRUQuantization
    >>> spec = QuantizationSpec(8, (EGRUQuantization(frac_preact=12, frac_state=10, scale_exp_ih=-7,
    ...                                              scale_exp_hh=-8),))
    >>> spec.frac_source(0), spec.output_frac
    (8, 10)
    >>> spec.weight_exps()            # s - F_src + F_dst - 1
    [{'weight_ih': -4, 'weight_hh': -7}]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Tuple, Union

import egru_format
from egru_format import DenseQuantization, EGRUQuantization, InputQuantization, QuantizationError

__all__ = ["HEADROOM", "DEFAULT_MAX_FRAC", "QuantizationError", "DenseQuantization", "InputQuantization",
           "QuantizationSpec"]

#: Calibration keeps every observed magnitude below this (one bit of headroom under 2**23).
HEADROOM = 1 << 22
#: Calibration's cap on fractional bits.
DEFAULT_MAX_FRAC = 16

#: Names this module (and :mod:`snntorch_egru.quantization`) re-exported from :mod:`egru_format`:
#: deprecated, they resolve to the hub's definitions with a warning for one release.
_DEPRECATED = {
    "LayerQuantization": "EGRUQuantization", "FRAC_GATE": "FRAC_GATE", "GATE_ONE": "GATE_ONE",
    "INT24_MIN": "INT24_MIN", "INT24_MAX": "INT24_MAX", "INT32_MIN": "INT32_MIN", "INT32_MAX": "INT32_MAX",
    "MANTISSA_MIN": "MANTISSA_MIN", "MANTISSA_MAX": "MANTISSA_MAX", "WEIGHT_EXP_MIN": "WEIGHT_EXP_MIN",
    "WEIGHT_EXP_MAX": "WEIGHT_EXP_MAX", "FRAC_LIMIT": "FRAC_LIMIT", "OVERFLOW_KEYS": "OVERFLOW_KEYS",
}


def _deprecated_name(module: str, name: str):
    """The hub's object behind a deprecated name of ``module``, with a ``DeprecationWarning``."""
    target = _DEPRECATED[name]
    warnings.warn(f"{module}.{name} is deprecated and will be removed: use egru_format.{target}",
                  DeprecationWarning, stacklevel=3)
    return getattr(egru_format, target)


def __getattr__(name: str):
    if name in _DEPRECATED:
        return _deprecated_name(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class QuantizationSpec:
    """The fixed-point formats of a whole model.

    Attributes:
        frac_input: F_in of the network input (vector inputs); 0 for token inputs
            (one-hot messages are the integer 1).
        layers: one entry per layer after the input, in the order of the network file:
            an ``EGRU`` gives ``(EGRUQuantization, ...)``; an ``EGRULanguageModel``
            gives ``(DenseQuantization (embedding), EGRUQuantization, ...,
            DenseQuantization (readout))``.
    """

    frac_input: int
    layers: Tuple[Union[EGRUQuantization, DenseQuantization], ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "frac_input", InputQuantization(self.frac_input).frac_input)
        layers = tuple(self.layers)
        for k, layer in enumerate(layers):
            if not isinstance(layer, (EGRUQuantization, DenseQuantization)):
                raise QuantizationError(f"layers[{k}] must be an EGRUQuantization or DenseQuantization, "
                                        f"got {type(layer).__name__}")
        object.__setattr__(self, "layers", layers)

    def frac_source(self, k: int) -> int:
        """Fractional bits of the messages entering ``layers[k]``."""
        return self.frac_input if k == 0 else self.layers[k - 1].frac_state

    def weight_exps(self) -> list:
        """Every Dense ``weight_exp``: per layer, ``{"weight_ih": e, "weight_hh": e}`` or ``{"weight": e}``."""
        out = []
        for k, layer in enumerate(self.layers):
            source = self.frac_source(k)
            if isinstance(layer, EGRUQuantization):
                out.append({"weight_ih": layer.weight_exp_ih(source), "weight_hh": layer.weight_exp_hh})
            else:
                out.append({"weight": layer.weight_exp(source)})
        return out

    @property
    def output_frac(self) -> int:
        """Fractional bits of the network output (the last layer's ``frac_state``)."""
        return self.layers[-1].frac_state if self.layers else self.frac_input
