"""The language-model trainer's command line, over :mod:`egru.lm.trainer`.

Every :class:`~egru.lm.trainer.LMConfig` field is a ``--flag`` with a help text
(``hidden_sizes`` -> ``--hidden-sizes 256 128``, booleans take ``true``/``false``,
``--threshold-init constant|beta``, ``--rnn-type egru|gru|lstm``, ``--device cpu|cuda|cuda:N``;
``python -m egru.train_lm --help`` lists them). The corpus comes from
``--data`` (:func:`egru.lm.data.load_corpus`); the trained weights go to
``OUTPUT_DIR/model.pt`` (a ``state_dict``), next to the trainer's ``checkpoint.pt`` and
``log.jsonl``; the test split is evaluated at the end (``--no-test`` skips it).

Every numeric option is checked when parsed (:mod:`egru._argtypes`: counts >= 1, or >= 0 where
the help says what 0 means; finite rates; fractions in their ranges). ``--resume`` needs
``OUTPUT_DIR/checkpoint.pt`` and is an error without it; ``--resume-if-exists`` resumes when
that checkpoint exists and starts from scratch otherwise (for jobs restarted by a scheduler).
Bad input prints one line ``egru: error: ...`` and exits with code 2: a missing, corrupt or
non-UTF-8 corpus file, a corpus too short for the batch size, an unreadable checkpoint or one
of another vocabulary, an output folder that is a file, embedding and last hidden sizes that
differ with tied weights, ``--device cuda`` without CUDA, a model and batch whose estimated
memory exceeds what the device has free (:mod:`egru.lm.resources`; the line names both), a
full disk. Ctrl-C prints ``egru: interrupted`` and exits with code 130.

Run::

    python -m egru.train_lm --data ../shared/data/ptb --epochs 1 --max-train-tokens 100000 \\
        --output-dir runs/ptb --checkpoint-every 200
    python -m egru.train_lm ... --output-dir runs/ptb --resume          # continue
    torchrun --nproc_per_node 2 -m egru.train_lm --data ../shared/data/ptb ...  # DDP (gloo on CPU)

``egru train --task lm --data DIR -- <options>`` runs the same :func:`main`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch

from snntorch_egru.functional import POLARITIES
from snntorch_egru.language_model import READOUT_INPUTS

from egru_format import atomic_write_stream

from .lm.checkpoint import CheckpointError
from .lm.data import CorpusError, load_corpus
from .lm.resources import ResourceError
from .lm.trainer import (CHECKPOINT_NAME, EVAL_CARRIES, RNN_TYPES, THRESHOLD_INITS, LMConfig, evaluate,
                         train_language_model)

from . import _argtypes as types

__all__ = ["build_parser", "main", "FLAG_HELP", "FLAG_TYPES"]

#: The help text of every LMConfig flag (with the reference recipe's value where it sets one).
FLAG_HELP = {
    "embedding_size": "embedding dimension E (reference PTB: 750)",
    "hidden_sizes": "units per recurrent layer (reference PTB: 1350 1350 750)",
    "tie_weights": "share the readout weight with the embedding (needs the last layer = embedding size)",
    "rnn_type": "egru (default), or the gru / lstm baseline (snntorch_egru.baselines); the threshold and "
                "surrogate options are EGRU-only and must stay at their defaults with gru/lstm",
    "threshold": "constant init: every unit's initial threshold; beta init: the mean of the Beta draw "
                 "(reference: 0.01)",
    "threshold_init": "constant: every unit starts at --threshold; beta: per-unit draws from "
                      "Beta(alpha, --threshold-beta) with mean --threshold, clamped into "
                      "[--min-threshold, --threshold-max] (the reference's)",
    "threshold_beta": "beta of the Beta(alpha, beta) threshold draw, alpha = mean*beta/(1-mean) "
                      "(beta init only; reference: 3)",
    "threshold_max": "upper end of the threshold range (beta init only; reference: 1). Learned thresholds "
                     "are projected into [--min-threshold, --threshold-max] after every optimizer step",
    "min_threshold": "threshold floor > 0: thresholds are used as max(theta, floor) in the forward pass; "
                     "beta init: the lower end of the range (the reference's is 0)",
    "threshold_lr_scale": "the thresholds' learning rate is --lr times this (0 freezes them, as the "
                          "reference does); thresholds never get weight decay",
    "surrogate_dampening": "dampening of the triangle pseudo-derivative "
                           "dampening*max(0, 1 - width*|c - theta|) (reference LM: 3.6)",
    "surrogate_width": "width factor of the triangle pseudo-derivative (support |c - theta| < 1/width; "
                       "reference LM: 3.6)",
    "polarity": "EGRU events: positive (the reference neuron, an event where c > theta) or signed (an event "
                "where |c| > theta, carrying the sign of c; network file format version 3)",
    "readout_input": "what the readout reads: events (the EGRU's graded events) or candidates (the last layer's "
                     "dense pre-reset state; a diagnostic, not exportable)",
    "dropout_embedding": "(locked) dropout on the embedding outputs (reference PTB: 0.6)",
    "dropout_between": "(locked) dropout between recurrent layers (reference: 0.25)",
    "dropout_output": "(locked) dropout on the last layer's outputs before the readout",
    "dropout_words": "word dropout: whole rows of the embedding matrix (reference: 0.1)",
    "dropconnect": "DropConnect on the recurrent matrices weight_hh_l{k} (reference: 0.7)",
    "locked_dropout": "one dropout mask per sequence, shared over time (false: ordinary dropout)",
    "epochs": "training epochs (reference PTB: 1000)",
    "batch_size": "global batch size, split across ranks under torchrun (reference PTB: 64)",
    "bptt": "BPTT segment length (reference: 70)",
    "random_bptt": "AWD-LSTM random segment lengths (mostly bptt, sometimes bptt/2, jittered)",
    "lr": "AdamW learning rate (reference PTB: 1.2e-3)",
    "betas": "AdamW betas (reference: 0 0.999)",
    "weight_decay": "AdamW (decoupled) weight decay of every parameter except the thresholds: the activity "
                    "knob of the EGRU papers (more decay, sparser activity; reference PTB: 0.1)",
    "clip": "gradient-norm clipping, 0 for none (reference: 0.1)",
    "cosine_fraction": "cosine lr decay to --min-lr over this last fraction of the training "
                       "(reference PTB: 0.3, from epoch 700 of 1000)",
    "min_lr": "learning rate at the end of the cosine decay",
    "prune_sparsity": "final sparsity of gradual magnitude pruning during training (0: no pruning)",
    "prune_targets": "pruned matrices: groups (input, recurrent, embedding, readout, all) or name patterns",
    "prune_scope": "global (one magnitude threshold) or matrix (same sparsity per matrix)",
    "prune_begin": "optimizer step of the first mask update",
    "prune_frequency": "optimizer steps between mask updates",
    "prune_updates": "mask updates after the first",
    "seed": "random seed (weights, dropout, BPTT lengths, the beta threshold draw)",
    "max_train_tokens": "train on the first N tokens of the training split only",
    "eval_carry": "what validation and test evaluation carry between segments: exact (the whole state; "
                  "default) or reference (the reference implementation's test evaluation: segments of --bptt, "
                  "each EGRU layer's y carried and its c restarted at 0); the test line reports both for an EGRU",
    "device": "torch device: cpu, cuda or cuda:N (under torchrun, cuda means cuda:LOCAL_RANK); "
              "checkpoints hold CPU tensors, so --resume works on another device",
}

CHOICES = {"rnn_type": RNN_TYPES, "threshold_init": THRESHOLD_INITS, "prune_scope": ("global", "matrix"),
           "polarity": POLARITIES, "readout_input": READOUT_INPUTS, "eval_carry": EVAL_CARRIES}

#: The argparse type of every numeric and boolean LMConfig flag (sequences: the type of each element).
FLAG_TYPES = {
    "embedding_size": types.positive_int,
    "hidden_sizes": types.positive_int,
    "tie_weights": types.boolean,
    "threshold": types.positive_float,
    "threshold_beta": types.positive_float,
    "threshold_max": types.positive_float,
    "min_threshold": types.positive_float,
    "threshold_lr_scale": types.nonnegative_float,      # 0 freezes the thresholds
    "surrogate_dampening": types.positive_float,
    "surrogate_width": types.positive_float,
    "dropout_embedding": types.fraction,
    "dropout_between": types.fraction,
    "dropout_output": types.fraction,
    "dropout_words": types.fraction,
    "dropconnect": types.fraction,
    "locked_dropout": types.boolean,
    "epochs": types.positive_int,
    "batch_size": types.positive_int,
    "bptt": types.positive_int,
    "random_bptt": types.boolean,
    "lr": types.positive_float,
    "betas": types.beta_coefficient,
    "weight_decay": types.nonnegative_float,
    "clip": types.nonnegative_float,                    # 0: no clipping
    "cosine_fraction": types.unit_interval,             # 0: no decay, 1: decay over the whole run
    "min_lr": types.nonnegative_float,
    "prune_sparsity": types.fraction,                   # 0: no pruning
    "prune_begin": types.nonnegative_int,               # 0: from the first step
    "prune_frequency": types.positive_int,
    "prune_updates": types.nonnegative_int,             # 0: one mask update only
    "seed": types.nonnegative_int,
    "max_train_tokens": types.token_count,
}
#: The value of ``args.resume`` for --resume-if-exists (--resume: True; neither: False).
IF_EXISTS = "if-exists"
#: Sequence flags with a fixed number of values.
FLAG_NARGS = {"betas": 2}

_USER_ERRORS = (CorpusError, CheckpointError, ResourceError, FileNotFoundError, IsADirectoryError,
                NotADirectoryError, FileExistsError, PermissionError)


def report_test(model, tokens, config: LMConfig) -> None:
    """Print the test split's loss, perplexity and activity; for an EGRU with both carries of
    :func:`~egru.lm.trainer.evaluate` (the exact (y, c) carry, and the reference's: segments of
    ``bptt``, y carried, c restarted), the one of ``config.eval_carry`` first."""
    carries = [config.eval_carry] + ([c for c in EVAL_CARRIES if c != config.eval_carry]
                                     if config.rnn_type == "egru" else [])
    for carry in carries:
        result = evaluate(model, tokens, config.bptt if carry == "reference" else 256, carry=carry)
        print(f"test loss {result.loss:.4f} perplexity {result.perplexity:.2f} "
              f"activity {result.activity:.3f} (carry {carry})")


def build_parser() -> argparse.ArgumentParser:
    parser = types.OneLineParser(prog="python -m egru.train_lm",
                                     description="Train an EGRU (or GRU/LSTM baseline) language model on PTB "
                                                 "or WikiText-2.")
    parser.add_argument("--data", required=True, help="corpus directory (e.g. ../shared/data/ptb)")
    parser.add_argument("--output-dir", default=None, help="directory for checkpoint.pt, log.jsonl, model.pt")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_const", const=True, default=False,
                        help="continue from OUTPUT_DIR/checkpoint.pt (an error when there is none)")
    resume.add_argument("--resume-if-exists", dest="resume", action="store_const", const=IF_EXISTS,
                        help="continue from OUTPUT_DIR/checkpoint.pt when it exists, else start from scratch")
    parser.add_argument("--checkpoint-every", type=types.nonnegative_int, default=0,
                        help="also checkpoint every N optimizer steps (default 0: at epoch ends only)")
    parser.add_argument("--max-steps", type=types.positive_int, default=None,
                        help=argparse.SUPPRESS)  # tests: stop early
    parser.add_argument("--no-progress", action="store_true", help="no progress bar / progress lines")
    parser.add_argument("--no-test", action="store_true", help="skip the final test-set evaluation")
    parser.add_argument("--backend", default=None,
                        help="torch.distributed backend under torchrun (default: nccl with --device cuda, else gloo)")
    group = parser.add_argument_group("model and training (LMConfig)")
    for field in fields(LMConfig):
        value = field.default
        flag = "--" + field.name.replace("_", "-")
        text = FLAG_HELP.get(field.name, field.name.replace("_", " "))
        kind = FLAG_TYPES.get(field.name)
        if isinstance(value, bool):
            group.add_argument(flag, type=types.boolean, default=value, metavar="{true,false}",
                               help=f"{text} (default: {str(value).lower()})")
        elif isinstance(value, (tuple, list)):
            group.add_argument(flag, type=kind or _plain_type(value[0]), nargs=FLAG_NARGS.get(field.name, "+"),
                               default=list(value), help=f"{text} (default: {' '.join(map(str, value))})")
        elif value is None:
            group.add_argument(flag, type=kind or types.positive_int, default=None, help=text)
        else:
            group.add_argument(flag, type=kind or _plain_type(value), default=value, choices=CHOICES.get(field.name),
                               help=f"{text} (default: {value})")
    return parser


def _plain_type(value):
    """A field without an entry in FLAG_TYPES: strings as they are; numbers at least finite."""
    if isinstance(value, str):
        return str
    return types.finite_float if isinstance(value, float) else int


def _error(message: str, launched: bool = False):
    """One line ``egru: error: ...`` on stderr, exit code 2 (a torchrun rank leaves with os._exit)."""
    if launched:
        sys.stdout.flush()
        sys.stderr.write(f"egru: error: {message}\n")
        sys.stderr.flush()
        os._exit(2)
    sys.stderr.write(f"egru: error: {message}\n")
    raise SystemExit(2)


def _interrupted(launched: bool = False) -> None:
    """Ctrl-C: the line ``egru: interrupted`` on stderr (a torchrun rank then leaves with os._exit)."""
    sys.stdout.flush()
    sys.stderr.write("egru: interrupted\n")
    sys.stderr.flush()
    if launched:
        os._exit(types.INTERRUPTED_EXIT_CODE)


def _check_paths(data_dir, output_dir, resume: bool) -> None:
    """Usage errors found before anything is loaded: the corpus folder, the output folder, --resume."""
    if not Path(data_dir).is_dir():
        what = "is not a directory" if Path(data_dir).exists() else "does not exist"
        _error(f"--data {data_dir} {what} (expected a corpus directory, e.g. ../shared/data/ptb)")
    if output_dir is not None:
        for part in (Path(output_dir), *Path(output_dir).parents):
            if part.exists() and not part.is_dir():
                _error(f"--output-dir {output_dir} is not a directory ({part} is a file)")
    if resume:
        if output_dir is None:
            _error("--resume needs --output-dir (the folder of checkpoint.pt)")
        checkpoint = Path(output_dir) / CHECKPOINT_NAME
        if not checkpoint.is_file():
            _error(f"--resume: no checkpoint {checkpoint} (use --resume-if-exists to start from scratch "
                   f"when there is none)")


def main(argv=None) -> int:
    args = vars(build_parser().parse_args(argv))
    data_dir, output_dir = args.pop("data"), args.pop("output_dir")
    resume = args.pop("resume")                   # False, True (--resume) or IF_EXISTS
    checkpoint_every = args.pop("checkpoint_every")
    max_steps, show_progress = args.pop("max_steps"), not args.pop("no_progress")
    no_test, backend = args.pop("no_test"), args.pop("backend")
    if resume == IF_EXISTS and output_dir is None:
        _error("--resume-if-exists needs --output-dir (the folder of checkpoint.pt)")
    try:
        config = LMConfig(**args)
    except ValueError as error:
        build_parser().error(str(error))
    _check_paths(data_dir, output_dir, resume is True)
    import torch.distributed as dist
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    if launched and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if config.device.startswith("cuda") else "gloo"))
    try:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        corpus = load_corpus(data_dir)
        model, _ = train_language_model(
            config, corpus.train, len(corpus.vocabulary), corpus.valid, log=print, output_dir=output_dir,
            resume=bool(resume), checkpoint_every=checkpoint_every, max_steps=max_steps, progress=show_progress)
        if rank == 0:
            if output_dir is not None:
                state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # loads on CPU
                atomic_write_stream(Path(output_dir) / "model.pt", lambda stream: torch.save(state, stream))
            if not no_test:
                report_test(model, corpus.test, config)
        if launched:
            _finish_launched_rank(dist)          # does not return
    except KeyboardInterrupt:
        _interrupted(launched)
        return types.INTERRUPTED_EXIT_CODE
    except BaseException as exc:
        if isinstance(exc, _USER_ERRORS) or (isinstance(exc, OSError) and exc.errno in types.WRITE_ERRNOS):
            _error(types.error_text(exc), launched)
        if not launched:
            raise
        import traceback
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    return 0


def _finish_launched_rank(dist, timeout_s: float = 120.0) -> None:
    """End a rank started by ``torchrun``: wait for every rank, then leave the process.

    The wait is a barrier on torchrun's own key-value store (``MASTER_ADDR:MASTER_PORT``,
    hosted by the launcher, which outlives the ranks), not a gloo collective: with gloo
    (torch 2.3) a rank whose peer had already passed the final ``dist.barrier()``,
    destroyed its process group and exited could block for good in its own
    ``destroy_process_group`` (seen in the 2-rank test). Once every rank has arrived,
    everything is saved and no collective is pending, so each rank exits at once
    (``os._exit(0)`` after flushing), leaving the group's teardown to the operating system.
    """
    world = dist.get_world_size()
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, False,
                          timeout=datetime.timedelta(seconds=timeout_s))
    key = "egru/train_lm/finished"
    store.add(key, 1)
    deadline = time.monotonic() + timeout_s
    while store.add(key, 0) < world:
        if time.monotonic() > deadline:
            print(f"warning: not every rank finished within {timeout_s:.0f} s", file=sys.stderr)
            break
        time.sleep(0.05)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
