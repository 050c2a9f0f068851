r"""Accuracy of the Loihi-style fixed-point EGRU: float vs post-training quantisation vs QAT.

Two tasks (docs/fixed-point.md, "Measured accuracy"):

(a) sequence classification: the delayed-XOR task of
    ``egru.delayed_xor`` (test accuracy on 2000 sequences);
(b) a small word-level Penn Treebank language model (``egru.lm.trainer``; test
    perplexity on the first ``--lm-eval-tokens`` test tokens, as 10 parallel streams
    with the state carried).

For each task: train a float model; calibrate it (``calibrate``) and run the integer
mode (``to_integer``): post-training quantisation (PTQ); then fine-tune a copy with
quantisation-aware training (``quantization_aware``, ``project_`` after each step) and
run it in the integer mode again (QAT). A control copy is fine-tuned for the same steps
in float, so that "QAT gains" are not just "more training". Every integer number is
the exact integer arithmetic of docs/fixed-point.md.

The delayed-XOR readout (a linear layer on the graded events summed over the cue
steps) runs in float on the host from the integer model's outputs; the language model
runs end to end in integers (embedding, EGRU layers, readout logits).

Run::

    python benchmarks/quantization_accuracy.py              # full setting (~10 min on 2 cores)
    python benchmarks/quantization_accuracy.py --quick      # seconds: the setting tests run
    python benchmarks/quantization_accuracy.py --skip-lm --xor-seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]

from egru.delayed_xor import DelayedXorConfig, delayed_xor_batch, train_delayed_xor
from egru.lm.data import batchify, load_corpus
from egru.lm.trainer import LMConfig, train_language_model
from egru_format import atomic_write_text
from snntorch_egru import activity_regularizer
from snntorch_egru.quantization import calibrate, quantization_aware, to_integer

DEFAULT_DATA = REPO.parent / "shared" / "data" / "ptb"


# --------------------------------------------------------------------------- (a) delayed XOR


def _xor_accuracy(readout, y_cue_sum, labels) -> float:
    with torch.no_grad():
        return (readout(y_cue_sum.float()).argmax(-1) == labels).float().mean().item()


def xor_experiment(seed: int, quick: bool, log=print) -> dict:
    if quick:
        config = DelayedXorConfig(hidden_size=16, steps=40, seed=seed)
        finetune_steps, test_size, cal_size = 5, 200, 64
    else:
        config = DelayedXorConfig(seed=seed)
        finetune_steps, test_size, cal_size = 150, 2000, 256
    start = time.perf_counter()
    trained = train_delayed_xor(config)
    model = trained["model"]
    x_test, labels = delayed_xor_batch(config, test_size, torch.Generator().manual_seed(10_000 + seed))
    x_cal, _ = delayed_xor_batch(config, cal_size, torch.Generator().manual_seed(20_000 + seed))
    cue = config.cue_steps

    def float_accuracy(net) -> float:
        net.eval()
        with torch.no_grad():
            return (net(x_test).argmax(-1) == labels).float().mean().item()

    def integer_accuracy(net, q) -> tuple:
        result = to_integer(net.rnn, q)(x_test)
        return _xor_accuracy(net.readout, result.output[-cue:].sum(0), labels), result.overflow_total

    acc_float = float_accuracy(model)
    q = calibrate(model.rnn, x_cal)
    acc_ptq, overflow_ptq = integer_accuracy(model, q)

    def finetune(net, qat_mode: bool) -> None:
        net.train()
        generator = torch.Generator().manual_seed(30_000 + seed)
        qat = quantization_aware(net.rnn, q) if qat_mode else None
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(finetune_steps):
            x, y_true = delayed_xor_batch(config, config.batch_size, generator)
            if qat_mode:
                y, _ = qat(x)
                events = qat.last_events
            else:
                y, _ = net.rnn(x)
                events = net.rnn.last_events
            logits = net.readout(y[-cue:].sum(0).float())
            loss = nn.functional.cross_entropy(logits, y_true)
            loss = loss + config.activity_weight * activity_regularizer(events, config.target_activity)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if qat_mode:
                qat.project_()

    qat_model = copy.deepcopy(model)
    finetune(qat_model, True)
    acc_qat, overflow_qat = integer_accuracy(qat_model, q)
    control = copy.deepcopy(model)
    finetune(control, False)
    acc_control = float_accuracy(control)
    row = {"seed": seed, "float": acc_float, "ptq": acc_ptq, "qat": acc_qat, "float_finetuned": acc_control,
           "overflow_ptq": overflow_ptq, "overflow_qat": overflow_qat, "finetune_steps": finetune_steps,
           "quantization": repr(q), "seconds": time.perf_counter() - start}
    log(f"xor seed {seed}: float {acc_float:.4f}  PTQ {acc_ptq:.4f}  QAT {acc_qat:.4f}  "
        f"float+finetune {acc_control:.4f}  ({row['seconds']:.0f} s)")
    return row


# --------------------------------------------------------------------------- (b) PTB language model


def _streams(tokens: torch.Tensor, streams: int = 10) -> torch.Tensor:
    return batchify(tokens, streams)   # [T, streams]


def _perplexity(step_fn, stream: torch.Tensor, segment: int = 200) -> float:
    """Perplexity over [T, B] parallel streams; ``step_fn(inputs, state) -> (logits, state)``."""
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, stream.shape[0] - 1, segment):
            inputs = stream[start: min(start + segment, stream.shape[0] - 1)]
            targets = stream[start + 1: start + 1 + inputs.shape[0]]
            logits, state = step_fn(inputs, state)
            total += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(),
                                                 targets.reshape(-1), reduction="sum").item()
            count += targets.numel()
    return math.exp(total / count)


def _float_ppl(model, stream) -> float:
    model.eval()
    return _perplexity(lambda inputs, state: model(inputs, state), stream)


def _integer_ppl(model, q, stream) -> tuple:
    integer = to_integer(model, q)
    overflow = [0]

    def step(inputs, state):
        result = integer(inputs, state)
        overflow[0] += result.overflow_total
        return result.output, result.state

    return _perplexity(step, stream), overflow[0]


def lm_experiment(data_dir: Path, quick: bool, eval_tokens: int, log=print) -> dict:
    start = time.perf_counter()
    corpus = load_corpus(data_dir)
    vocab = len(corpus.vocabulary)
    if quick:
        config = LMConfig(embedding_size=16, hidden_sizes=(32, 16), batch_size=16, bptt=20, lr=3e-3,
                          max_train_tokens=6_000)
        finetune_tokens, eval_tokens, cal_tokens, finetune_lr = 2_000, min(eval_tokens, 2_000), 2_000, 1e-3
    else:
        config = LMConfig(embedding_size=96, hidden_sizes=(192, 96), batch_size=32, bptt=35, lr=3e-3,
                          max_train_tokens=500_000)
        finetune_tokens, cal_tokens, finetune_lr = 80_000, 20_000, 5e-4
    model, _ = train_language_model(config, corpus.train, vocab)
    train_seconds = time.perf_counter() - start
    test = _streams(corpus.test[:eval_tokens])
    ppl_float = _float_ppl(model, test)
    cal = _streams(corpus.valid[:cal_tokens])
    q = calibrate(model, cal)
    ppl_ptq, overflow_ptq = _integer_ppl(model, q, test)
    log(f"lm: trained {config.max_train_tokens} tokens in {train_seconds:.0f} s; float {ppl_float:.2f}  "
        f"PTQ {ppl_ptq:.2f}")
    # fine-tuning: one epoch of the trainer over the training tokens that follow those used for
    # training, the same BPTT segments (seed 1) for the QAT copy and the float control copy
    tail = corpus.train[config.max_train_tokens: config.max_train_tokens + finetune_tokens]
    finetune = dataclasses.replace(config, epochs=1, lr=finetune_lr, max_train_tokens=None, seed=1)
    qat_model = copy.deepcopy(model)
    qat = quantization_aware(qat_model, q, dtype=torch.float32)
    t0 = time.perf_counter()
    train_language_model(finetune, tail, vocab, model=qat_model, forward=qat, after_step=qat.project_)
    qat_seconds = time.perf_counter() - t0
    ppl_qat, overflow_qat = _integer_ppl(qat_model, q, test)
    control = copy.deepcopy(model)
    train_language_model(finetune, tail, vocab, model=control, forward=control)     # its plain forward pass
    ppl_control = _float_ppl(control, test)
    row = {"float": ppl_float, "ptq": ppl_ptq, "qat": ppl_qat, "float_finetuned": ppl_control,
           "overflow_ptq": overflow_ptq, "overflow_qat": overflow_qat, "train_tokens": config.max_train_tokens,
           "finetune_tokens": finetune_tokens, "eval_tokens": int(test.numel()), "qat_seconds": qat_seconds,
           "quantization": repr(q), "config": {k: (list(v) if isinstance(v, tuple) else v)
                                               for k, v in vars(config).items()},
           "seconds": time.perf_counter() - start}
    log(f"lm: QAT {ppl_qat:.2f}  float+finetune {ppl_control:.2f}  ({row['seconds']:.0f} s)")
    return row


# --------------------------------------------------------------------------- report


def report(xor_rows: list, lm_row) -> str:
    lines = ["| task | metric | float | PTQ (integer) | QAT (integer) | float, same fine-tuning |",
             "|---|---|---|---|---|---|"]
    if xor_rows:
        mean = {k: sum(r[k] for r in xor_rows) / len(xor_rows) for k in ("float", "ptq", "qat", "float_finetuned")}
        seeds = ",".join(str(r["seed"]) for r in xor_rows)
        lines.append(f"| delayed XOR (seeds {seeds}) | test accuracy % | {100 * mean['float']:.2f} | "
                     f"{100 * mean['ptq']:.2f} | {100 * mean['qat']:.2f} | {100 * mean['float_finetuned']:.2f} |")
    if lm_row:
        lines.append(f"| PTB LM ({lm_row['eval_tokens']} test tokens) | perplexity | {lm_row['float']:.2f} | "
                     f"{lm_row['ptq']:.2f} | {lm_row['qat']:.2f} | {lm_row['float_finetuned']:.2f} |")
    if xor_rows:
        ptq = 100 * (mean["float"] - mean["ptq"])
        qat = 100 * (mean["float"] - mean["qat"])
        lines.append("")
        lines.append(f"delayed XOR: PTQ loses {ptq:+.2f} points, QAT loses {qat:+.2f} points vs float "
                     f"(target: <= 1 point)")
    if lm_row:
        lines.append(f"PTB LM: PTQ {100 * (lm_row['ptq'] / lm_row['float'] - 1):+.2f}% perplexity, "
                     f"QAT {100 * (lm_row['qat'] / lm_row['float'] - 1):+.2f}% vs float (target: <= +2%); "
                     f"QAT vs the float model fine-tuned alike: "
                     f"{100 * (lm_row['qat'] / lm_row['float_finetuned'] - 1):+.2f}%")
    overflow = sum(r["overflow_ptq"] + r["overflow_qat"] for r in xor_rows)
    overflow += (lm_row["overflow_ptq"] + lm_row["overflow_qat"]) if lm_row else 0
    lines.append(f"saturation/wrap events in all integer runs: {overflow}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny setting (seconds), as the tests run it")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PTB directory (default ../shared/data/ptb)")
    parser.add_argument("--xor-seeds", type=int, nargs="+", default=None, help="delayed-XOR seeds (default 0 1 2)")
    parser.add_argument("--lm-eval-tokens", type=int, default=40_000, help="test tokens for perplexity")
    parser.add_argument("--skip-xor", action="store_true")
    parser.add_argument("--skip-lm", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = args.xor_seeds if args.xor_seeds is not None else ([0] if args.quick else [0, 1, 2])
    start = time.perf_counter()
    xor_rows = [] if args.skip_xor else [xor_experiment(seed, args.quick) for seed in seeds]
    lm_row = None if args.skip_lm else lm_experiment(args.data, args.quick, args.lm_eval_tokens)
    table = report(xor_rows, lm_row)
    print()
    print(table)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    results = {"xor": xor_rows, "lm": lm_row, "table": table, "seconds": time.perf_counter() - start}
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2), parents=True)
    return results


if __name__ == "__main__":
    main()
