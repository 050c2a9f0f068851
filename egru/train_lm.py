"""The language-model trainer's command line, over :mod:`snntorch_egru.train_lm`.

Every :class:`~snntorch_egru.train_lm.LMConfig` field is a ``--flag`` with a help text
(``hidden_sizes`` -> ``--hidden-sizes 256 128``, booleans take ``true``/``false``,
``--threshold-init constant|beta``, ``--rnn-type egru|gru|lstm``, ``--device cpu|cuda|cuda:N``;
``python -m egru.train_lm --help`` lists them). The corpus comes from
``--data`` (:func:`snntorch_egru.data.load_corpus`); the trained weights go to
``OUTPUT_DIR/model.pt`` (a ``state_dict``), next to the trainer's ``checkpoint.pt`` and
``log.jsonl``; the test split is evaluated at the end (``--no-test`` skips it).

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

from snntorch_egru.data import load_corpus
from snntorch_egru.train_lm import RNN_TYPES, THRESHOLD_INITS, LMConfig, evaluate, train_language_model

__all__ = ["build_parser", "main", "FLAG_HELP"]

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
    "device": "torch device: cpu, cuda or cuda:N (under torchrun, cuda means cuda:LOCAL_RANK); "
              "checkpoints hold CPU tensors, so --resume works on another device",
}

CHOICES = {"rnn_type": RNN_TYPES, "threshold_init": THRESHOLD_INITS, "prune_scope": ("global", "matrix")}

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _boolean(text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off), anything else an error."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m egru.train_lm",
                                     description="Train an EGRU (or GRU/LSTM baseline) language model on PTB "
                                                 "or WikiText-2.")
    parser.add_argument("--data", required=True, help="corpus directory (e.g. ../shared/data/ptb)")
    parser.add_argument("--output-dir", default=None, help="directory for checkpoint.pt, log.jsonl, model.pt")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="checkpoint every N optimizer steps")
    parser.add_argument("--max-steps", type=int, default=None, help=argparse.SUPPRESS)  # tests: stop early
    parser.add_argument("--no-progress", action="store_true", help="no progress bar / progress lines")
    parser.add_argument("--no-test", action="store_true", help="skip the final test-set evaluation")
    parser.add_argument("--backend", default=None,
                        help="torch.distributed backend under torchrun (default: nccl with --device cuda, else gloo)")
    group = parser.add_argument_group("model and training (LMConfig)")
    for field in fields(LMConfig):
        value = field.default
        flag = "--" + field.name.replace("_", "-")
        text = FLAG_HELP.get(field.name, field.name.replace("_", " "))
        if isinstance(value, bool):
            group.add_argument(flag, type=_boolean, default=value, metavar="{true,false}",
                               help=f"{text} (default: {str(value).lower()})")
        elif isinstance(value, (tuple, list)):
            group.add_argument(flag, type=type(value[0]), nargs="+", default=list(value),
                               help=f"{text} (default: {' '.join(map(str, value))})")
        elif value is None:
            group.add_argument(flag, type=int, default=None, help=text)
        else:
            group.add_argument(flag, type=type(value), default=value, choices=CHOICES.get(field.name),
                               help=f"{text} (default: {value})")
    return parser


def main(argv=None) -> int:
    args = vars(build_parser().parse_args(argv))
    data_dir, output_dir = args.pop("data"), args.pop("output_dir")
    resume, checkpoint_every = args.pop("resume"), args.pop("checkpoint_every")
    max_steps, show_progress = args.pop("max_steps"), not args.pop("no_progress")
    no_test, backend = args.pop("no_test"), args.pop("backend")
    try:
        config = LMConfig(**args)
    except ValueError as error:
        build_parser().error(str(error))
    import torch.distributed as dist
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    if launched and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if config.device.startswith("cuda") else "gloo"))
    try:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        corpus = load_corpus(data_dir)
        model, _ = train_language_model(
            config, corpus.train, len(corpus.vocabulary), corpus.valid, log=print, output_dir=output_dir,
            resume=resume, checkpoint_every=checkpoint_every, max_steps=max_steps, progress=show_progress)
        if rank == 0:
            if output_dir is not None:
                state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # loads on CPU
                torch.save(state, Path(output_dir) / "model.pt")
            if not no_test:
                result = evaluate(model, corpus.test)
                print(f"test loss {result.loss:.4f} perplexity {result.perplexity:.2f} "
                      f"activity {result.activity:.3f}")
        if launched:
            _finish_launched_rank(dist)          # does not return
    except BaseException:
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
