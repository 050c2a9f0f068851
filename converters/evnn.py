r"""Language models of the reference implementation (EvNN, ``benchmarks/lm``) in and out of this library.

The reference trains its language models with ``benchmarks/lm/train.py`` and keeps, per run
directory, the arguments in ``config.yaml`` and the weights of the best validation epoch in
``checkpoints/<RNN_TYPE>_best_model.cpt`` (a ``torch.save``\ d ``state_dict``; ``RNN_TYPE`` is
``rnn_type`` upper-cased). :func:`from_evnn` reads a run directory or a checkpoint file into an
:class:`snntorch_egru.EGRULanguageModel` (``rnn_type: egru``) or
:class:`snntorch_egru.RNNLanguageModel` (``gru``, ``lstm``) with the same forward pass;
:func:`to_evnn_state_dict` and :func:`write_evnn_run` write a model of this library in the
reference's layout (tests, and a way back).

What the checkpoint holds (per reference layer ``l``; the reference's language model is
embedding -> ``layers`` recurrent layers, each reading the previous one's output -> tied
decoder; no projection between layers):

- ``embeddings.weight`` [V, E]; ``decoder.decoder.weight`` [V, E] (the same tensor: tied) and
  ``decoder.decoder.bias`` [V]; ``decoder.projection.*`` only with ``projection: true``;
- EGRU: ``rnns.l.kernel`` [I, 3H] and ``rnns.l.recurrent_kernel`` [H, 3H] (transposed against
  torch's ``weight_ih``/``weight_hh``), ``rnns.l.bias`` and ``rnns.l.recurrent_bias`` [3H], the
  3H axis in blocks ``z, r, n`` (:data:`EVNN_GATE_ORDER`; this library's is ``r, z, n``,
  :data:`egru_format.GATE_ORDER`); ``rnns.l.thr`` [H] (older releases: ``rnns.l.thr_reparam``,
  used as ``sigmoid(thr_reparam)``); ``rnns.l.dampening_factor`` and
  ``rnns.l.pseudo_derivative_support`` [1] (the triangle pseudo-derivative
  ``dampening * max(0, 1 - support |c - thr|)``, this library's ``triangle(dampening, support)``);
  ``rnns.l._max_norm`` [1] (a clip of the gradient in the backward pass: no part of the model,
  not imported);
- GRU / LSTM (``torch.nn.GRU``/``LSTM``, one per layer, torch's gate order): with DropConnect
  ``rnns.l.weight_hh_l0_raw`` (the trained recurrent matrix) and ``rnns.l.module.{weight_ih_l0,
  bias_ih_l0, bias_hh_l0}`` (``rnns.l.module.weight_hh_l0`` is the last dropped copy of the raw
  matrix, not imported); without it ``rnns.l.{weight_ih_l0, weight_hh_l0, bias_ih_l0,
  bias_hh_l0}``.

Layer sizes from ``config.yaml``: layer ``l`` has ``hidden_dim`` units, the last ``emb_dim``
(tied decoder, no projection); the first reads ``emb_dim`` inputs. Without a configuration the
sizes come from the tensors' shapes, and sizes given as arguments are checked against them.

Thresholds: the reference clamps ``thr`` into [0, 1] at every forward pass; the import applies
the same clamp. This library needs thresholds > 0, and the reference's Beta draw with mean 0.01
leaves some thresholds at exactly 0 (or subnormal): those become :data:`THRESHOLD_FLOOR` (the
smallest normal float32, 1.18e-38), and the model's ``min_threshold`` is set to the smallest
threshold. Where the reference fires at ``c > 0`` the import fires at ``c > 1.18e-38``: the two
differ only for ``0 < c <= 1.18e-38``, and subtracting the floor changes no float32 ``c`` above
about 1e-31. Every adjustment is reported by an :class:`EvnnImportWarning` naming the layer and
the count.

Not supported (one :class:`EvnnImportError` naming the file and key): ``projection: true``
(a Linear between the last layer and the decoder), any ``rnn_type`` besides egru/gru/lstm,
unknown keys (nothing is dropped silently).

Example::

    >>> import tempfile, torch
    >>> from snntorch_egru import EGRULanguageModel
    >>> from converters.evnn import from_evnn, write_evnn_run
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> lm = EGRULanguageModel(50, 8, [16, 8], tie_weights=True).eval()
    >>> run = write_evnn_run(lm, tempfile.mkdtemp(), bptt=70)   # a run directory in the reference's layout
    >>> sorted(p.name for p in run.rglob("*") if p.is_file())
    ['EGRU_best_model.cpt', 'config.yaml']
    >>> again = from_evnn(run).eval()
    >>> tokens = torch.randint(0, 50, (20, 1))
    >>> torch.equal(again(tokens)[0], lm(tokens)[0])
    True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from egru_format import GATE_ORDER, atomic_write_stream, atomic_write_text
from snntorch_egru import EGRULanguageModel, RNNLanguageModel
from snntorch_egru.surrogate import TriangleSurrogate, triangle

__all__ = ["from_evnn", "to_evnn_state_dict", "write_evnn_run", "read_evnn_config", "evnn_checkpoint_path",
           "EvnnConfig", "EvnnImportError", "EvnnImportWarning", "EVNN_GATE_ORDER", "EVNN_RNN_TYPES",
           "THRESHOLD_FLOOR", "CONFIG_NAME"]

#: The order of the gate blocks along the 3H axis of the reference's EGRU tensors.
EVNN_GATE_ORDER = "zrn"
#: The reference's ``rnn_type`` values this importer reads.
EVNN_RNN_TYPES = ("egru", "gru", "lstm")
#: What an imported threshold of 0 (or subnormal) becomes: the smallest normal float32.
THRESHOLD_FLOOR = float(np.finfo(np.float32).tiny)
#: The reference's run configuration file, and its checkpoint folder.
CONFIG_NAME = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
#: The library's default threshold floor: kept unless an imported threshold is below it.
DEFAULT_MIN_THRESHOLD = 1e-3
#: The reference EGRU's surrogate defaults (its constructor's), for a checkpoint without the tensors.
EVNN_SURROGATE_DEFAULTS = (0.7, 1.0)


class EvnnImportError(ValueError):
    """A file that is not a usable checkpoint of the reference: the message names the file and the key."""

    def __init__(self, source, key: str, problem: str):
        self.source, self.key = str(source), key
        super().__init__(f"{source}: {key}: {problem}")


class EvnnImportWarning(UserWarning):
    """A value the import changed (a threshold clamped into (0, 1]): layer, key and count named."""


@dataclass(frozen=True)
class EvnnConfig:
    """The model-structure entries of a reference run's ``config.yaml``.

    ``hidden_dim`` is the reference's one size of the layers before the last; the last layer
    has ``emb_dim`` units (tied decoder). ``bptt`` is the segment length of its evaluation.
    """

    rnn_type: str
    layers: int
    hidden_dim: int
    emb_dim: int
    projection: bool = False
    bptt: Optional[int] = None
    pseudo_derivative_width: Optional[float] = None

    def layer_sizes(self) -> list:
        """Units per layer: ``hidden_dim`` for every layer but the last, which has ``emb_dim``."""
        return [self.hidden_dim] * (self.layers - 1) + [self.emb_dim]


def evnn_checkpoint_path(run_dir, rnn_type: str) -> Path:
    """``run_dir/checkpoints/<RNN_TYPE>_best_model.cpt``, where the reference keeps its best model."""
    return Path(run_dir) / CHECKPOINT_DIR / f"{rnn_type.upper()}_best_model.cpt"


def _positive_int(source, key, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EvnnImportError(source, key, f"must be a positive integer, got {value!r}")
    return value


def read_evnn_config(path) -> EvnnConfig:
    """The :class:`EvnnConfig` of a reference run's ``config.yaml`` (an :class:`EvnnImportError`
    naming the file and key for a missing or malformed entry)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reference run configuration {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EvnnImportError(path, "(file)", f"not a YAML file ({type(exc).__name__})") from None
    if not isinstance(values, dict):
        raise EvnnImportError(path, "(file)", f"holds {type(values).__name__}, not the run's settings")
    for key in ("rnn_type", "layers", "hidden_dim", "emb_dim"):
        if key not in values:
            raise EvnnImportError(path, key, "missing (a reference run's config.yaml has it)")
    rnn_type = values["rnn_type"]
    if rnn_type not in EVNN_RNN_TYPES:
        raise EvnnImportError(path, "rnn_type", f"{rnn_type!r} is not supported (supported: {EVNN_RNN_TYPES})")
    hidden = values["hidden_dim"]
    if isinstance(hidden, (list, tuple)):
        raise EvnnImportError(path, "hidden_dim", f"a list {hidden!r}; the reference's is one int per run")
    projection = values.get("projection", False)
    if not isinstance(projection, bool):
        raise EvnnImportError(path, "projection", f"must be true or false, got {projection!r}")
    bptt = values.get("bptt")
    width = values.get("pseudo_derivative_width")
    if width is not None and (isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0):
        raise EvnnImportError(path, "pseudo_derivative_width", f"must be a positive number, got {width!r}")
    return EvnnConfig(rnn_type=rnn_type, layers=_positive_int(path, "layers", values["layers"]),
                      hidden_dim=_positive_int(path, "hidden_dim", hidden),
                      emb_dim=_positive_int(path, "emb_dim", values["emb_dim"]), projection=projection,
                      bptt=None if bptt is None else _positive_int(path, "bptt", bptt),
                      pseudo_derivative_width=None if width is None else float(width))


def _load_state(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no reference checkpoint {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  # torch raises many types for a foreign file
        raise EvnnImportError(path, "(file)", f"not a torch.save'd state dict ({type(exc).__name__}: "
                                              f"{str(exc).splitlines()[0][:120]})") from None
    if isinstance(state, dict) and len(state) == 1 and next(iter(state)) in ("state_dict", "model_state_dict"):
        state = next(iter(state.values()))
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise EvnnImportError(path, "(file)", f"holds a {type(state).__name__}, not a state dict")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise EvnnImportError(path, key, f"holds a {type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise EvnnImportError(path, key, "holds NaN or infinite values")
    return state


class _Keys:
    """The checkpoint's tensors, each taken at most once; what is left at the end is an error."""

    def __init__(self, source, state: dict):
        self.source, self.state, self.left = source, state, set(state)

    def has(self, key: str) -> bool:
        return key in self.state

    def take(self, key: str, shape=None) -> torch.Tensor:
        if key not in self.state:
            raise EvnnImportError(self.source, key, "missing")
        value = self.state[key]
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise EvnnImportError(self.source, key, f"has shape {tuple(value.shape)}, expected {tuple(shape)}")
        if not value.is_floating_point():
            raise EvnnImportError(self.source, key, f"has dtype {value.dtype}, expected a floating-point tensor")
        self.left.discard(key)
        return value.detach().to(torch.float32)

    def skip(self, key: str) -> None:
        self.left.discard(key)

    def finish(self) -> None:
        if self.left:
            names = sorted(self.left)
            raise EvnnImportError(self.source, names[0], f"not a key of the reference's language model "
                                                         f"(unknown keys: {names[:6]}{' ...' if len(names) > 6 else ''})")


def _layer_indices(source, state: dict) -> list:
    indices = set()
    for key in state:
        if key.startswith("rnns."):
            part = key.split(".")[1]
            if not part.isdigit():
                raise EvnnImportError(source, key, "rnns.<l> needs an integer layer index")
            indices.add(int(part))
    if not indices:
        raise EvnnImportError(source, "rnns.0.*", "missing: the checkpoint holds no recurrent layer")
    if sorted(indices) != list(range(len(indices))):
        raise EvnnImportError(source, f"rnns.{min(set(range(max(indices) + 1)) - indices)}.*",
                              f"missing: layers {sorted(indices)} are not numbered 0..{len(indices) - 1}")
    return sorted(indices)


def _detect_type(source, state: dict) -> str:
    """``"egru"``, ``"gru"`` or ``"lstm"`` from layer 0's keys and its recurrent matrix's shape."""
    if "rnns.0.kernel" in state:
        return "egru"
    raw = state.get("rnns.0.weight_hh_l0_raw")
    w_ih = state.get("rnns.0.module.weight_ih_l0" if raw is not None else "rnns.0.weight_ih_l0")
    w_hh = raw if raw is not None else state.get("rnns.0.weight_hh_l0")
    if w_ih is not None and w_hh is not None and w_hh.dim() == 2 and w_hh.shape[1] > 0:
        gates, rest = divmod(w_hh.shape[0], w_hh.shape[1])
        if rest == 0 and gates in (3, 4):
            return "gru" if gates == 3 else "lstm"
    raise EvnnImportError(source, "rnns.0.kernel", "missing: neither an EGRU layer (kernel) nor a GRU/LSTM "
                                                   "layer (weight_ih_l0, weight_hh_l0) found")


def reorder_gates(tensor: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """``tensor``'s three gate blocks along dim 0, from the order ``source`` to ``target`` (e.g. ``"zrn"`` ->
    ``"rzn"``)."""
    blocks = dict(zip(source, tensor.chunk(3, dim=0)))
    return torch.cat([blocks[gate] for gate in target], dim=0)


def _egru_layer(keys: _Keys, l: int, inputs: int, hidden: Optional[int]) -> dict:
    prefix = f"rnns.{l}."
    kernel = keys.state.get(prefix + "kernel")
    if kernel is None:
        raise EvnnImportError(keys.source, prefix + "kernel", "missing")
    if hidden is None:
        if kernel.dim() != 2 or kernel.shape[1] % 3:
            raise EvnnImportError(keys.source, prefix + "kernel", f"has shape {tuple(kernel.shape)}, expected [I, 3H]")
        hidden = kernel.shape[1] // 3
    w_ih = keys.take(prefix + "kernel", (inputs, 3 * hidden)).t()
    w_hh = keys.take(prefix + "recurrent_kernel", (hidden, 3 * hidden)).t()
    b_ih, b_hh = keys.take(prefix + "bias", (3 * hidden,)), keys.take(prefix + "recurrent_bias", (3 * hidden,))
    if keys.has(prefix + "thr"):
        threshold, key = keys.take(prefix + "thr", (hidden,)), prefix + "thr"
        above = int((threshold > 1).sum())
        threshold = threshold.clamp(0.0, 1.0)             # the reference's clamp at every forward pass
        if above:
            warnings.warn(f"{keys.source}: {key}: {above} of {hidden} thresholds above 1 clamped to 1 "
                          f"(the reference clamps them so at every forward pass)", EvnnImportWarning, stacklevel=3)
    elif keys.has(prefix + "thr_reparam"):
        key = prefix + "thr_reparam"
        threshold = torch.sigmoid(keys.take(key, (hidden,)))   # the older releases' parametrisation
    else:
        raise EvnnImportError(keys.source, prefix + "thr", "missing (neither thr nor thr_reparam)")
    low = int((threshold < THRESHOLD_FLOOR).sum())
    if low:
        threshold = threshold.clamp_min(THRESHOLD_FLOOR)
        warnings.warn(f"{keys.source}: {key}: {low} of {hidden} thresholds were 0 or subnormal and are now "
                      f"{THRESHOLD_FLOOR:.6g} (this library needs thresholds > 0; they fire where c > "
                      f"{THRESHOLD_FLOOR:.3g} instead of c > 0)", EvnnImportWarning, stacklevel=3)
    surrogate = []
    for name in ("dampening_factor", "pseudo_derivative_support"):
        surrogate.append(float(keys.take(prefix + name, (1,))) if keys.has(prefix + name) else None)
    keys.skip(prefix + "_max_norm")
    return dict(hidden=hidden, threshold=threshold, surrogate=tuple(surrogate),
                weights=[reorder_gates(w, EVNN_GATE_ORDER, GATE_ORDER) for w in (w_ih, w_hh, b_ih, b_hh)])


def _rnn_layer(keys: _Keys, l: int, inputs: int, hidden: Optional[int], gates: int) -> dict:
    prefix = f"rnns.{l}."
    wrapped = keys.has(prefix + "weight_hh_l0_raw")
    inner = prefix + ("module." if wrapped else "")
    recurrent_key = prefix + "weight_hh_l0_raw" if wrapped else inner + "weight_hh_l0"
    if hidden is None:
        recurrent = keys.state.get(recurrent_key)
        if recurrent is None:
            raise EvnnImportError(keys.source, recurrent_key, "missing")
        hidden = recurrent.shape[-1]
    weights = [keys.take(inner + "weight_ih_l0", (gates * hidden, inputs)),
               keys.take(recurrent_key, (gates * hidden, hidden)),
               keys.take(inner + "bias_ih_l0", (gates * hidden,)), keys.take(inner + "bias_hh_l0", (gates * hidden,))]
    if wrapped:
        keys.skip(inner + "weight_hh_l0")      # the last DropConnect copy of weight_hh_l0_raw
    return dict(hidden=hidden, weights=weights)


def from_evnn(source, *, rnn_type: Optional[str] = None, layers: Optional[int] = None,
              hidden_dim: Optional[int] = None, emb_dim: Optional[int] = None):
    """The language model of a reference run directory or checkpoint file, as a model of this library.

    ``source``: a run directory (``config.yaml`` and ``checkpoints/<RNN_TYPE>_best_model.cpt``) or
    a checkpoint file (a ``torch.save``\\ d state dict; sizes from the tensors' shapes). ``rnn_type``,
    ``layers``, ``hidden_dim`` and ``emb_dim``, when given, must agree with the configuration and
    the tensors. Returns an :class:`~snntorch_egru.EGRULanguageModel` (egru) or
    :class:`~snntorch_egru.RNNLanguageModel` (gru, lstm) in evaluation mode, float32, on the CPU.
    Errors: :class:`EvnnImportError` (a ``ValueError``) naming the file and key;
    ``FileNotFoundError`` for a missing file.
    """
    source = Path(source)
    config = None
    if source.is_dir():
        config = read_evnn_config(source / CONFIG_NAME)
        path = evnn_checkpoint_path(source, config.rnn_type)
    else:
        path = source
    state = _load_state(path)
    if config is not None and config.projection:
        raise EvnnImportError(source / CONFIG_NAME, "projection", "true: a projection decoder (Linear from the "
                              "last layer to the embedding) is not supported by this importer")
    if any(key.startswith("decoder.projection.") for key in state):
        key = next(key for key in state if key.startswith("decoder.projection."))
        raise EvnnImportError(path, key, "a projection decoder is not supported by this importer")
    kind = _detect_type(path, state)
    expected = {"rnn_type": rnn_type, "layers": layers, "hidden_dim": hidden_dim, "emb_dim": emb_dim}
    if config is not None:
        for name, value in expected.items():
            if value is not None and value != getattr(config, name):
                raise EvnnImportError(source / CONFIG_NAME, name, f"is {getattr(config, name)!r} but "
                                                                   f"{name}={value!r} was given")
        expected = {name: getattr(config, name) for name in expected}
    if expected["rnn_type"] is not None and expected["rnn_type"] != kind:
        raise EvnnImportError(path, "rnns.0.*", f"holds a {kind} layer, but rnn_type is {expected['rnn_type']!r}")
    indices = _layer_indices(path, state)
    if expected["layers"] is not None and expected["layers"] != len(indices):
        raise EvnnImportError(path, f"rnns.{len(indices) - 1}.*", f"the checkpoint has {len(indices)} layers, "
                                                                  f"expected layers={expected['layers']}")
    keys = _Keys(path, state)
    embedding = keys.state.get("embeddings.weight")
    if embedding is None or embedding.dim() != 2:
        raise EvnnImportError(path, "embeddings.weight", "missing" if embedding is None else
                              f"has shape {tuple(embedding.shape)}, expected [V, E]")
    vocab, emb = embedding.shape
    if expected["emb_dim"] is not None and expected["emb_dim"] != emb:
        raise EvnnImportError(path, "embeddings.weight", f"has shape {tuple(embedding.shape)}, expected "
                                                         f"[V, {expected['emb_dim']}] (emb_dim)")
    embedding = keys.take("embeddings.weight")
    sizes = None
    if expected["hidden_dim"] is not None and expected["emb_dim"] is not None:
        sizes = [expected["hidden_dim"]] * (len(indices) - 1) + [expected["emb_dim"]]
    converted, inputs = [], emb
    for l in indices:
        hidden = None if sizes is None else sizes[l]
        layer = (_egru_layer(keys, l, inputs, hidden) if kind == "egru"
                 else _rnn_layer(keys, l, inputs, hidden, 3 if kind == "gru" else 4))
        converted.append(layer)
        inputs = layer["hidden"]
    last = converted[-1]["hidden"]
    decoder_bias = keys.take("decoder.decoder.bias", (vocab,))
    tie = True
    decoder_weight = None
    if keys.has("decoder.decoder.weight"):
        decoder_weight = keys.take("decoder.decoder.weight", (vocab, last))
        tie = last == emb and torch.equal(decoder_weight, embedding)
    keys.finish()
    hidden_sizes = [layer["hidden"] for layer in converted]
    if kind == "egru":
        surrogates = {layer["surrogate"] for layer in converted}
        if len(surrogates) != 1:
            raise EvnnImportError(path, "rnns.*.dampening_factor", f"differ between layers {sorted(surrogates)}; "
                                                                   f"this library's EGRU has one surrogate")
        dampening, support = surrogates.pop()
        if dampening is None or support is None:
            width = config.pseudo_derivative_width if config is not None else None
            dampening, support = (width, width) if width is not None else EVNN_SURROGATE_DEFAULTS
        min_threshold = min(DEFAULT_MIN_THRESHOLD, *(float(layer["threshold"].min()) for layer in converted))
        model = EGRULanguageModel(vocab, emb, hidden_sizes, tie_weights=tie, spike_grad=triangle(dampening, support),
                                  min_threshold=min_threshold)
        for k, layer in enumerate(converted):
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), layer["weights"]):
                getattr(model.rnn, f"{name}_l{k}").data.copy_(value)
            getattr(model.rnn, f"threshold_l{k}").data.copy_(layer["threshold"])
    else:
        model = RNNLanguageModel(vocab, emb, hidden_sizes, cell=kind, tie_weights=tie)
        for k, layer in enumerate(converted):
            for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), layer["weights"]):
                getattr(model.rnn.layers[k], name).data.copy_(value)
    model.embedding.weight.data.copy_(embedding)
    if not tie:
        model.readout.weight.data.copy_(decoder_weight)
    model.readout.bias.data.copy_(decoder_bias)
    return model.eval()


def to_evnn_state_dict(model, *, dropconnect: bool = True) -> dict:
    """A model of this library as the reference's language-model ``state_dict`` (float32 CPU tensors).

    EGRU: ``kernel``/``recurrent_kernel`` transposed, gate blocks in :data:`EVNN_GATE_ORDER`, the
    thresholds as used in the forward pass (``max(theta, min_threshold)``) under ``thr``, the
    surrogate's dampening and support, ``_max_norm`` -1 (no gradient clip). GRU/LSTM: the DropConnect
    wrapper's keys (``weight_hh_l0_raw`` and ``module.*``) with ``dropconnect=True``, else plain keys.
    A signed-event EGRU has no counterpart in the reference: ``NotImplementedError``.
    """
    state = {"embeddings.weight": model.embedding.weight.detach().float().cpu().clone()}
    if isinstance(model, EGRULanguageModel):
        if model.polarity != "positive":
            raise NotImplementedError("the reference implementation has no signed-event EGRU: only "
                                      "polarity='positive' models can be written in its layout")
        surrogate = model.rnn.spike_grad
        if not isinstance(surrogate, TriangleSurrogate):
            raise NotImplementedError(f"the reference's surrogate is a triangle; this model's is "
                                      f"{type(surrogate).__name__}")
        for k in range(model.rnn.num_layers):
            params = model.rnn.layer_parameters(k)
            prefix = f"rnns.{k}."
            state[prefix + "_max_norm"] = torch.tensor([-1.0])
            state[prefix + "kernel"] = reorder_gates(params.weight_ih.detach(), GATE_ORDER, EVNN_GATE_ORDER).t()
            state[prefix + "recurrent_kernel"] = reorder_gates(params.weight_hh.detach(), GATE_ORDER,
                                                               EVNN_GATE_ORDER).t()
            for name, bias in (("bias", params.bias_ih), ("recurrent_bias", params.bias_hh)):
                hidden = params.weight_hh.shape[1]
                bias = torch.zeros(3 * hidden) if bias is None else bias.detach()
                state[prefix + name] = reorder_gates(bias, GATE_ORDER, EVNN_GATE_ORDER)
            state[prefix + "dampening_factor"] = torch.tensor([float(surrogate.dampening)])
            state[prefix + "pseudo_derivative_support"] = torch.tensor([float(surrogate.width)])
            state[prefix + "thr"] = params.threshold.detach()
    elif isinstance(model, RNNLanguageModel):
        for k, layer in enumerate(model.rnn.layers):
            prefix = f"rnns.{k}."
            inner = prefix + ("module." if dropconnect else "")
            for name in ("weight_ih_l0", "bias_ih_l0", "bias_hh_l0", "weight_hh_l0"):
                state[inner + name] = getattr(layer, name).detach()
            if dropconnect:
                state[prefix + "weight_hh_l0_raw"] = layer.weight_hh_l0.detach()
    else:
        raise TypeError(f"cannot write a {type(model).__name__} in the reference's layout: supported are "
                        f"EGRULanguageModel and RNNLanguageModel")
    state["decoder.decoder.weight"] = (state["embeddings.weight"] if model.tie_weights
                                       else model.readout.weight.detach())
    state["decoder.decoder.bias"] = model.readout.bias.detach()
    return {key: value.float().cpu().contiguous().clone() if value is not state["embeddings.weight"] else value
            for key, value in state.items()}


def write_evnn_run(model, directory, *, bptt: int = 70, dropconnect: bool = True, **settings) -> Path:
    """Write ``model`` as a reference run directory: ``config.yaml`` (``rnn_type``, ``layers``,
    ``hidden_dim``, ``emb_dim``, ``projection: false``, ``bptt`` and any further ``settings``) and
    ``checkpoints/<RNN_TYPE>_best_model.cpt``, atomically; returns the directory.

    The reference's layout has one ``hidden_dim`` for every layer but the last, which has
    ``emb_dim`` units: a model with other sizes is refused (ValueError naming the sizes).
    """
    import yaml

    sizes = list(model.hidden_sizes)
    if sizes[-1] != model.embedding_size or len(set(sizes[:-1])) > 1:
        raise ValueError(f"the reference's layout has equal layers and a last layer of emb_dim units; this model "
                         f"has hidden_sizes {sizes} and embedding_size {model.embedding_size}")
    rnn_type = "egru" if isinstance(model, EGRULanguageModel) else getattr(model, "cell", None)
    state = to_evnn_state_dict(model, dropconnect=dropconnect)
    config = {"rnn_type": rnn_type, "layers": len(sizes), "hidden_dim": sizes[0] if len(sizes) > 1 else sizes[-1],
              "emb_dim": model.embedding_size, "projection": False, "bptt": int(bptt), **settings}
    if rnn_type == "egru":
        surrogate = model.rnn.spike_grad
        if math.isclose(surrogate.dampening, surrogate.width):
            config.setdefault("pseudo_derivative_width", float(surrogate.width))
    directory = Path(directory)
    atomic_write_text(directory / CONFIG_NAME, yaml.safe_dump(config, sort_keys=True), parents=True)
    atomic_write_stream(evnn_checkpoint_path(directory, rnn_type), lambda stream: torch.save(state, stream),
                        parents=True)
    return directory
