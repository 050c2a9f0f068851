"""The torch side of the converters: ``snntorch_egru`` models <-> the network format.

- :func:`to_spec` / :func:`export_snntorch`: an :class:`snntorch_egru.EGRU` or
  :class:`snntorch_egru.EGRULanguageModel` -> :class:`egru_format.NetworkSpec` / file.
- :func:`from_spec` / :func:`load_snntorch`: spec / file -> a new model with identical
  float32 weights, thresholds, reset mechanism, surrogate settings and, for a language
  model, re-tied weights.
- :func:`model_settings`: the ``model`` attributes this side stores about its classes
  (``class`` in :data:`MODEL_CLASSES`, ``batch_first``, ``tie_weights``, dropouts, ...),
  checked against the class and its layer layout and completed with the class's
  defaults. The format keeps these attributes without knowing them: checking them is
  the torch side's job, done here when a model is rebuilt.

Layouts written (see docs/format.md):

- ``EGRU``: ``input`` (encoding ``vector``, size I) + one ``egru`` layer per EGRU layer.
- ``EGRULanguageModel``: ``input`` (encoding ``tokens``, size V) + ``dense`` embedding
  (weight = ``embedding.weight.T`` [E, V], no bias) + ``egru`` layers + ``dense`` readout
  (``readout.weight`` [V, H], ``readout.bias`` [V]).

Thresholds: the file stores the thresholds used in the forward pass
(``layer_parameters(k).threshold``, i.e. after the straight-through clamp at
``min_threshold``). A model whose raw thresholds are all >= ``min_threshold`` round-trips
bit for bit; a raw threshold below the floor comes back as the floor value it acted as.

Round trip torch -> file -> torch is lossless otherwise: equal ``state_dict`` bit for
bit, hence identical forward outputs. The loaded model is a fresh module on the CPU (in
training mode, like any new module).

Fixed point (format version 2, docs/fixed-point.md): ``to_spec(model, quantization=q)``
/ ``export_snntorch(..., quantization=q)`` with a
:class:`snntorch_egru.quantization.QuantizationSpec` add one ``quantization`` group per
layer (the float weights are stored unchanged; the integers follow from them and the
formats). The export checks the model against the spec first
(:func:`snntorch_egru.quantization.integer_layers`: a :class:`QuantizationError` names
the layer and value that do not fit). ``load_snntorch(path, with_quantization=True)``
returns ``(model, spec or None)``; :func:`quantization_from_spec` reads the formats of a
:class:`NetworkSpec`.

Generic stacks: :func:`stack_to_spec` / :func:`stack_from_spec` write and read an EGRU
followed by a linear readout (``torch.nn.Linear``) as ``input -> egru ... -> dense``
without a ``class`` attribute, float or quantised (e.g. the digits classifier of
:mod:`egru.pipelines.digits`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru import quantization as quant
from snntorch_egru.surrogate import TriangleSurrogate, triangle

from egru_format import (
    SPEC_SOURCE, DenseLayer, EGRULayer, FormatError, InputLayer, InputQuantization,
    NetworkSpec, SurrogateSpec, read_network, validate_spec, write_network,
)
from egru_format.spec import identical
from egru_format.validation import model_key

__all__ = ["SUPPORTED_TYPES", "MODEL_CLASSES", "to_spec", "from_spec", "model_settings", "export_snntorch",
           "load_snntorch", "quantization_from_spec", "egru_layers", "stack_to_spec", "stack_from_spec"]

SUPPORTED_TYPES = (EGRU, EGRULanguageModel)
_SUPPORTED_NAMES = "snntorch_egru.EGRU or snntorch_egru.EGRULanguageModel"
#: The classes a network file may name in its ``model`` attribute ``class`` (docs/format.md).
MODEL_CLASSES = ("EGRU", "EGRULanguageModel")
#: The ``model`` attributes each class reads, with the values a file that omits them means.
_CLASS_DEFAULTS = {
    "EGRU": {"batch_first": False, "dropout": 0.0, "learn_threshold": True},
    "EGRULanguageModel": {"tie_weights": False, "dropout_embedding": 0.0, "dropout_between": 0.0,
                          "dropout_output": 0.0, "learn_threshold": True},
}
_BOOL_KEYS = {"batch_first", "learn_threshold", "tie_weights"}
_FLOAT_KEYS = {"dropout", "dropout_embedding", "dropout_between", "dropout_output"}
_INT_KEYS = {"vocab_size", "embedding_size"}


def _array(tensor: torch.Tensor, name: str) -> np.ndarray:
    if tensor.dtype != torch.float32:
        raise TypeError(
            f"{name} has dtype {tensor.dtype}; the format stores float32 weights: convert the model "
            f"with model.float() before exporting"
        )
    return tensor.detach().cpu().numpy().copy()


def _optional_array(tensor, name: str):
    return None if tensor is None else _array(tensor, name)


def egru_layers(rnn: EGRU, prefix: str = "") -> list:
    """One :class:`egru_format.EGRULayer` per layer of ``rnn`` (float32 copies, forward-pass thresholds).

    The building block of :func:`to_spec`, public for stacks of other shapes (e.g. an EGRU
    followed by a readout, as a generic ``input -> egru -> dense`` file). ``prefix`` is
    the EGRU's name inside its model (``"rnn."``), for the error messages. Raises
    ``TypeError`` as :func:`to_spec` does.
    """
    if getattr(rnn, "record_candidates", False):
        raise NotImplementedError(
            "the network file format stores a readout of the graded events only; this model's readout reads the "
            "dense pre-reset states (readout_input='candidates', a diagnostic)")
    spike_grad = rnn.spike_grad
    if not isinstance(spike_grad, TriangleSurrogate):
        raise TypeError(
            f"{prefix}spike_grad is {spike_grad!r}: the format stores only the triangle surrogate "
            f"(snntorch_egru.surrogate.triangle)"
        )
    surrogate = SurrogateSpec("triangle", float(spike_grad.dampening), float(spike_grad.width))
    layers = []
    with torch.no_grad():
        for k in range(rnn.num_layers):
            params = rnn.layer_parameters(k)
            layers.append(EGRULayer(
                weight_ih=_array(params.weight_ih, f"{prefix}weight_ih_l{k}"),
                weight_hh=_array(params.weight_hh, f"{prefix}weight_hh_l{k}"),
                bias_ih=_optional_array(params.bias_ih, f"{prefix}bias_ih_l{k}"),
                bias_hh=_optional_array(params.bias_hh, f"{prefix}bias_hh_l{k}"),
                threshold=_array(params.threshold, f"{prefix}threshold_l{k}"),
                reset_mechanism=rnn.reset_mechanism,
                polarity=rnn.polarity,
                events=bool(rnn.events),
                min_threshold=float(rnn.min_threshold),
                surrogate=surrogate,
            ))
    return layers


def _attach_quantization(spec: NetworkSpec, model, quantization) -> NetworkSpec:
    if not isinstance(quantization, quant.QuantizationSpec):
        raise TypeError(f"quantization must be a snntorch_egru.quantization.QuantizationSpec, "
                        f"got {type(quantization).__name__}")
    quant.integer_layers(model, quantization)   # QuantizationError naming the layer and value
    spec.layers[0].quantization = InputQuantization(quantization.frac_input)
    for layer, q in zip(spec.layers[1:], quantization.layers):
        layer.quantization = q     # the torch side's formats are the format's own classes
    return spec


def quantization_from_spec(spec: NetworkSpec):
    """The :class:`snntorch_egru.quantization.QuantizationSpec` stored in ``spec`` (None for a float network)."""
    if not spec.quantized:
        return None
    return quant.QuantizationSpec(spec.layers[0].quantization.frac_input,
                                  tuple(layer.quantization for layer in spec.layers[1:]))


def to_spec(model, quantization=None) -> NetworkSpec:
    """The :class:`NetworkSpec` of an ``EGRU`` or ``EGRULanguageModel`` (copies, float32).

    ``quantization``: a :class:`snntorch_egru.quantization.QuantizationSpec` to store
    with the layers (format version 2), or None for a float network.

    Raises ``TypeError`` for other objects, non-float32 parameters or a spike_grad that is
    not the triangle surrogate; :class:`~snntorch_egru.quantization.QuantizationError`
    when the model does not fit the fixed-point formats.
    """
    spec = _to_float_spec(model)
    return spec if quantization is None else _attach_quantization(spec, model, quantization)


def _to_float_spec(model) -> NetworkSpec:
    if isinstance(model, EGRULanguageModel):
        layers = [InputLayer(model.vocab_size, "tokens"),
                  DenseLayer(np.ascontiguousarray(_array(model.embedding.weight, "embedding.weight").T))]
        layers += egru_layers(model.rnn, "rnn.")
        layers.append(DenseLayer(_array(model.readout.weight, "readout.weight"),
                                 _array(model.readout.bias, "readout.bias")))
        model_attrs = {
            "class": "EGRULanguageModel",
            "vocab_size": model.vocab_size,
            "embedding_size": model.embedding_size,
            "tie_weights": model.tie_weights,
            "dropout_embedding": model.dropout_embedding,
            "dropout_between": model.dropout_between,
            "dropout_output": model.dropout_output,
            "learn_threshold": bool(model.rnn.learn_threshold),
        }
        return NetworkSpec(layers, model_attrs)
    if isinstance(model, EGRU):
        layers = [InputLayer(model.input_size, "vector"), *egru_layers(model)]
        model_attrs = {
            "class": "EGRU",
            "batch_first": bool(model.batch_first),
            "dropout": float(model.dropout),
            "learn_threshold": bool(model.learn_threshold),
        }
        return NetworkSpec(layers, model_attrs)
    raise TypeError(f"cannot convert a {type(model).__name__}: supported types are {_SUPPORTED_NAMES}")


def model_settings(spec: NetworkSpec, source=SPEC_SOURCE) -> dict:
    """The ``model`` attributes of a spec that names an ``snntorch_egru`` class, checked and completed.

    The spec is validated against the format first (:func:`egru_format.validate_spec`).
    Then ``class`` must be one of :data:`MODEL_CLASSES`; ``batch_first``,
    ``learn_threshold``, ``tie_weights`` are bools, the dropouts numbers in [0, 1),
    ``vocab_size``, ``embedding_size`` integers; attributes a file omits take the class's
    defaults (docs/format.md, "The ``model`` group"). The layers must have the class's
    layout: ``EGRU`` is a ``vector`` input followed by egru layers only;
    ``EGRULanguageModel`` is a ``tokens`` input, a dense embedding without bias, one or
    more egru layers and a dense readout with bias over the vocabulary, whose
    ``vocab_size`` and ``embedding_size`` (filled in from the layers) agree with them,
    and with ``tie_weights`` the readout weight is exactly the transposed embedding.
    The first problem raises :class:`FormatError` naming ``source`` and the field.

    >>> import numpy as np
    >>> from egru_format import EGRULayer, InputLayer
    >>> layer = EGRULayer(np.zeros((6, 3), np.float32), np.zeros((6, 2), np.float32), None, None,
    ...                   np.full(2, 0.1, np.float32))
    >>> model_settings(NetworkSpec([InputLayer(3), layer], {"class": "EGRU", "dropout": 0}))
    {'class': 'EGRU', 'dropout': 0.0, 'batch_first': False, 'learn_threshold': True}
    >>> model_settings(NetworkSpec([InputLayer(3), layer], {"class": "EGRU", "batch_first": "yes"}))
    Traceback (most recent call last):
    ...
    egru_format.FormatError: <NetworkSpec>: model.attrs['batch_first']: must be a bool, got 'yes'
    """
    model = validate_spec(spec, source=source)
    layers = spec.layers
    cls = model.get("class")
    if cls is None:
        raise FormatError(source, model_key("class"),
                          "missing: the file describes a generic layer stack, not an snntorch_egru model "
                          "(class 'EGRU' or 'EGRULanguageModel')")
    if cls not in MODEL_CLASSES:
        raise FormatError(source, model_key("class"), f"unknown model class {cls!r} (expected one of {MODEL_CLASSES})")
    out = dict(model)
    for key, value in _CLASS_DEFAULTS[cls].items():
        out.setdefault(key, value)
    for key, value in out.items():
        if key in _BOOL_KEYS:
            if not isinstance(value, (bool, np.bool_)):
                raise FormatError(source, model_key(key), f"must be a bool, got {value!r}")
            out[key] = bool(value)
        elif key in _FLOAT_KEYS:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise FormatError(source, model_key(key), f"must be a number, got {value!r}")
            if not 0.0 <= float(value) < 1.0:
                raise FormatError(source, model_key(key), f"must be in [0, 1), got {value!r}")
            out[key] = float(value)
        elif key in _INT_KEYS:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise FormatError(source, model_key(key), f"must be an integer, got {value!r}")
            out[key] = int(value)
    first = layers[0]
    if cls == "EGRU":
        if first.encoding != "vector":
            raise FormatError(source, "layer/0/encoding", f"class EGRU needs a 'vector' input, got {first.encoding!r}")
        for k, layer in enumerate(layers[1:], start=1):
            if not isinstance(layer, EGRULayer):
                raise FormatError(source, f"layer/{k}/type",
                                  f"class EGRU is an input layer followed by egru layers only, got {layer.type!r}")
        return out
    _check_language_model_layout(source, layers, out)
    return out


def _check_language_model_layout(source, layers: list, settings: dict) -> None:
    """input(tokens) -> dense (embedding, no bias) -> egru+ -> dense (readout, bias); fills in the sizes."""
    n = len(layers)
    if layers[0].encoding != "tokens":
        raise FormatError(source, "layer/0/encoding",
                          f"class EGRULanguageModel needs a 'tokens' input, got {layers[0].encoding!r}")
    egru_positions = [k for k, layer in enumerate(layers) if isinstance(layer, EGRULayer)]
    if n < 4 or not isinstance(layers[1], DenseLayer) or not isinstance(layers[-1], DenseLayer) \
            or egru_positions != list(range(2, n - 1)):
        types = [layer.type for layer in layers]
        raise FormatError(source, "layer",
                          f"class EGRULanguageModel needs layers input, dense, egru (one or more), dense; got {types}")
    embedding, readout = layers[1], layers[-1]
    if embedding.bias is not None:
        raise FormatError(source, "layer/1/bias", "the embedding layer of an EGRULanguageModel has no bias")
    if readout.bias is None:
        raise FormatError(source, f"layer/{n - 1}/bias", "the readout layer of an EGRULanguageModel needs a bias")
    vocab, emb = layers[0].size, embedding.weight.shape[0]
    for key, actual in (("vocab_size", vocab), ("embedding_size", emb)):
        if key in settings and settings[key] != actual:
            raise FormatError(source, model_key(key), f"is {settings[key]} but the layers say {actual}")
        settings[key] = int(actual)
    if readout.weight.shape[0] != vocab:
        raise FormatError(source, f"layer/{n - 1}/weight",
                          f"has {readout.weight.shape[0]} rows but the vocabulary (layer/0/shape) is {vocab}")
    if settings["tie_weights"]:
        if layers[-2].hidden_size != emb:
            raise FormatError(source, model_key("tie_weights"),
                              f"is true but the last EGRU layer has {layers[-2].hidden_size} units "
                              f"and the embedding {emb}")
        if not identical(np.ascontiguousarray(readout.weight.T), np.ascontiguousarray(embedding.weight)):
            raise FormatError(source, f"layer/{n - 1}/weight",
                              "tie_weights is true but the readout weight is not the transposed embedding "
                              "(layer/1/weight)")


def _shared_setting(source, layers: list, first_index: int, attribute: str, field: str):
    value = getattr(layers[0], attribute)
    for offset, layer in enumerate(layers[1:], start=1):
        if getattr(layer, attribute) != value:
            raise FormatError(
                source, f"layer/{first_index + offset}/{field}",
                f"is {getattr(layer, attribute)!r} but layer/{first_index}'s is {value!r}: "
                f"snntorch_egru.EGRU uses one setting for all its layers",
            )
    return value


def _build_rnn_kwargs(source, egrus: list, first_index: int) -> dict:
    has_bias = [(layer.bias_ih is not None, layer.bias_hh is not None) for layer in egrus]
    for offset, (b_ih, b_hh) in enumerate(has_bias):
        if b_ih != has_bias[0][0] or b_hh != has_bias[0][0]:
            raise FormatError(
                source, f"layer/{first_index + offset}/{'bias_hh' if b_ih == has_bias[0][0] else 'bias_ih'}",
                "snntorch_egru.EGRU needs either both biases in every layer or none at all",
            )
    surrogate = _shared_setting(source, egrus, first_index, "surrogate", "neuron/surrogate")
    return {
        "bias": has_bias[0][0],
        "events": bool(_shared_setting(source, egrus, first_index, "events", "neuron/events")),
        "reset_mechanism": _shared_setting(source, egrus, first_index, "reset_mechanism", "neuron/reset_mechanism"),
        "polarity": _shared_setting(source, egrus, first_index, "polarity", "neuron/polarity"),
        "min_threshold": float(_shared_setting(source, egrus, first_index, "min_threshold", "neuron/min_threshold")),
        "spike_grad": triangle(surrogate.dampening, surrogate.width),
        "threshold": [torch.from_numpy(layer.threshold.copy()) for layer in egrus],
    }


def _copy(target: torch.Tensor, array: np.ndarray) -> None:
    target.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def _copy_egru_weights(rnn: EGRU, egrus: list) -> None:
    for k, layer in enumerate(egrus):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            value = getattr(layer, name)
            if value is not None:
                _copy(getattr(rnn, f"{name}_l{k}"), value)
        _copy(getattr(rnn, f"threshold_l{k}"), layer.threshold)


def from_spec(spec: NetworkSpec, source="<NetworkSpec>"):
    """A new ``EGRU`` or ``EGRULanguageModel`` (on the CPU) with the spec's exact weights.

    The spec is validated first (:func:`model_settings`: the format, then the class's
    ``model`` attributes and layout); settings that ``snntorch_egru`` keeps per model
    rather than per layer (reset mechanism, event polarity, events, surrogate, min_threshold,
    biases) must
    agree across the EGRU layers, else :class:`FormatError`.
    """
    model_attrs = model_settings(spec, source)
    layers = spec.layers
    with torch.no_grad():
        if model_attrs["class"] == "EGRU":
            egrus = layers[1:]
            kwargs = _build_rnn_kwargs(source, egrus, 1)
            model = EGRU(
                layers[0].size, [layer.hidden_size for layer in egrus], batch_first=model_attrs["batch_first"],
                dropout=model_attrs["dropout"], learn_threshold=model_attrs["learn_threshold"], **kwargs,
            )
            _copy_egru_weights(model, egrus)
            return model
        egrus = layers[2:-1]
        kwargs = _build_rnn_kwargs(source, egrus, 2)
        if not kwargs.pop("bias") or not kwargs.pop("events"):
            raise FormatError(source, "layer/2",
                              "an EGRULanguageModel's EGRU layers have biases and events switched on")
        model = EGRULanguageModel(
            model_attrs["vocab_size"], model_attrs["embedding_size"], [layer.hidden_size for layer in egrus],
            tie_weights=model_attrs["tie_weights"], dropout_embedding=model_attrs["dropout_embedding"],
            dropout_between=model_attrs["dropout_between"], dropout_output=model_attrs["dropout_output"],
            learn_threshold=model_attrs["learn_threshold"], **kwargs,
        )
        _copy(model.embedding.weight, layers[1].weight.T)
        _copy_egru_weights(model.rnn, egrus)
        if not model.tie_weights:
            _copy(model.readout.weight, layers[-1].weight)
        _copy(model.readout.bias, layers[-1].bias)
        return model


def export_snntorch(model, path, *, sparse="auto", quantization=None) -> Path:
    """Write an ``EGRU`` or ``EGRULanguageModel`` to ``path`` (atomically); return the path.

    ``sparse`` as in :func:`egru_format.write_network`; ``quantization`` as in
    :func:`to_spec`.
    """
    return write_network(to_spec(model, quantization), path, sparse=sparse)


def load_snntorch(path, *, with_quantization: bool = False):
    """Read ``path`` and return the ``EGRU`` or ``EGRULanguageModel`` it describes.

    ``with_quantization=True``: return ``(model, quantization)``, the second a
    :class:`snntorch_egru.quantization.QuantizationSpec` or None (a float network).
    """
    spec = read_network(path)
    model = from_spec(spec, source=os.fspath(path))
    return (model, quantization_from_spec(spec)) if with_quantization else model


def stack_to_spec(rnn: EGRU, readout: torch.nn.Linear, quantization=None, *, description: str = None) -> NetworkSpec:
    """The generic layer stack ``input -> egru ... -> dense`` of ``rnn`` followed by ``readout``.

    The readout reads the last EGRU layer's events at every step,
    ``out[t] = readout.weight @ y[t] + readout.bias``. The spec names no
    ``snntorch_egru`` class (docs/format.md, "generic layer stack"): the Lava side runs the
    whole stack, :func:`stack_from_spec` reads it back and :func:`load_snntorch` refuses it.
    ``description``: stored as the ``model`` attribute ``description`` (None: no attribute).

    ``quantization``: None for a float network, or a
    :class:`snntorch_egru.quantization.QuantizationSpec` in file order, one format per
    layer after the input: the EGRU layers' formats, then the readout's
    :class:`~snntorch_egru.quantization.DenseQuantization`
    (``QuantizationSpec(q.frac_input, (*q.layers, q_readout))`` for ``q =
    calibrate(rnn, x)``; :func:`quantization_from_spec` of the result gives it back). The
    model is checked against it first: a :class:`~snntorch_egru.quantization.QuantizationError`
    names the layer and the value that do not fit.

    Raises ``TypeError`` as :func:`to_spec` does, and for a ``readout`` that is not a
    ``torch.nn.Linear`` of ``rnn``'s output width.

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> rnn, readout = EGRU(8, 16, batch_first=True), torch.nn.Linear(16, 10)
    >>> spec = stack_to_spec(rnn, readout, description="EGRU + readout")
    >>> [layer.type for layer in spec.layers], spec.model
    (['input', 'egru', 'dense'], {'description': 'EGRU + readout'})
    >>> rnn_again, readout_again = stack_from_spec(spec, batch_first=True)
    >>> torch.equal(readout_again.weight, readout.weight), rnn_again.batch_first
    (True, True)
    """
    if not isinstance(rnn, EGRU):
        raise TypeError(f"rnn must be an snntorch_egru.EGRU, got {type(rnn).__name__}")
    if not isinstance(readout, torch.nn.Linear) or readout.in_features != rnn.hidden_sizes[-1]:
        raise TypeError(f"readout must be a torch.nn.Linear reading the EGRU's {rnn.hidden_sizes[-1]} outputs, "
                        f"got {readout!r}")
    dense = DenseLayer(_array(readout.weight, "readout.weight"), _optional_array(readout.bias, "readout.bias"))
    spec = NetworkSpec([InputLayer(rnn.input_size, "vector"), *egru_layers(rnn, "rnn."), dense],
                       {} if description is None else {"description": description})
    if quantization is None:
        return spec
    if not isinstance(quantization, quant.QuantizationSpec) or len(quantization.layers) != rnn.num_layers + 1:
        raise TypeError(f"quantization must be a snntorch_egru.quantization.QuantizationSpec with "
                        f"{rnn.num_layers + 1} layer formats (the EGRU's, then the readout's), got {quantization!r}")
    q_rnn = quant.QuantizationSpec(quantization.frac_input, quantization.layers[:-1])
    _attach_quantization(spec, rnn, q_rnn)
    q_readout = quantization.layers[-1]
    quant.integer_dense_layer("readout", readout.weight.detach(), None if readout.bias is None
                              else readout.bias.detach(), q_readout, q_rnn.output_frac)
    dense.quantization = q_readout
    return spec


def stack_from_spec(spec: NetworkSpec, source="<NetworkSpec>", *, batch_first: bool = False):
    """``(rnn, readout)``: a new ``EGRU`` and ``torch.nn.Linear`` with the exact weights of a stack.

    The inverse of :func:`stack_to_spec`: ``spec`` must be ``input -> egru ... -> dense``
    (any ``model`` attributes; the spec is validated first). ``batch_first`` is the new
    EGRU's setting (a stack file does not store it); its dropout is 0 and its thresholds
    are trainable. The quantisation formats, if any: :func:`quantization_from_spec`.
    Raises :class:`FormatError` naming ``source`` for another layer sequence, and as
    :func:`from_spec` does for EGRU layers that disagree in a per-model setting.
    """
    validate_spec(spec, source=source)
    types = [layer.type for layer in spec.layers]
    if len(types) < 3 or types[-1] != "dense" or set(types[1:-1]) != {"egru"}:
        raise FormatError(source, "layer", f"expected input -> egru ... -> dense (an EGRU + readout stack), "
                                           f"got {types}")
    egrus, dense = spec.layers[1:-1], spec.layers[-1]
    with torch.no_grad():
        rnn = EGRU(spec.layers[0].size, [layer.hidden_size for layer in egrus], batch_first=batch_first,
                   **_build_rnn_kwargs(source, egrus, 1))
        _copy_egru_weights(rnn, egrus)
        readout = torch.nn.Linear(dense.weight.shape[1], dense.weight.shape[0], bias=dense.bias is not None)
        _copy(readout.weight, dense.weight)
        if dense.bias is not None:
            _copy(readout.bias, dense.bias)
    return rnn, readout
