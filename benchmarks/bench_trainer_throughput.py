"""Training throughput of ``egru.lm.trainer`` against a bare training loop, in one run.

The baseline is the plainest loop a PyTorch user would write for the protocol's model: an
embedding, ``torch.nn.GRU`` (2 layers), a tied readout, AdamW, gradient clipping,
cross-entropy, truncated BPTT with the state carried (detached) between segments. The
trainer runs the same model sizes, batch, BPTT length (fixed, ``random_bptt=False``),
optimizer settings and data, once with ``rnn_type="gru"`` (torch.nn.GRU inside the trainer:
the trainer's own overhead) and once with the EGRU (``rnn_type="egru"``: the EGRU's step).

Each measurement times ``--steps`` optimizer steps after ``--warmup`` steps; the trainer is
timed as the difference of two calls (``max_steps = warmup`` and ``warmup + steps``) so that
its set-up (batchify, model and optimizer construction) is not counted. The best of
``--repeats`` interleaved rounds is reported, as tokens per second (batch x BPTT per step)
and as the ratio of the bare loop's time.

Run from the repository root::

    .venv/modern/bin/python benchmarks/bench_trainer_throughput.py
    .venv/modern/bin/python benchmarks/bench_trainer_throughput.py --steps 10 --repeats 1   # quick

Targets (issue 11): the trainer within 1.1x of the bare loop for the dense GRU, the EGRU's
step within 1.15x of it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

from egru.lm.data import batchify, load_corpus
from egru_format import atomic_write_text
from egru.lm.trainer import LMConfig, train_language_model

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptb"


class BareGRULM(nn.Module):
    """Embedding -> torch.nn.GRU -> tied linear readout."""

    def __init__(self, vocab: int, size: int, layers: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, size)
        self.gru = nn.GRU(size, size, layers)
        self.readout = nn.Linear(size, vocab)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.readout.bias)
        self.readout.weight = self.embedding.weight

    def forward(self, tokens, state=None):
        y, state = self.gru(self.embedding(tokens), state)
        return self.readout(y), state


def bare_loop_seconds(tokens: torch.Tensor, vocab: int, args) -> float:
    """Seconds of ``args.steps`` steps of the bare loop (after ``args.warmup`` untimed steps)."""
    torch.manual_seed(0)
    model = BareGRULM(vocab, args.size, args.layers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.0, 0.999), weight_decay=args.weight_decay)
    data = batchify(tokens, args.batch_size)
    state, start = None, None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            start = time.perf_counter()
        offset = (step * args.bptt) % (data.shape[0] - args.bptt - 1)
        inputs, targets = data[offset: offset + args.bptt], data[offset + 1: offset + 1 + args.bptt]
        logits, state = model(inputs, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        state = state.detach()
        loss.item()   # the trainer logs the loss of every step; so does this loop
    return time.perf_counter() - start


def trainer_seconds(tokens: torch.Tensor, vocab: int, rnn_type: str, args) -> float:
    """Seconds of ``args.steps`` trainer steps, as the difference of two runs (set-up excluded)."""
    config = LMConfig(rnn_type=rnn_type, embedding_size=args.size, hidden_sizes=[args.size] * args.layers,
                      tie_weights=True, epochs=1, batch_size=args.batch_size, bptt=args.bptt, random_bptt=False,
                      lr=args.lr, weight_decay=args.weight_decay, clip=args.clip, seed=0)
    elapsed = []
    for steps in (args.warmup, args.warmup + args.steps):
        start = time.perf_counter()
        train_language_model(config, tokens, vocab, max_steps=steps)
        elapsed.append(time.perf_counter() - start)
    return elapsed[1] - elapsed[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PTB folder")
    parser.add_argument("--size", type=int, default=256, help="embedding and layer size")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    corpus = load_corpus(args.data)
    vocab = len(corpus.vocabulary)
    needed = (args.warmup + args.steps + 2) * args.bptt * args.batch_size
    tokens = corpus.train[: max(needed, 4 * args.bptt * args.batch_size)]
    runs = {"bare loop (torch.nn.GRU)": [], "train_lm, rnn_type=gru": [], "train_lm, rnn_type=egru": []}
    for _ in range(args.repeats):  # interleaved, so that a slow moment hits every variant alike
        runs["bare loop (torch.nn.GRU)"].append(bare_loop_seconds(tokens, vocab, args))
        runs["train_lm, rnn_type=gru"].append(trainer_seconds(tokens, vocab, "gru", args))
        runs["train_lm, rnn_type=egru"].append(trainer_seconds(tokens, vocab, "egru", args))
    per_step_tokens = args.batch_size * args.bptt
    base = min(runs["bare loop (torch.nn.GRU)"])
    results = {}
    print(f"{args.steps} steps of batch {args.batch_size} x BPTT {args.bptt}, model {args.size} x {args.layers} "
          f"(tied, vocabulary {vocab}), best of {args.repeats}")
    for name, times in runs.items():
        best = min(times)
        results[name] = {"seconds": best, "seconds_per_step": best / args.steps,
                         "tokens_per_second": args.steps * per_step_tokens / best, "ratio": best / base,
                         "all_seconds": times}
        print(f"  {name:26s} {best / args.steps:6.3f} s/step {results[name]['tokens_per_second']:8.0f} tokens/s "
              f"{best / base:5.2f}x the bare loop")
    print("targets: trainer (gru) <= 1.10x, EGRU <= 1.15x")
    if args.json:
        atomic_write_text(args.json, json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                 "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
