"""The language-model trainer's command line, over :mod:`snntorch_egru.train_lm`.

Every :class:`~snntorch_egru.train_lm.LMConfig` field is a ``--flag`` (``hidden_sizes``
-> ``--hidden-sizes 256 128``, booleans take ``true``/``false``). The corpus comes from
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
from snntorch_egru.train_lm import LMConfig, evaluate, train_language_model

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train an EGRU language model on PTB or WikiText-2.")
    parser.add_argument("--data", required=True, help="corpus directory (e.g. ../shared/data/ptb)")
    parser.add_argument("--output-dir", default=None, help="directory for checkpoint.pt, log.jsonl, model.pt")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="checkpoint every N optimizer steps")
    parser.add_argument("--max-steps", type=int, default=None, help=argparse.SUPPRESS)  # tests: stop early
    parser.add_argument("--no-progress", action="store_true", help="no progress bar / progress lines")
    parser.add_argument("--no-test", action="store_true", help="skip the final test-set evaluation")
    parser.add_argument("--backend", default=None, help="torch.distributed backend under torchrun (default gloo)")
    for field in fields(LMConfig):
        value = field.default
        flag = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=value)
        elif isinstance(value, (tuple, list)):
            parser.add_argument(flag, type=type(value[0]), nargs="+", default=list(value))
        elif value is None:
            parser.add_argument(flag, type=int, default=None)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    return parser


def main(argv=None) -> int:
    args = vars(build_parser().parse_args(argv))
    data_dir, output_dir = args.pop("data"), args.pop("output_dir")
    resume, checkpoint_every = args.pop("resume"), args.pop("checkpoint_every")
    max_steps, show_progress = args.pop("max_steps"), not args.pop("no_progress")
    no_test, backend = args.pop("no_test"), args.pop("backend")
    config = LMConfig(**args)
    import torch.distributed as dist
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    if launched and not dist.is_initialized():
        dist.init_process_group(backend or "gloo")
    try:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        corpus = load_corpus(data_dir)
        model, _ = train_language_model(
            config, corpus.train, len(corpus.vocabulary), corpus.valid, log=print, output_dir=output_dir,
            resume=resume, checkpoint_every=checkpoint_every, max_steps=max_steps, progress=show_progress)
        if rank == 0:
            if output_dir is not None:
                torch.save(model.state_dict(), Path(output_dir) / "model.pt")
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
