"""A small Penn Treebank language model in snnTorch and in Lava: logits and perplexity side by side.

Trains briefly (the same setting as tests/converters/test_torch_lava_equivalence.py), exports through
``converters``, runs the test tokens on Lava's CPU backend (floating point) and prints the
largest logit differences against the snnTorch model in float64 and float32 and the
perplexity of each.

Run (Lava environment)::

    .venv/lava/bin/python benchmarks/lava_language_model.py --data ../shared/data/ptb --tokens 500
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


import converters
from egru.pipelines.lm import perplexity_from_logits as perplexity
import lava_egru
from egru.lm.data import load_corpus
from egru.lm.trainer import LMConfig, evaluate, train_language_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"))
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--train-tokens", type=int, default=60_000)
    args = parser.parse_args(argv)
    corpus = load_corpus(args.data)
    config = LMConfig(embedding_size=32, hidden_sizes=(48, 32), tie_weights=True, epochs=1, batch_size=32,
                      bptt=35, lr=3e-3, max_train_tokens=args.train_tokens, seed=0)
    start = time.perf_counter()
    model, _ = train_language_model(config, corpus.train, len(corpus.vocabulary))
    print(f"trained in {time.perf_counter() - start:.1f} s")
    model.eval()
    tokens = corpus.test[: args.tokens + 1]
    with tempfile.TemporaryDirectory() as folder:
        network = converters.load_lava(converters.export(model, Path(folder) / "lm.h5"))
        start = time.perf_counter()
        lava_logits = lava_egru.simulate(network, tokens[:-1].numpy())
        print(f"Lava simulation of {args.tokens} tokens: {time.perf_counter() - start:.1f} s")
    with torch.no_grad():
        logits64 = copy.deepcopy(model).double()(tokens[:-1].view(-1, 1))[0][:, 0].numpy()
        logits32 = model(tokens[:-1].view(-1, 1))[0][:, 0].double().numpy()
    relative = np.abs(lava_logits - logits64) / np.maximum(np.abs(logits64), 1e-6)
    print(f"max |Lava - snnTorch float64| = {np.abs(lava_logits - logits64).max():.3g} (relative {relative.max():.3g})")
    print(f"max |Lava - snnTorch float32| = {np.abs(lava_logits - logits32).max():.3g}")
    targets = tokens[1:].numpy()
    print(f"perplexity: Lava {perplexity(lava_logits, targets):.6g}, snnTorch float32 "
          f"{evaluate(model, tokens).perplexity:.6g}, snnTorch float64 {perplexity(logits64, targets):.6g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
