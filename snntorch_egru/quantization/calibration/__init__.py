r"""Calibration: pick a model's fixed-point formats from a float run, in three phases.

1. :mod:`.observe`: run the float model (float64, the reference gates) on the
   calibration inputs and record the magnitudes each format must hold;
2. :mod:`.constrain`: every fractional-bit count gets an upper bound from those
   magnitudes and a lower bound, every Dense connection two difference constraints on
   its ``weight_exp``;
3. :mod:`.solve`: the largest formats that satisfy all of them, as a
   :class:`~snntorch_egru.quantization.QuantizationSpec`.

:func:`calibrate` runs the three on a whole model; :func:`calibrate_dense` applies the
same rule to one Dense layer after a calibrated network (e.g. a readout on EGRU events).
"""

from __future__ import annotations

from typing import Optional

import torch

from egru_format import FRAC_LIMIT, WEIGHT_EXP_MAX, WEIGHT_EXP_MIN, DenseQuantization, QuantizationError
from egru_format.spec import checked_int

from ..formats import DEFAULT_MAX_FRAC, QuantizationSpec
from ..integer import integer_layers
from ..primitives import weight_scale_exponent
from .constrain import constraints, frac_upper
from .observe import observe
from .solve import largest_formats, spec_from_formats

__all__ = ["calibrate", "calibrate_dense"]


def calibrate(model, calibration_inputs, *, max_frac: int = DEFAULT_MAX_FRAC) -> QuantizationSpec:
    """Pick the fixed-point formats of ``model`` from a float run on ``calibration_inputs``.

    ``calibration_inputs``: one tensor or a sequence of tensors, each as the model takes
    it (float [T, B, I] for an ``EGRU``, honouring ``batch_first``; token ids [T, B] for
    an ``EGRULanguageModel``); each is run from the zero state.

    Rule (docs/fixed-point.md, "Calibration"): every weight matrix gets
    ``s = ceil(log2(max|W| / 127))``; every fractional-bit count F gets an upper bound,
    the largest F <= ``max_frac`` with (observed max magnitude) * 2**F < 2**22, where the
    magnitude is: |x| for F_in; max |pre-activation| (a_r, a_z, U_n y + b_Un, a_n) and
    |bias| for F_a; max |c~| and the largest threshold for F_c; max |output| and |bias|
    for a dense layer (all embedding weights for the embedding). Then all F are lowered,
    as little as possible, until every Dense ``weight_exp`` is in [-8, 7] (the greatest
    solution of these difference constraints). Lower bounds: F_in = 0 for tokens,
    F_a >= 1, F_c large enough for the smallest threshold to quantise to >= 1.

    Raises :class:`QuantizationError` naming the layer and the value when no format fits.

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> calibrate(EGRU(3, 8, threshold=0.05), torch.randn(20, 4, 3))   # doctest: +NORMALIZE_WHITESPACE
    QuantizationSpec(frac_input=15, layers=(EGRUQuantization(frac_preact=16, frac_state=15, scale_exp_ih=-8,
                     scale_exp_hh=-8, frac_gate=12),))
    """
    max_frac = checked_int("max_frac", max_frac, 1, FRAC_LIMIT)
    problem = constraints(model, observe(model, calibration_inputs), max_frac)
    spec = spec_from_formats(model, problem, largest_formats(problem))
    integer_layers(model, spec)  # raises for thresholds/biases/weights that do not fit
    return spec


def calibrate_dense(weight: torch.Tensor, bias: Optional[torch.Tensor], max_abs_output: float, frac_source: int,
                    *, max_frac: int = DEFAULT_MAX_FRAC, name: str = "dense") -> DenseQuantization:
    """The format of one Dense layer after a calibrated network (e.g. a readout on EGRU events).

    The rule of :func:`calibrate` for a single edge: ``s = ceil(log2(max|W| / 127))``, F the
    largest value <= ``max_frac`` with ``max(max_abs_output, max|b|) * 2**F < 2**22``, lowered
    until ``weight_exp = s - frac_source + F - 1 <= 7``. Raises :class:`QuantizationError` when
    no F also satisfies ``weight_exp >= -8`` and F >= 0.

    >>> import torch
    >>> calibrate_dense(torch.tensor([[0.5, -0.25]]), torch.tensor([0.1]), max_abs_output=3.0, frac_source=10)
    DenseQuantization(frac_state=16, scale_exp=-7)
    """
    s = weight_scale_exponent(weight.detach())
    magnitude = float(max_abs_output)
    if bias is not None:
        magnitude = max(magnitude, float(bias.detach().abs().max()))
    frac = min(frac_upper(magnitude, max_frac), frac_source - s + WEIGHT_EXP_MAX + 1)
    if frac < max(0, frac_source - s + WEIGHT_EXP_MIN + 1):
        raise QuantizationError(f"{name}: no fixed-point format fits (max |output| {magnitude:g}, "
                                f"input frac {frac_source}, weight scale 2**{s})")
    return DenseQuantization(frac, s)
