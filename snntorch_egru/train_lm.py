r"""Word-level language-model training and evaluation for :class:`EGRULanguageModel`.

Training follows the reference recipe at any scale: AdamW, truncated BPTT over segments
whose length is randomised AWD-LSTM style (mostly ``bptt``, sometimes ``bptt / 2``,
jittered), gradient-norm clipping, the state carried between segments (detached).
Evaluation runs at batch size 1, as the EGRU papers report activity, and returns the
per-token cross-entropy, perplexity and activity.

Run::

    python -m snntorch_egru.train_lm --data ../shared/data/ptb --epochs 1 --max-train-tokens 100000

Example (tiny, synthetic data)::

    >>> import torch
    >>> from snntorch_egru.train_lm import LMConfig, train_language_model, evaluate
    >>> tokens = torch.arange(600) % 7                      # a periodic "corpus" of 7 words
    >>> config = LMConfig(embedding_size=8, hidden_sizes=(16, 8), epochs=3, batch_size=4, bptt=10, lr=1e-2)
    >>> model, history = train_language_model(config, tokens, vocab_size=7)
    >>> result = evaluate(model, tokens[:100])
    >>> result.perplexity < 7.0                             # better than uniform guessing
    True
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
from torch import nn

from .data import batchify, load_corpus
from .language_model import EGRULanguageModel

__all__ = ["LMConfig", "EvalResult", "train_language_model", "evaluate", "bptt_segments", "main"]


@dataclass
class LMConfig:
    """Model and optimisation settings (defaults: a CPU-sized model; see the reference recipe in docs)."""

    embedding_size: int = 128
    hidden_sizes: Sequence[int] = (256, 128)
    tie_weights: bool = True
    threshold: float = 0.1
    dropout_embedding: float = 0.0
    dropout_between: float = 0.0
    dropout_output: float = 0.0
    epochs: int = 1
    batch_size: int = 32
    bptt: int = 35
    random_bptt: bool = True
    lr: float = 2e-3
    betas: Sequence[float] = (0.0, 0.999)
    weight_decay: float = 0.0
    clip: float = 0.25
    seed: int = 0
    max_train_tokens: Optional[int] = None


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


def build_model(config: LMConfig, vocab_size: int) -> EGRULanguageModel:
    return EGRULanguageModel(
        vocab_size, config.embedding_size, list(config.hidden_sizes), tie_weights=config.tie_weights,
        threshold=config.threshold, dropout_embedding=config.dropout_embedding,
        dropout_between=config.dropout_between, dropout_output=config.dropout_output,
    )


def _detach(state):
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(_detach(s) for s in state)


def train_language_model(config: LMConfig, train_tokens: torch.Tensor, vocab_size: int,
                         valid_tokens: Optional[torch.Tensor] = None,
                         log: Optional[Callable[[str], None]] = None):
    """Train a new model on a 1-D token stream; returns ``(model, history)`` (one dict per epoch)."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    if config.max_train_tokens is not None:
        train_tokens = train_tokens[: config.max_train_tokens]
    data = batchify(train_tokens, config.batch_size)
    model = build_model(config, vocab_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=tuple(config.betas),
                                  weight_decay=config.weight_decay)
    history = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        start, total_loss, total_tokens, active, counted = time.perf_counter(), 0.0, 0, 0.0, 0
        state = None
        segments = bptt_segments(data.shape[0] - 1, config.bptt, generator if config.random_bptt else None)
        for segment in segments:
            inputs = data[segment]
            targets = data[segment.start + 1: segment.stop + 1]
            logits, state = model(inputs, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            state = _detach(state)
            total_loss += loss.item() * targets.numel()
            total_tokens += targets.numel()
            active += model.activity().pooled * targets.numel()
            counted += targets.numel()
        record = {"epoch": epoch, "train_loss": total_loss / total_tokens,
                  "train_perplexity": math.exp(total_loss / total_tokens),
                  "train_activity": active / counted, "seconds": time.perf_counter() - start}
        if valid_tokens is not None:
            result = evaluate(model, valid_tokens)
            record.update(valid_loss=result.loss, valid_perplexity=result.perplexity,
                          valid_activity=result.activity)
        history.append(record)
        if log:
            log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
    return model, history


@torch.no_grad()
def evaluate(model: EGRULanguageModel, tokens: torch.Tensor, segment_length: int = 256) -> EvalResult:
    """Next-token cross-entropy over a 1-D token stream at batch size 1 (state carried throughout)."""
    if tokens.dim() != 1 or tokens.numel() < 2:
        raise ValueError(f"evaluate needs a 1-D stream of at least 2 tokens, got shape {tuple(tokens.shape)}")
    was_training = model.training
    model.eval()
    stream = tokens.view(-1, 1)
    state, total_loss, nonzero, entries = None, 0.0, 0, 0
    for start in range(0, stream.shape[0] - 1, segment_length):
        inputs = stream[start: min(start + segment_length, stream.shape[0] - 1)]
        targets = stream[start + 1: start + 1 + inputs.shape[0]]
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train an EGRU language model on PTB or WikiText-2.")
    parser.add_argument("--data", required=True, help="corpus directory (e.g. ../shared/data/ptb)")
    defaults = LMConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=value)
        elif isinstance(value, (tuple, list)):
            parser.add_argument(flag, type=type(value[0]), nargs="+", default=list(value))
        elif value is None:
            parser.add_argument(flag, type=int, default=None)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    corpus = load_corpus(args.pop("data"))
    config = LMConfig(**args)
    model, _ = train_language_model(config, corpus.train, len(corpus.vocabulary), corpus.valid, log=print)
    result = evaluate(model, corpus.test)
    print(f"test loss {result.loss:.4f} perplexity {result.perplexity:.2f} activity {result.activity:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
