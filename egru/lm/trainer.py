r"""Word-level language-model training and evaluation for :class:`EGRULanguageModel`.

Training follows the reference recipe at any scale:

- the model (:func:`build_model`): an :class:`EGRULanguageModel` (``rnn_type="egru"``) with
  the triangle surrogate gradient ``surrogate_dampening * max(0, 1 - surrogate_width * |c -
  theta|)`` and per-unit thresholds initialised to ``threshold`` (``threshold_init="constant"``)
  or drawn from Beta(alpha, ``threshold_beta``) with mean ``threshold``, clamped into
  ``[min_threshold, threshold_max]`` (``threshold_init="beta"``, :func:`init_thresholds`), or
  a GRU/LSTM baseline (``rnn_type="gru"`` / ``"lstm"``,
  :class:`snntorch_egru.baselines.RNNLanguageModel`);
- AdamW (``betas``, ``weight_decay``; :func:`build_optimizer`) with the thresholds in their
  own parameter group: learning rate ``lr * threshold_lr_scale`` (0 freezes them, as the
  reference recipe does) and no weight decay; every other parameter gets ``weight_decay``
  (the activity knob of the EGRU papers). With ``threshold_init="beta"`` learned
  thresholds are projected back into ``[min_threshold, threshold_max]`` after every
  optimizer step (the reference clamps them in the forward pass instead; identical when
  they are frozen);
- truncated BPTT over segments whose length is randomised AWD-LSTM style (mostly ``bptt``,
  sometimes ``bptt / 2``, jittered), the state carried between segments (detached),
  gradient-norm clipping (``clip``);
- cosine decay of the learning rate to ``min_lr`` over the last ``cosine_fraction`` of the
  training (per optimizer step, by the position in the epochs; each parameter group keeps
  its ``lr_scale`` factor);
- ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``; under ``torchrun`` ``"cuda"`` means
  ``cuda:LOCAL_RANK``): model, data, masks, carried state and evaluation live there;
  checkpoints hold CPU tensors, so they load anywhere and a run resumes on another device;
- regularisation (:mod:`snntorch_egru.regularization`): word dropout on the embedding
  matrix rows (``dropout_words``), locked (variational) dropout on the embedding outputs,
  between layers and before the readout (``dropout_embedding``, ``dropout_between``,
  ``dropout_output``; ``locked_dropout=False`` for ordinary dropout), DropConnect on the
  recurrent matrices (``dropconnect``);
- gradual magnitude pruning (:class:`~snntorch_egru.pruning.Pruner` with a
  :class:`~snntorch_egru.pruning.CubicSchedule`) when ``prune_sparsity > 0``; the masks
  are buffers of the model, so they are in every checkpoint;
- atomic checkpoints (``output_dir/checkpoint.pt``) every ``checkpoint_every`` optimizer
  steps and at every epoch end, holding model, optimizer, scheduler, pruner, all RNG
  states, the carried state and the position inside the epoch; ``resume=True`` continues
  exactly where the checkpoint was written;
- per-epoch records (loss, perplexity, activity; validation at batch size 1) printed and
  appended to ``output_dir/log.jsonl`` (the file replaced atomically, as every file the
  trainer writes: :mod:`egru_format.atomic`); a progress bar (tqdm when installed, else a
  text line every ~10% of an epoch);
- checks before anything is allocated: a CUDA ``device`` the machine has, a corpus with at
  least 2 tokens per stream of the batch (one training step), the estimated memory of the
  model and batch within what the device has free (:mod:`egru.lm.resources`), a resumed
  checkpoint of the same settings and vocabulary;
- data parallelism with ``torch.distributed`` (DDP): under ``torchrun`` the global batch
  ``batch_size`` is split across the ranks (rank r holds streams ``[r B/R, (r+1) B/R)``,
  carrying their state), every rank sees the same BPTT segments, and the per-rank mean loss
  averaged by DDP equals the single-process mean over the global batch;
- one loop for every training run of a language model: fine-tuning after pruning
  (``pruner=``, under :func:`snntorch_egru.pruning.prune_and_finetune`) and
  quantisation-aware fine-tuning (``forward=`` the QAT wrapper, ``after_step=`` its
  projection) run :func:`train_language_model` too.

Evaluation runs at batch size 1, as the EGRU papers report activity, and returns the
per-token cross-entropy, perplexity and activity.

The command line over this module (every :class:`LMConfig` field a ``--flag``, ``torchrun``
for DDP, the commands to run) is :mod:`egru.train_lm`.

Example (tiny, synthetic data)::

    >>> import torch
    >>> from egru.lm.trainer import LMConfig, train_language_model, evaluate
    >>> tokens = torch.arange(600) % 7                      # a periodic "corpus" of 7 words
    >>> config = LMConfig(embedding_size=8, hidden_sizes=(16, 8), epochs=3, batch_size=4, bptt=10, lr=1e-2)
    >>> model, history = train_language_model(config, tokens, vocab_size=7)
    >>> result = evaluate(model, tokens[:100])
    >>> result.perplexity < 7.0                             # better than uniform guessing
    True
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
from torch import nn

from snntorch_egru import EGRULanguageModel, RNNLanguageModel
from snntorch_egru.functional import check_polarity
from snntorch_egru.language_model import READOUT_INPUTS
from snntorch_egru.pruning import CubicSchedule, Pruner
from snntorch_egru.regularization import RegularizedLM
from snntorch_egru.surrogate import triangle

from egru_format import atomic_write_text

from .checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .data import CorpusError, batchify
from .resources import ResourceError, check_training_memory

try:
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None

__all__ = ["LMConfig", "EvalResult", "CosineTailSchedule", "train_language_model", "evaluate",
           "bptt_segments", "build_model", "build_optimizer", "build_pruner", "init_thresholds",
           "threshold_parameters", "CHECKPOINT_NAME", "LOG_NAME", "RNN_TYPES", "THRESHOLD_INITS", "EVAL_CARRIES",
           "evaluation_segments"]

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
RNN_TYPES = ("egru", "gru", "lstm")
THRESHOLD_INITS = ("constant", "beta")
#: What :func:`evaluate` carries between segments: the whole state, or the reference
#: implementation's y only (c restarted at 0 per segment).
EVAL_CARRIES = ("exact", "reference")
#: Options of the EGRU's thresholds and surrogate gradient: meaningless for ``rnn_type`` gru/lstm.
EGRU_ONLY_OPTIONS = ("threshold", "threshold_init", "threshold_beta", "threshold_max", "min_threshold",
                     "threshold_lr_scale", "surrogate_dampening", "surrogate_width", "polarity", "readout_input")
#: Options that may change when a run is resumed (they do not change what is computed).
RESUMABLE_CHANGES = ("device", "eval_carry")
#: What a training checkpoint of this trainer holds (resume checks them before it reads any).
TRAINING_CHECKPOINT_KEYS = ("config", "model", "optimizer", "scheduler", "pruner", "rng", "history", "position")


@dataclass
class LMConfig:
    """Model and optimisation settings (defaults: a CPU-sized model; see the reference recipe in docs)."""

    embedding_size: int = 128
    hidden_sizes: Sequence[int] = (256, 128)
    tie_weights: bool = True
    rnn_type: str = "egru"           # "egru", or the "gru" / "lstm" baseline
    threshold: float = 0.1           # every unit's threshold ("constant"), the Beta mean ("beta")
    threshold_init: str = "constant"  # "constant" or "beta"
    threshold_beta: float = 3.0      # beta of Beta(alpha, beta) ("beta" init)
    threshold_max: float = 1.0       # upper end of the threshold range ("beta" init)
    min_threshold: float = 1e-3      # floor of the thresholds (> 0): forward clamp; "beta": range's lower end
    threshold_lr_scale: float = 1.0  # thresholds' lr = lr x this (0: frozen); never weight-decayed
    surrogate_dampening: float = 0.7  # triangle pseudo-derivative dampening * max(0, 1 - width |c - theta|)
    surrogate_width: float = 1.0
    polarity: str = "positive"       # "positive" (reference neuron) or "signed" events (|c~| > theta)
    readout_input: str = "events"    # "events" (the EGRU), or "candidates": the dense c~ (a diagnostic)
    dropout_embedding: float = 0.0   # (locked) dropout on the embedding outputs
    dropout_between: float = 0.0     # (locked) dropout between EGRU layers
    dropout_output: float = 0.0      # (locked) dropout on the last layer's events
    dropout_words: float = 0.0       # word dropout: rows of the embedding matrix
    dropconnect: float = 0.0         # DropConnect on weight_hh_l{k}
    locked_dropout: bool = True      # one dropout mask per sequence, shared over time
    epochs: int = 1
    batch_size: int = 32             # global batch (split across ranks under torchrun)
    bptt: int = 35
    random_bptt: bool = True
    lr: float = 2e-3
    betas: Sequence[float] = (0.0, 0.999)
    weight_decay: float = 0.0
    clip: float = 0.25
    cosine_fraction: float = 0.0     # cosine lr decay over this last fraction of the training
    min_lr: float = 0.0
    prune_sparsity: float = 0.0      # final sparsity of gradual pruning (0: no pruning)
    prune_targets: Sequence[str] = ("input", "recurrent")
    prune_scope: str = "global"
    prune_begin: int = 0             # optimizer step of the first mask update
    prune_frequency: int = 100       # optimizer steps between mask updates
    prune_updates: int = 10          # mask updates after the first
    seed: int = 0
    max_train_tokens: Optional[int] = None
    device: str = "cpu"              # "cpu", "cuda" or "cuda:N"
    eval_carry: str = "exact"        # validation and test: "exact" (y, c) carry, or the reference's
                                     # ("reference": segments of bptt, y carried, c restarted at 0)

    def __post_init__(self):
        if self.eval_carry not in EVAL_CARRIES:
            raise ValueError(f"eval_carry must be one of {EVAL_CARRIES}, got {self.eval_carry!r}")
        if self.rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {RNN_TYPES}, got {self.rnn_type!r}")
        if self.threshold_init not in THRESHOLD_INITS:
            raise ValueError(f"threshold_init must be one of {THRESHOLD_INITS}, got {self.threshold_init!r}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}") from None
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        sizes = list(self.hidden_sizes) if isinstance(self.hidden_sizes, (list, tuple)) else []
        if self.tie_weights and sizes and sizes[-1] != self.embedding_size:
            raise ValueError(f"tie_weights: the readout shares the embedding's weight [V, E], so the last hidden "
                             f"size must equal embedding_size: hidden_sizes[-1] = {sizes[-1]}, "
                             f"embedding_size = {self.embedding_size} (make them agree, or tie_weights=False)")
        if self.rnn_type != "egru":
            for name in EGRU_ONLY_OPTIONS:
                if getattr(self, name) != _DEFAULTS[name]:
                    raise ValueError(f"{name}={getattr(self, name)!r} is an EGRU option; rnn_type={self.rnn_type!r} "
                                     f"has no thresholds or surrogate gradient (leave {name} at its default "
                                     f"{_DEFAULTS[name]!r})")
            return
        triangle(self.surrogate_dampening, self.surrogate_width)       # finite and > 0, else a ValueError
        check_polarity(self.polarity)
        if self.readout_input not in READOUT_INPUTS:
            raise ValueError(f"readout_input must be one of {READOUT_INPUTS}, got {self.readout_input!r}")
        if not self.min_threshold > 0:
            raise ValueError(f"min_threshold must be > 0, got {self.min_threshold}")
        if not self.threshold_lr_scale >= 0:
            raise ValueError(f"threshold_lr_scale must be >= 0, got {self.threshold_lr_scale}")
        if self.threshold_init == "constant":
            for name in ("threshold_beta", "threshold_max"):
                if getattr(self, name) != _DEFAULTS[name]:
                    raise ValueError(f"{name} applies to threshold_init='beta' only "
                                     f"(threshold_init='constant' sets every unit to threshold={self.threshold})")
            return
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold_init='beta' needs threshold (the Beta mean) in (0, 1), got {self.threshold}")
        if not self.threshold_beta > 0:
            raise ValueError(f"threshold_beta must be > 0, got {self.threshold_beta}")
        if not self.threshold_max > self.min_threshold:
            raise ValueError(f"threshold_max ({self.threshold_max}) must be > min_threshold ({self.min_threshold})")


_DEFAULTS = {f.name: f.default for f in fields(LMConfig)}


class EvalResult(NamedTuple):
    loss: float          # mean cross-entropy per predicted token (nats)
    perplexity: float
    activity: float      # pooled fraction of nonzero graded outputs
    tokens: int          # number of predicted tokens


def bptt_segments(total_steps: int, bptt: int, generator: Optional[torch.Generator] = None) -> List[slice]:
    """Cut ``total_steps`` input steps into BPTT segments (random AWD-LSTM lengths when a generator is given)."""
    segments, start = [], 0
    while start < total_steps:
        length = bptt
        if generator is not None:
            base = bptt if torch.rand((), generator=generator).item() < 0.95 else bptt / 2
            length = max(5, int(round(base + 5 * torch.randn((), generator=generator).item())))
        stop = min(total_steps, start + length)
        segments.append(slice(start, stop))
        start = stop
    return segments


class CosineTailSchedule:
    """Learning rate ``lr`` until the last ``fraction`` of training, then cosine decay to ``min_lr``.

    ``progress`` in [0, 1] is the fraction of the training done (``(epoch - 1 + i / n) /
    epochs`` at segment ``i`` of ``n``).

    >>> s = CosineTailSchedule(1.0, fraction=0.5, min_lr=0.0)
    >>> [round(s.lr_at(p), 3) for p in (0.0, 0.5, 0.75, 1.0)]
    [1.0, 1.0, 0.5, 0.0]
    """

    def __init__(self, lr: float, fraction: float = 0.0, min_lr: float = 0.0):
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"cosine_fraction must be in [0, 1], got {fraction}")
        self.lr, self.fraction, self.min_lr = float(lr), float(fraction), float(min_lr)
        self.last_lr = float(lr)

    def lr_at(self, progress: float) -> float:
        if self.fraction == 0.0 or progress <= 1.0 - self.fraction:
            return self.lr
        t = min(1.0, (progress - (1.0 - self.fraction)) / self.fraction)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))

    def apply(self, optimizer: torch.optim.Optimizer, progress: float) -> float:
        """Set every parameter group's lr to ``lr_at(progress)`` times the group's ``lr_scale`` (default 1)."""
        self.last_lr = self.lr_at(progress)
        for group in optimizer.param_groups:
            group["lr"] = self.last_lr * group.get("lr_scale", 1.0)
        return self.last_lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "fraction": self.fraction, "min_lr": self.min_lr, "last_lr": self.last_lr}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.fraction, self.min_lr = state["lr"], state["fraction"], state["min_lr"]
        self.last_lr = state["last_lr"]


def init_thresholds(config: LMConfig, hidden_sizes: Sequence[int]) -> list:
    """The initial per-unit thresholds of every layer, as ``config.threshold_init`` says.

    ``"constant"``: ``config.threshold`` (a float, for every unit). ``"beta"``: one [H_k]
    tensor per layer drawn from Beta(alpha, ``threshold_beta``) with alpha = ``threshold *
    threshold_beta / (1 - threshold)`` (so the mean is ``threshold``), from a generator seeded
    with ``config.seed`` (global RNG states untouched: the weights' initialisation is the same
    as with ``"constant"``), then clamped into ``[min_threshold, threshold_max]``.

    >>> c = LMConfig(threshold_init="beta", threshold=0.3, threshold_beta=3.0, seed=1)
    >>> a, b = init_thresholds(c, [4000, 10])
    >>> a.shape, b.shape, round(a.mean().item(), 2), torch.equal(a, init_thresholds(c, [4000, 10])[0])
    (torch.Size([4000]), torch.Size([10]), 0.3, True)
    """
    if config.threshold_init == "constant":
        return [config.threshold] * len(hidden_sizes)
    mean, beta = float(config.threshold), float(config.threshold_beta)
    alpha = mean * beta / (1.0 - mean)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        distribution = torch.distributions.Beta(torch.tensor(alpha, dtype=torch.float64),
                                                torch.tensor(beta, dtype=torch.float64))
        draws = [distribution.sample((int(h),)) for h in hidden_sizes]
    dtype = torch.get_default_dtype()
    return [d.to(dtype).clamp_(config.min_threshold, config.threshold_max) for d in draws]


def build_model(config: LMConfig, vocab_size: int, device=None) -> nn.Module:
    """The model ``config.rnn_type`` names, initialised from the global RNG, on ``device`` (default ``config.device``).

    ``"egru"``: :class:`EGRULanguageModel` (thresholds from :func:`init_thresholds`, the
    triangle surrogate ``surrogate_dampening`` / ``surrogate_width``, floor ``min_threshold``).
    ``"gru"`` / ``"lstm"``: :class:`snntorch_egru.baselines.RNNLanguageModel`.
    """
    if config.rnn_type == "egru":
        model = EGRULanguageModel(
            vocab_size, config.embedding_size, list(config.hidden_sizes), tie_weights=config.tie_weights,
            threshold=init_thresholds(config, list(config.hidden_sizes)),
            dropout_embedding=config.dropout_embedding, dropout_between=config.dropout_between,
            dropout_output=config.dropout_output, min_threshold=config.min_threshold,
            spike_grad=triangle(config.surrogate_dampening, config.surrogate_width),
            polarity=config.polarity, readout_input=config.readout_input,
        )
    else:
        model = RNNLanguageModel(
            vocab_size, config.embedding_size, list(config.hidden_sizes), cell=config.rnn_type,
            tie_weights=config.tie_weights, dropout_embedding=config.dropout_embedding,
            dropout_between=config.dropout_between, dropout_output=config.dropout_output,
        )
    return model.to(config.device if device is None else device)


_THRESHOLD_NAME = re.compile(r"(^|\.)threshold_l\d+$")


def threshold_parameters(model: nn.Module) -> dict:
    """The model's threshold Parameters (``...threshold_l{k}``), by name (empty for GRU/LSTM models)."""
    return {name: p for name, p in model.named_parameters() if _THRESHOLD_NAME.search(name)}


def build_optimizer(config: LMConfig, model: nn.Module) -> torch.optim.AdamW:
    """AdamW: group 0 every parameter but the thresholds (``weight_decay``), group 1 the thresholds.

    The threshold group (only when the model has threshold Parameters) has ``lr_scale =
    threshold_lr_scale`` (its lr is ``lr * lr_scale``, also under :class:`CosineTailSchedule`)
    and weight decay 0.
    """
    thresholds = threshold_parameters(model)
    chosen = {id(p) for p in thresholds.values()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in chosen], "lr_scale": 1.0}]
    if thresholds:
        scale = float(config.threshold_lr_scale)
        groups.append({"params": list(thresholds.values()), "lr": config.lr * scale, "lr_scale": scale,
                       "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)


def build_pruner(config: LMConfig, model: nn.Module) -> Optional[Pruner]:
    if not config.prune_sparsity:
        return None
    schedule = CubicSchedule(final_sparsity=config.prune_sparsity, begin_step=config.prune_begin,
                             frequency=config.prune_frequency, n_updates=config.prune_updates)
    return Pruner(model, targets=list(config.prune_targets), scope=config.prune_scope, schedule=schedule)


def _detach(state):
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(_detach(s) for s in state)


def _map_tensors(value, fn):
    """``fn`` applied to every tensor inside nested dicts, lists and tuples (the rest as is)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return type(value)((k, _map_tensors(v, fn)) for k, v in value.items())
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_map_tensors(v, fn) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(v, fn) for v in value)
    return value


def _cpu(value):
    return _map_tensors(value, lambda t: t.detach().cpu())


def _resolve_device(config: LMConfig, world: int) -> torch.device:
    """``config.device`` with an index (bare ``"cuda"``: the current device; cuda:LOCAL_RANK under several ranks)."""
    device = torch.device(config.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ResourceError(f"device={config.device!r} but this machine has no CUDA device "
                                f"(torch.cuda.is_available() is False): use device='cpu'")
        if device.index is None:
            index = int(os.environ.get("LOCAL_RANK", "0")) if world > 1 else torch.cuda.current_device()
            device = torch.device("cuda", index)
        if world > 1:
            torch.cuda.set_device(device)
    return device


def _distributed():
    """(rank, world_size) of an initialised default process group, else (0, 1)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _Progress:
    """tqdm when installed, else a text line every ~10% of the epoch (or nothing)."""

    def __init__(self, total: int, epoch: int, initial: int, enabled: bool, log):
        self.bar, self.total, self.epoch, self.log, self.enabled = None, total, epoch, log, enabled
        self.every = max(1, total // 10)
        if not enabled:
            return
        try:
            from .progress import progress_bar
            self.bar = progress_bar(total=total, initial=initial, desc=f"epoch {epoch}", leave=False, file=sys.stderr)
        except ImportError:
            return

    def update(self, done: int, loss: float, lr: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
        elif done % self.every == 0 or done == self.total:
            (self.log or print)(f"epoch {self.epoch} step {done}/{self.total} loss {loss:.4f} "
                                f"ppl {math.exp(min(loss, 50.0)):.2f} lr {lr:.3g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _set_seeds(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    if _np is not None:
        _np.random.seed(seed % 2 ** 32)


def train_language_model(config: LMConfig, train_tokens: torch.Tensor, vocab_size: int,
                         valid_tokens: Optional[torch.Tensor] = None,
                         log: Optional[Callable[[str], None]] = None, *,
                         output_dir=None, resume: bool = False, checkpoint_every: int = 0,
                         max_steps: Optional[int] = None, progress: bool = False,
                         model: Optional[nn.Module] = None, pruner: Optional[Pruner] = None,
                         forward: Optional[Callable] = None, after_step: Optional[Callable[[], object]] = None):
    """Train a model on a 1-D token stream; returns ``(model, history)`` (one dict per epoch).

    Every optimizer step, on the BPTT segment ``x`` (inputs) and ``y`` (next tokens) with the
    carried state ``s``: ``logits, s = forward(x, s)``; loss ``cross_entropy(logits, y)``;
    backward; gradient-norm clipping; AdamW step; the thresholds projected into their range
    (``threshold_init="beta"``, learned); the pruner's step; ``after_step()``; ``s`` detached.

    Keyword-only options:
        model: continue training this model (e.g. fine-tuning after pruning) instead of
            building a new one from ``config`` (:func:`build_model`); its sizes must match
            ``config``'s for a resumed checkpoint to load. It is moved to ``config.device``
            (in place).
        pruner: a :class:`~snntorch_egru.pruning.Pruner` (or
            :class:`~snntorch_egru.pruning.PrunerGroup`) of ``model``, instead of the one
            ``config.prune_*`` describes (:func:`build_pruner`): its masks are held after
            every optimizer step and its schedule, if it has one, advances by one step
            (a one-shot :meth:`~snntorch_egru.pruning.CubicSchedule.one_shot` prunes after
            the first step).
        forward: the training forward pass ``forward(inputs [T, B], state) -> (logits, state)``
            instead of ``model`` under the trainer's regularisers (word dropout, DropConnect,
            locked dropout: :class:`~snntorch_egru.regularization.RegularizedLM`); it must
            compute with ``model``'s parameters (``model=`` is required), e.g. the
            quantisation-aware wrapper :func:`snntorch_egru.quantization.quantization_aware`
            or ``model`` itself (its plain forward). ``config.dropout_words`` and
            ``config.dropconnect`` must be 0 then, and the run single-process. The epoch's
            ``train_activity`` comes from ``forward.activity()`` when it has one, else from
            ``model.activity()``; validation evaluates ``model``.
        after_step: called after every optimizer step, once the masks are held (e.g. the QAT
            wrapper's ``project_``, which keeps the weights on their fixed-point grid).
        output_dir: directory of ``checkpoint.pt`` and ``log.jsonl`` (None: neither is written).
        resume: continue from ``output_dir/checkpoint.pt`` when it exists.
        checkpoint_every: also checkpoint every this many optimizer steps (0: epoch ends only).
        max_steps: stop after this many optimizer steps in total (for tests: simulates a killed
            run; no checkpoint is written at the stop).
        progress: show a progress bar (tqdm) or periodic progress lines.

    Under an initialised ``torch.distributed`` process group the model is wrapped in
    ``DistributedDataParallel`` and each rank trains on its slice of the global batch;
    rank 0 alone evaluates, logs and writes checkpoints.
    """
    run = _TrainingRun(config, train_tokens, vocab_size, log, output_dir, model, pruner, forward, after_step)
    if resume:
        run.resume()
    while run.epoch <= config.epochs:
        if not run.train_epoch(checkpoint_every, max_steps, progress):
            break                                   # max_steps reached: no checkpoint at the stop
        run.end_epoch(valid_tokens)
    return run.model, run.history


def _local_batches(config: LMConfig, tokens: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's columns ``[T, B/R]`` of the batchified training stream."""
    if config.max_train_tokens is not None:
        tokens = tokens[: config.max_train_tokens]
    count, batch = tokens.numel(), config.batch_size
    if count // batch < 2:
        capped = "" if config.max_train_tokens is None else f" (max_train_tokens={config.max_train_tokens})"
        advice = f"use a batch size of at most {count // 2}" if count >= 2 else "use a longer corpus"
        raise CorpusError(f"{count} training tokens{capped} are too few for batch size {batch}: each of the {batch} "
                          f"streams needs at least 2 tokens (an input and its target) for one training step; "
                          f"{advice}")
    data = batchify(tokens, batch)
    local = config.batch_size // world
    return data[:, rank * local: (rank + 1) * local]


def _model_and_pruner(config: LMConfig, vocab_size: int, model, pruner, device: torch.device):
    """The model to train and its pruner: the ones given (checked, moved to ``device``), else built from ``config``."""
    if model is None:
        if pruner is not None:
            raise ValueError("pruner= needs the model= it prunes")
        model = build_model(config, vocab_size, device)
    elif getattr(model, "vocab_size", vocab_size) != vocab_size:
        raise ValueError(f"model= has vocab_size {model.vocab_size}, the data has {vocab_size}")
    else:
        model.to(device)               # in place: the pruner's parameters and masks move with it
    if pruner is None:
        pruner = build_pruner(config, model)
    elif pruner.model is not model:
        raise ValueError("pruner= prunes a different module than model=")
    return model, pruner


def _check_step_options(config: LMConfig, model, forward, after_step, world: int) -> None:
    """Errors of ``forward=`` / ``after_step=`` before anything is built."""
    if after_step is not None and not callable(after_step):
        raise TypeError(f"after_step= must be callable, got {type(after_step).__name__}")
    if forward is None:
        return
    if not callable(forward):
        raise TypeError(f"forward= must be callable (inputs, state) -> (logits, state), got {type(forward).__name__}")
    if model is None:
        raise ValueError("forward= needs the model= whose parameters it computes with")
    if config.dropout_words or config.dropconnect:
        raise ValueError(f"dropout_words={config.dropout_words} and dropconnect={config.dropconnect} belong to the "
                         f"trainer's own forward pass; with forward= they must be 0")
    if world > 1:
        raise ValueError(f"forward= trains in one process; torch.distributed runs {world} ranks")


def _training_forward(config: LMConfig, model: nn.Module, forward, world: int, device: torch.device):
    """What a step calls: ``forward`` when given, else ``model`` under the regularisers (in DDP with several ranks)."""
    if forward is not None:
        return forward
    net = RegularizedLM(model, dropout_words=config.dropout_words, dropconnect=config.dropconnect,
                        locked=config.locked_dropout)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(net, device_ids=ids)
    return net


def _advance_pruner(pruner) -> None:
    """The pruner's part of a training step: its schedule's step, or (a Pruner without one) its masks held."""
    if isinstance(pruner, Pruner) and pruner.schedule is None:
        pruner.apply()
    else:
        pruner.step()


class _TrainingRun:
    """One run of :func:`train_language_model`: set-up, steps, epoch ends, checkpoints.

    The position (``epoch``, ``segment_index`` into this epoch's ``segments``,
    ``global_step``), the carried ``state`` and the epoch's running ``totals`` (loss sum,
    targets, activity sum, targets) are all a checkpoint holds besides the modules and
    the RNG states, so that a resumed run continues bit for bit.
    """

    def __init__(self, config: LMConfig, train_tokens, vocab_size: int, log, output_dir, model, pruner, forward,
                 after_step):
        self.rank, self.world = _distributed()
        if config.batch_size % self.world:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by the {self.world} ranks")
        _check_step_options(config, model, forward, after_step, self.world)
        self.config, self.vocab_size, self.log = config, vocab_size, log
        self.device = _resolve_device(config, self.world)
        if model is None:               # refuse a model and batch that cannot fit, before allocating them
            check_training_memory(config, vocab_size, self.device, self.world)
        _set_seeds(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.data = _local_batches(config, train_tokens, self.rank, self.world).to(self.device)
        self.model, self.pruner = _model_and_pruner(config, vocab_size, model, pruner, self.device)
        self.net = _training_forward(config, self.model, forward, self.world, self.device)
        self.activity_source = forward if callable(getattr(forward, "activity", None)) else self.model
        self.after_step = after_step
        self.optimizer = build_optimizer(config, self.model)
        self.thresholds = list(threshold_parameters(self.model).values())
        # the "beta" range is projected after every step (learned thresholds only)
        self.project_thresholds = config.threshold_init == "beta" and config.threshold_lr_scale > 0
        if self.pruner is not None:
            self.pruner.attach(self.optimizer)
        self.scheduler = CosineTailSchedule(config.lr, config.cosine_fraction, config.min_lr)
        self.out = Path(output_dir) if output_dir is not None else None
        self.checkpoint_path = self.out / CHECKPOINT_NAME if self.out is not None else None
        if self.out is not None and self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        self.history: list = []
        self.epoch, self.segment_index, self.global_step = 1, 0, 0
        self.segments, self.state, self.totals = None, None, [0.0, 0, 0.0, 0]
        self.epoch_start = time.perf_counter()
        if self.world > 1:  # different dropout masks per rank
            torch.manual_seed(config.seed + 1_000_003 * self.rank)

    # ------------------------------------------------------------------ checkpoints

    def resume(self) -> None:
        """Continue from the checkpoint in the output folder, if there is one (same settings and ranks)."""
        path = self.checkpoint_path
        if path is None or not path.exists():
            return
        checkpoint = load_checkpoint(path)
        missing = [key for key in TRAINING_CHECKPOINT_KEYS if key not in checkpoint]
        if missing:
            raise CheckpointError(f"{path} is not a training checkpoint of this trainer: it lacks {missing}")
        # a field the checkpoint's trainer did not have yet had its default's meaning then
        saved = {**_DEFAULTS, **checkpoint["config"]}
        saved = {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in saved.items()}
        current = {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in asdict(self.config).items()}
        changed = sorted(k for k in set(current) | set(saved)
                         if saved.get(k) != current.get(k) and k not in RESUMABLE_CHANGES)
        if changed:
            raise CheckpointError(f"cannot resume {path}: settings differ from the checkpoint's: {changed}")
        if checkpoint.get("vocab_size", self.vocab_size) != self.vocab_size:
            raise CheckpointError(f"cannot resume {path}: it was trained on a vocabulary of "
                                  f"{checkpoint['vocab_size']} words, this corpus has {self.vocab_size}: resume "
                                  f"with the corpus it was trained on")
        if checkpoint.get("world_size", 1) != self.world:
            raise CheckpointError(f"cannot resume {path}: it was written by {checkpoint.get('world_size', 1)} ranks, "
                             f"resuming with {self.world}")
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(_upgrade_optimizer_state(checkpoint["optimizer"], self.optimizer,
                                                                self.model))
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if self.pruner is not None:
            self.pruner.load_state_dict(checkpoint["pruner"])
        set_rng_state(checkpoint["rng"][self.rank], self.generator)
        position = checkpoint["position"]
        self.epoch, self.segment_index = position["epoch"], position["segment"]
        self.global_step = position["global_step"]
        self.segments = None if position["segments"] is None else [slice(a, b) for a, b in position["segments"]]
        state = position["state"][self.rank] if position["state"] is not None else None
        self.state = _map_tensors(state, lambda t: t.to(self.device))
        self.totals = list(position["totals"])
        self.history = list(checkpoint["history"])
        if self.log and self.rank == 0:
            self.log(f"resumed from {path} at epoch {self.epoch} segment {self.segment_index} "
                     f"step {self.global_step}")

    def write_checkpoint(self) -> None:
        """Rank 0 writes the checkpoint (atomically); every rank contributes its RNG states and carried state."""
        rngs, states = [rng_state(self.generator)], [_cpu(self.state)]
        if self.world > 1:
            import torch.distributed as dist
            rngs, states = [None] * self.world, [None] * self.world
            dist.all_gather_object(rngs, rng_state(self.generator))
            dist.all_gather_object(states, _cpu(self.state))
        if self.checkpoint_path is None or self.rank != 0:
            return
        segments = None if self.segments is None else [(s.start, s.stop) for s in self.segments]
        save_checkpoint(self.checkpoint_path, {
            "version": 1, "config": asdict(self.config), "vocab_size": self.vocab_size, "world_size": self.world,
            "model": _cpu(self.model.state_dict()), "optimizer": _cpu(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict(), "pruner": self.pruner.state_dict() if self.pruner else None,
            "rng": rngs, "history": self.history,
            "position": {"epoch": self.epoch, "segment": self.segment_index, "global_step": self.global_step,
                         "segments": segments, "state": None if self.state is None else states,
                         "totals": list(self.totals)},
        })

    # ------------------------------------------------------------------ training

    def train_epoch(self, checkpoint_every: int, max_steps: Optional[int], progress: bool) -> bool:
        """Run the rest of the current epoch; False when ``max_steps`` stopped it first."""
        if self.segments is None:
            self.segments = bptt_segments(self.data.shape[0] - 1, self.config.bptt,
                                          self.generator if self.config.random_bptt else None)
            self.segment_index, self.state, self.totals = 0, None, [0.0, 0, 0.0, 0]
            self.epoch_start = time.perf_counter()
        self.model.train()
        if isinstance(self.net, nn.Module):
            self.net.train()
        n = len(self.segments)
        bar = _Progress(n, self.epoch, self.segment_index, progress and self.rank == 0, self.log)
        try:
            while self.segment_index < n:
                if max_steps is not None and self.global_step >= max_steps:
                    return False
                loss, lr = self._step(self.segments[self.segment_index], n)
                bar.update(self.segment_index, loss, lr)
                if checkpoint_every and self.global_step % checkpoint_every == 0 and self.segment_index < n:
                    self.write_checkpoint()
        finally:
            bar.close()
        return True

    def _step(self, segment: slice, n_segments: int) -> tuple:
        """One optimizer step on one BPTT segment; returns its loss and learning rate."""
        config = self.config
        progress = (self.epoch - 1 + self.segment_index / n_segments) / config.epochs
        lr = self.scheduler.apply(self.optimizer, progress)
        inputs = self.data[segment]
        targets = self.data[segment.start + 1: segment.stop + 1]
        logits, self.state = self.net(inputs, self.state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), config.clip)
        self.optimizer.step()
        if self.project_thresholds:
            with torch.no_grad():
                for theta in self.thresholds:
                    theta.clamp_(config.min_threshold, config.threshold_max)
        if self.pruner is not None:
            _advance_pruner(self.pruner)
        if self.after_step is not None:
            self.after_step()
        self.state = _detach(self.state)
        count = targets.numel()
        self.totals[0] += loss.item() * count
        self.totals[1] += count
        self.totals[2] += self.activity_source.activity().pooled * count
        self.totals[3] += count
        self.segment_index += 1
        self.global_step += 1
        return loss.item(), lr

    # ------------------------------------------------------------------ epoch end

    def end_epoch(self, valid_tokens: Optional[torch.Tensor]) -> None:
        """The epoch's record (summed over ranks; validation on rank 0), logged; next epoch; checkpoint."""
        summed = torch.tensor(self.totals, dtype=torch.float64)
        if self.world > 1:
            import torch.distributed as dist
            if dist.get_backend() == "nccl":
                summed = summed.to(self.device)
            dist.all_reduce(summed)
            summed = summed.cpu()
        mean = float(summed[0] / summed[1])
        record = {"epoch": self.epoch, "step": self.global_step, "lr": self.scheduler.last_lr, "train_loss": mean,
                  "train_perplexity": math.exp(mean), "train_activity": float(summed[2] / summed[3]),
                  "seconds": time.perf_counter() - self.epoch_start}
        if self.pruner is not None:
            record["weight_sparsity"] = self.pruner.sparsity()["total"]
        if valid_tokens is not None and self.rank == 0:
            result = evaluate(self.model, valid_tokens, *evaluation_segments(self.config))
            record.update(valid_loss=result.loss, valid_perplexity=result.perplexity,
                          valid_activity=result.activity)
        self.history.append(record)
        if self.rank == 0:
            self._log_record(record)
        self.epoch, self.segments, self.segment_index, self.state = self.epoch + 1, None, 0, None
        self.totals = [0.0, 0, 0.0, 0]
        self.write_checkpoint()

    def _log_record(self, record: dict) -> None:
        if self.log:
            self.log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        if self.out is not None:       # the log so far and the new line, replacing the file atomically
            log = self.out / LOG_NAME
            previous = log.read_text(encoding="utf-8") if log.exists() else ""
            atomic_write_text(log, previous + json.dumps(record) + "\n")


def _upgrade_optimizer_state(saved: dict, optimizer: torch.optim.Optimizer, model: nn.Module) -> dict:
    """A checkpoint's optimizer state for ``optimizer``'s groups.

    Checkpoints written before the thresholds had their own group hold one group over
    ``model.parameters()``; their per-parameter state is moved to the current groups (the
    thresholds' group keeps its current hyperparameters: no weight decay, its lr scale).
    """
    if len(saved["param_groups"]) != 1 or len(optimizer.param_groups) == 1:
        return saved
    old_index = {id(p): i for i, p in enumerate(model.parameters())}
    current = optimizer.state_dict()
    state, groups, position = {}, [], 0
    for k, group in enumerate(optimizer.param_groups):
        indices = []
        for p in group["params"]:
            if old_index[id(p)] in saved["state"]:
                state[position] = saved["state"][old_index[id(p)]]
            indices.append(position)
            position += 1
        settings = dict(saved["param_groups"][0]) if k == 0 else dict(current["param_groups"][k])
        settings.setdefault("lr_scale", 1.0)
        groups.append({**settings, "params": indices})
    return {"state": state, "param_groups": groups}


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def evaluation_segments(config: LMConfig) -> tuple:
    """``(segment_length, carry)`` of :func:`evaluate` for ``config.eval_carry``: the reference's
    segments are its ``bptt``; the exact carry's segment length does not change the result."""
    return (config.bptt, "reference") if config.eval_carry == "reference" else (256, "exact")


@torch.no_grad()
def evaluate(model: nn.Module, tokens: torch.Tensor, segment_length: int = 256, carry: str = "exact") -> EvalResult:
    r"""Next-token cross-entropy over a 1-D token stream at batch size 1.

    The stream is run in segments of ``segment_length`` tokens; ``carry`` says what passes from
    one segment to the next:

    - ``"exact"`` (default): the whole state (the EGRU's ``(y, c)``, the baselines' ``h`` or
      ``(h, c)``): the result does not depend on ``segment_length``, as if the stream ran in one
      piece;
    - ``"reference"``: the reference implementation's test evaluation: segments of its ``bptt``
      (pass ``segment_length=bptt``), each EGRU layer's graded output y carried, its internal
      state c restarted at 0 in every segment; the GRU/LSTM baselines carry their whole state
      (as the reference does), so for them both carries agree.

    Loss: mean over the predicted tokens (``len(tokens) - 1``), perplexity ``exp(loss)``. The
    reference divides the same sum by ``len(tokens)`` instead (its last token has no target):
    its reported perplexity is ``exp(loss * (n - 1) / n)``, smaller by a factor of
    ``1 - loss / n`` to first order (6e-5 on the PTB test split). The tokens are moved to the
    model's device.

    Example::

        >>> import torch
        >>> from snntorch_egru import EGRULanguageModel
        >>> from egru.lm.trainer import evaluate
        >>> lm = EGRULanguageModel(50, 8, [8], tie_weights=True)
        >>> tokens = torch.randint(0, 50, (200,))
        >>> a, b = evaluate(lm, tokens, 70), evaluate(lm, tokens, 35)
        >>> abs(a.loss - b.loss) < 1e-6          # exact carry: the segment length does not matter
        True
        >>> evaluate(lm, tokens, 70, carry="reference").tokens
        199
    """
    if carry not in EVAL_CARRIES:
        raise ValueError(f"carry must be one of {EVAL_CARRIES}, got {carry!r}")
    if isinstance(segment_length, bool) or not isinstance(segment_length, int) or segment_length < 1:
        raise ValueError(f"segment_length must be a positive int, got {segment_length!r}")
    if tokens.dim() != 1 or tokens.numel() < 2:
        raise ValueError(f"evaluate needs a 1-D stream of at least 2 tokens, got shape {tuple(tokens.shape)}")
    was_training = model.training
    model.eval()
    restart_c = carry == "reference" and isinstance(model, EGRULanguageModel)
    stream = tokens.to(_model_device(model)).view(-1, 1)
    state, total_loss, nonzero, entries = None, 0.0, 0, 0
    for start in range(0, stream.shape[0] - 1, segment_length):
        inputs = stream[start: min(start + segment_length, stream.shape[0] - 1)]
        targets = stream[start + 1: start + 1 + inputs.shape[0]]
        if restart_c and state is not None:
            state = (state[0], None)            # y carried, c restarted at 0 (the EGRU's c0=None)
        logits, state = model(inputs, state)
        total_loss += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                  reduction="sum").item()
        for events in model.rnn.last_events:
            nonzero += int(torch.count_nonzero(events))
            entries += events.numel()
    model.train(was_training)
    count = stream.shape[0] - 1
    mean = total_loss / count
    return EvalResult(mean, math.exp(mean), nonzero / entries, count)
