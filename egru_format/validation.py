"""Validation of a :class:`~egru_format.spec.NetworkSpec` against the format, and the integers of a quantised one.

:func:`validate_spec` checks every layer (dtypes, shapes, finiteness, thresholds, reset
mechanism, surrogate), the fixed-point formats of a quantised network (through
:func:`egru_format.fixed_point.fixed_point_layers`) and that every ``model`` attribute is
a value the file can store (bool, number, string or numpy array; ``class``, if present,
a string), and returns that dict with numpy scalars as Python values. The first problem
raises a :class:`~egru_format.errors.FormatError` naming the source and the field.

What a producer stores about its own classes is the producer's to check: the format
keeps a ``class`` and its attributes as they are, and the snnTorch side
(``converters.snntorch_bridge``) validates its class names, their settings
(``batch_first``, ``tie_weights``, ...) and the layer layouts they need when it
rebuilds a model.

:func:`integer_network` is the fixed-point view of a whole quantised spec, validated
first.

    >>> import numpy as np
    >>> from egru_format import NetworkSpec, InputLayer, DenseLayer, FormatError, validate_spec
    >>> bad = NetworkSpec([InputLayer(3), DenseLayer(np.zeros((2, 4), np.float32))])
    >>> try:
    ...     validate_spec(bad)
    ... except FormatError as err:
    ...     print(err)
    <NetworkSpec>: layer/1/weight: has 4 columns but the previous layer (layer/0) has 3 outputs
    >>> validate_spec(NetworkSpec([InputLayer(2), DenseLayer(np.ones((1, 2), np.float32))],
    ...                           {"class": "Readout", "epochs": np.int64(3)}))
    {'class': 'Readout', 'epochs': 3}
"""

from __future__ import annotations

import math

import numpy as np

from .constants import INPUT_ENCODINGS, POLARITIES, RESET_MECHANISMS, SURROGATE_TYPES
from .errors import FormatError
from .fixed_point import SPEC_SOURCE, fixed_point_layers
from .spec import DenseLayer, EGRULayer, InputLayer, NetworkSpec, SurrogateSpec

__all__ = ["validate_spec", "integer_network", "model_key", "attr_value"]


def _check_matrix_or_vector(source, name: str, value, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise FormatError(source, name, f"must be a numpy array, got {type(value).__name__}")
    if value.dtype != np.float32:
        raise FormatError(source, name, f"has dtype {value.dtype}, expected float32")
    if value.ndim != ndim:
        raise FormatError(source, name, f"must be {ndim}-D, got shape {value.shape}")
    bad = np.count_nonzero(~np.isfinite(value))
    if bad:
        raise FormatError(source, name, f"contains {bad} NaN/Inf value(s)")
    return value


def _check_positive_float(source, name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise FormatError(source, name, f"must be a number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise FormatError(source, name, f"must be finite and > 0, got {value!r}")
    return value


def _check_layer(source, k: int, layer, in_size: int) -> None:
    prefix = f"layer/{k}"
    if isinstance(layer, DenseLayer):
        weight = _check_matrix_or_vector(source, f"{prefix}/weight", layer.weight, 2)
        if weight.shape[0] < 1:
            raise FormatError(source, f"{prefix}/weight", f"has no rows (shape {weight.shape})")
        if weight.shape[1] != in_size:
            raise FormatError(source, f"{prefix}/weight",
                              f"has {weight.shape[1]} columns but the previous layer (layer/{k - 1}) "
                              f"has {in_size} outputs")
        if layer.bias is not None:
            bias = _check_matrix_or_vector(source, f"{prefix}/bias", layer.bias, 1)
            if bias.shape[0] != weight.shape[0]:
                raise FormatError(source, f"{prefix}/bias",
                                  f"has {bias.shape[0]} entries but weight has {weight.shape[0]} rows")
        return
    if not isinstance(layer, EGRULayer):
        raise FormatError(source, f"{prefix}/type",
                          f"unknown layer type {type(layer).__name__} (expected DenseLayer or EGRULayer)")
    weight_hh = _check_matrix_or_vector(source, f"{prefix}/weight_hh", layer.weight_hh, 2)
    hidden = weight_hh.shape[1]
    if hidden < 1:
        raise FormatError(source, f"{prefix}/weight_hh", f"has no columns (shape {weight_hh.shape})")
    if weight_hh.shape[0] != 3 * hidden:
        raise FormatError(source, f"{prefix}/weight_hh",
                          f"must be [3H, H] (gate order r, z, n), got shape {weight_hh.shape}")
    weight_ih = _check_matrix_or_vector(source, f"{prefix}/weight_ih", layer.weight_ih, 2)
    if weight_ih.shape[0] != 3 * hidden:
        raise FormatError(source, f"{prefix}/weight_ih",
                          f"has {weight_ih.shape[0]} rows but weight_hh says 3H = {3 * hidden} (H = {hidden})")
    if weight_ih.shape[1] != in_size:
        raise FormatError(source, f"{prefix}/weight_ih",
                          f"has {weight_ih.shape[1]} columns but the previous layer (layer/{k - 1}) "
                          f"has {in_size} outputs")
    for name in ("bias_ih", "bias_hh"):
        value = getattr(layer, name)
        if value is not None:
            value = _check_matrix_or_vector(source, f"{prefix}/{name}", value, 1)
            if value.shape[0] != 3 * hidden:
                raise FormatError(source, f"{prefix}/{name}",
                                  f"has {value.shape[0]} entries, expected 3H = {3 * hidden}")
    neuron = f"{prefix}/neuron"
    threshold = _check_matrix_or_vector(source, f"{neuron}/threshold", layer.threshold, 1)
    if threshold.shape[0] != hidden:
        raise FormatError(source, f"{neuron}/threshold",
                          f"has {threshold.shape[0]} entries but weight_hh has 3H = {3 * hidden} rows "
                          f"(H = {hidden} units)")
    minimum = _check_positive_float(source, f"{neuron}/min_threshold", layer.min_threshold)
    if not bool((threshold > 0).all()):
        raise FormatError(source, f"{neuron}/threshold",
                          f"must be > 0 for every unit, got minimum {threshold.min():g}")
    if not bool((threshold >= np.float32(minimum)).all()):
        raise FormatError(source, f"{neuron}/threshold",
                          f"holds the thresholds in use, which are >= min_threshold={minimum:g}; "
                          f"got minimum {threshold.min():g}")
    if layer.reset_mechanism not in RESET_MECHANISMS:
        raise FormatError(source, f"{neuron}/reset_mechanism",
                          f"must be one of {RESET_MECHANISMS}, got {layer.reset_mechanism!r}")
    if not isinstance(layer.polarity, str) or layer.polarity not in POLARITIES:
        raise FormatError(source, f"{neuron}/polarity",
                          f"unknown event polarity {layer.polarity!r} (must be one of {POLARITIES})")
    if not isinstance(layer.events, (bool, np.bool_)):
        raise FormatError(source, f"{neuron}/events", f"must be a bool, got {type(layer.events).__name__}")
    surrogate = layer.surrogate
    if not isinstance(surrogate, SurrogateSpec):
        raise FormatError(source, f"{neuron}/surrogate",
                          f"must be a SurrogateSpec, got {type(surrogate).__name__}")
    if surrogate.type not in SURROGATE_TYPES:
        raise FormatError(source, f"{neuron}/surrogate/type",
                          f"must be one of {SURROGATE_TYPES}, got {surrogate.type!r}")
    _check_positive_float(source, f"{neuron}/surrogate/dampening", surrogate.dampening)
    _check_positive_float(source, f"{neuron}/surrogate/width", surrogate.width)


def model_key(key: str) -> str:
    """The field name errors use for ``model`` attribute ``key``."""
    return f"model.attrs[{key!r}]"


def _normalize_model(source, model) -> dict:
    if not isinstance(model, dict):
        raise FormatError(source, "model", f"must be a dict, got {type(model).__name__}")
    out = {}
    for key, value in model.items():
        if key == "class":
            if value is None:   # no class: a generic layer stack
                continue
            if not isinstance(value, str):
                raise FormatError(source, model_key(key), f"must be a string, got {value!r}")
        if isinstance(value, (str, np.ndarray)):
            out[key] = value
        elif isinstance(value, (bool, int, float, np.generic)):
            out[key] = attr_value(value).item()
        else:
            raise FormatError(source, model_key(key),
                              f"must be a bool, number, string or numpy array, got {type(value).__name__}")
    return out


def validate_spec(spec: NetworkSpec, source=SPEC_SOURCE) -> dict:
    """Check ``spec`` against the format; return its ``model`` dict with numpy scalars as Python values.

    Raises :class:`FormatError` (naming ``source`` and the field) on the first problem.
    The ``model`` attributes are checked for their types only (see the module docstring).
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"expected a NetworkSpec, got {type(spec).__name__}")
    layers = spec.layers
    if not isinstance(layers, (list, tuple)) or len(layers) < 2:
        raise FormatError(source, "layer", "needs an input layer and at least one more layer")
    first = layers[0]
    if not isinstance(first, InputLayer):
        raise FormatError(source, "layer/0/type",
                          f"the first layer must be 'input', got {getattr(first, 'type', first)!r}")
    if isinstance(first.size, (bool, np.bool_)) or not isinstance(first.size, (int, np.integer)) or first.size < 1:
        raise FormatError(source, "layer/0/shape", f"input size must be a positive integer, got {first.size!r}")
    if first.encoding not in INPUT_ENCODINGS:
        raise FormatError(source, "layer/0/encoding", f"must be one of {INPUT_ENCODINGS}, got {first.encoding!r}")
    size = int(first.size)
    for k, layer in enumerate(layers[1:], start=1):
        if isinstance(layer, InputLayer):
            raise FormatError(source, f"layer/{k}/type", "only layer/0 may be an input layer")
        _check_layer(source, k, layer, size)
        size = layer.shape[0]
    if any(getattr(layer, "quantization", None) is not None for layer in layers):
        fixed_point_layers(layers, source)
    return _normalize_model(source, spec.model)


def integer_network(spec: NetworkSpec, source=SPEC_SOURCE) -> list:
    """The integers of a quantised network, one entry per layer (numpy only).

    Returns ``[FixedPointInput, FixedPointDense | FixedPointEGRU, ...]``
    (:func:`~egru_format.fixed_point.fixed_point_layers`). The spec is validated first;
    :class:`FormatError` if it is not quantised or invalid.

    >>> from egru_format import (NetworkSpec, InputLayer, DenseLayer, InputQuantization,
    ...                          DenseQuantization)
    >>> spec = NetworkSpec([InputLayer(2, quantization=InputQuantization(8)),
    ...                     DenseLayer(np.array([[0.5, -0.25]], np.float32), np.array([0.125], np.float32),
    ...                                quantization=DenseQuantization(frac_state=8, scale_exp=-7))])
    >>> first, dense = integer_network(spec)
    >>> first.frac_input, dense.weight.tolist(), dense.weight_exp
    (8, [[128, -64]], -8)
    """
    validate_spec(spec, source=source)
    if not spec.quantized:
        raise FormatError(source, "layer/0/quantization", "missing: the network is not quantised (a float network)")
    return fixed_point_layers(spec.layers, source)


def attr_value(value):
    """A ``model`` attribute value as the numpy scalar HDF5 stores (bool, int64, float64), else as is."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    return value
