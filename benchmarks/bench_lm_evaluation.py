"""Time of one full-split language-model evaluation at batch size 1 (PTB test split).

``egru.lm.trainer.evaluate`` runs the whole split as one stream (batch size 1, the
state carried from token to token, in segments of ``--segment`` steps) and returns the mean
cross-entropy over every next-token prediction: 82,429 predictions for the 82,430 tokens of
the PTB test split. This benchmark times that call for the protocol's model sizes
(embedding 256, 2 x 256 units, tied; an untrained model: the time does not depend on the
weights, the activity does a little) and, in the same run, the same evaluation through a
plain ``torch.nn.GRU`` language model of the same size as the baseline.

Run from the repository root::

    .venv/modern/bin/python benchmarks/bench_lm_evaluation.py            # PTB test split
    .venv/modern/bin/python benchmarks/bench_lm_evaluation.py --tokens 5000 --repeats 1

Target (issue 11): under 60 s for the 2 x 256 EGRU model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

from egru.lm.data import load_corpus
from egru_format import atomic_write_text
from snntorch_egru.language_model import EGRULanguageModel
from egru.lm.trainer import evaluate

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptb"


class _PlainGRULM(nn.Module):
    """Embedding -> torch.nn.GRU -> tied readout: the baseline, with the attributes ``evaluate`` reads."""

    def __init__(self, vocab: int, size: int, layers: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, size)
        self.gru = nn.GRU(size, size, layers)
        self.readout = nn.Linear(size, vocab)
        self.readout.weight = self.embedding.weight
        self.__dict__["rnn"] = SimpleNamespace(last_events=[])  # evaluate() reads model.rnn.last_events

    def forward(self, tokens, state=None):
        y, state = self.gru(self.embedding(tokens), state)
        self.rnn.last_events = [y]
        return self.readout(y), state


def _time(model, tokens, segment: int, repeats: int) -> tuple:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = evaluate(model, tokens, segment_length=segment)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PTB folder (ptb.test.txt)")
    parser.add_argument("--tokens", type=int, default=None, help="evaluate only the first N test tokens")
    parser.add_argument("--size", type=int, default=256, help="embedding and layer size")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--segment", type=int, default=256, help="steps per forward call")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per model (the best is reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    corpus = load_corpus(args.data)
    tokens = corpus.test if args.tokens is None else corpus.test[: args.tokens]
    vocab = len(corpus.vocabulary)
    torch.manual_seed(0)
    egru = EGRULanguageModel(vocab, args.size, [args.size] * args.layers, tie_weights=True)
    torch.manual_seed(0)
    gru = _PlainGRULM(vocab, args.size, args.layers)
    results = {}
    for name, model in (("torch.nn.GRU LM (baseline)", gru), ("EGRU LM", egru)):
        seconds, result = _time(model, tokens, args.segment, args.repeats)
        results[name] = {"seconds": seconds, "ms_per_token": 1e3 * seconds / result.tokens,
                         "predictions": result.tokens, "perplexity": result.perplexity}
        print(f"{name:28s} {result.tokens} predictions in {seconds:6.2f} s "
              f"({1e3 * seconds / result.tokens:.3f} ms/token)", flush=True)
    ratio = results["EGRU LM"]["seconds"] / results["torch.nn.GRU LM (baseline)"]["seconds"]
    print(f"EGRU / nn.GRU time ratio: {ratio:.2f}x; EGRU full split: "
          f"{results['EGRU LM']['seconds']:.1f} s (target < 60 s)")
    if args.json:
        atomic_write_text(args.json, json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                 "results": results, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
