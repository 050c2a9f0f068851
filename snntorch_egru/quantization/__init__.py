r"""Loihi-style fixed-point EGRU: formats, calibration, exact integer inference and QAT.

``docs/fixed-point.md`` is the specification (the contract a Lava ``fixed_pt`` model
must meet bit for bit); this package is its reference implementation, one module per
concern, each importing only those above it in this list:

- :mod:`~snntorch_egru.quantization.formats`: :class:`QuantizationSpec` (a whole model)
  over the hub's per-layer formats :class:`~egru_format.EGRUQuantization` (one EGRU
  layer) and :class:`DenseQuantization` (an embedding or readout); the fixed-point
  constants (``FRAC_GATE``, the 24/32-bit bounds, ...) are the hub's too
  (:mod:`egru_format.constants`);
- :mod:`~snntorch_egru.quantization.primitives`: weights (:func:`weight_scale_exponent`,
  :func:`quantize_weights`: 8-bit mantissa times a power of two; the Lava integer weight
  is twice the mantissa) and integer arithmetic on ``torch.int64`` tensors:
  :func:`sat24`, :func:`rshift_round`, :func:`dense_int` (Lava's fixed-point ``Dense``),
  :func:`sigmoid_q`, :func:`tanh_q` (piecewise-linear PLAN with shifts, adds and
  compares only), all with overflow counting;
- :mod:`~snntorch_egru.quantization.integer`: a model's parameters as integer layers
  (:func:`integer_layers`) and the step :func:`egru_step_int`, for the positive neuron
  and the signed-event one (``EGRU(..., polarity="signed")``: events where ``|c~| > theta``,
  docs/fixed-point.md "Signed events"), whichever the model has;
- :mod:`~snntorch_egru.quantization.models`: whole models in integers, :func:`to_integer`
  -> :class:`IntegerEGRU` / :class:`IntegerEGRULanguageModel`, returning integer
  outputs, float views, the state and the overflow counters;
- :mod:`~snntorch_egru.quantization.calibration`: :func:`calibrate` picks the formats
  from calibration data (observe, constrain, solve);
- :mod:`~snntorch_egru.quantization.qat`: quantisation-aware training,
  :func:`quantization_aware` -> :class:`QuantizationAware`, a module that shares the
  model's parameters and runs the deployed arithmetic in floating point
  (straight-through rounding, PLAN gates, saturation). In float64 (the default) its
  forward pass equals the integer mode exactly.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.quantization import calibrate, to_integer, quantization_aware
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(3, 8, threshold=0.05)
    >>> x = torch.randn(20, 4, 3)
    >>> q = calibrate(rnn, x)
    >>> q.layers[0].frac_preact, q.layers[0].frac_gate
    (16, 12)
    >>> result = to_integer(rnn, q)(x)
    >>> result.output_int.dtype, result.output.shape, result.overflow_total
    (torch.int64, torch.Size([20, 4, 8]), 0)
    >>> qat = quantization_aware(rnn, q)                 # float64, shares rnn's parameters
    >>> y, _ = qat(x)
    >>> torch.equal(y, result.output.double())            # QAT forward == integer mode
    True
"""

from egru_format.integer import weight_exp

from . import formats
from .calibration import calibrate, calibrate_dense
from .formats import (
    DEFAULT_MAX_FRAC,
    HEADROOM,
    DenseQuantization,
    QuantizationError,
    QuantizationSpec,
)
from .integer import IntegerDenseLayer, IntegerEGRULayer, egru_step_int, integer_dense_layer, integer_layers
from .models import IntegerEGRU, IntegerEGRULanguageModel, IntegerNetwork, IntegerResult, new_overflow_counters
from .models import to_integer
from .primitives import (
    QuantizedWeights,
    dense_int,
    plan_sigmoid,
    plan_tanh,
    quantize_weights,
    round_half_away,
    rshift_round,
    sat24,
    shift,
    sigmoid_q,
    tanh_q,
    wrap32,
    weight_scale_exponent,
)
from .qat import QuantizationAware, fake_quantize_dense, fake_sigmoid_q, fake_tanh_q, project_dense_
from .qat import quantization_aware

__all__ = [
    "HEADROOM", "DEFAULT_MAX_FRAC", "QuantizationError", "DenseQuantization", "QuantizationSpec", "QuantizedWeights",
    "IntegerDenseLayer", "IntegerEGRULayer", "IntegerResult",
    "round_half_away", "weight_scale_exponent", "quantize_weights", "weight_exp", "sat24", "wrap32",
    "shift", "rshift_round", "dense_int", "sigmoid_q", "tanh_q", "plan_sigmoid", "plan_tanh",
    "fake_sigmoid_q", "fake_tanh_q", "egru_step_int", "integer_layers", "calibrate", "to_integer",
    "IntegerEGRU", "IntegerEGRULanguageModel", "QuantizationAware", "quantization_aware",
    "IntegerNetwork", "new_overflow_counters", "integer_dense_layer", "fake_quantize_dense", "project_dense_",
    "calibrate_dense",
]


def __getattr__(name: str):
    if name in formats._DEPRECATED:   # the hub's names this package used to re-export
        return formats._deprecated_name(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
