"""The paper's model size through the whole stack: importer, files, torch, the event engine, Lava.

The reference language model (3 EGRU layers of 1350, 1350 and 750 units, embedding 750, 10000
words, tied readout; EvNN ``benchmarks/lm``) cannot be trained on this machine, so the script
builds one with random weights in the reference's own layout (a run directory: ``config.yaml``
and ``checkpoints/EGRU_best_model.cpt``, written by :func:`converters.evnn.write_evnn_run`), sets
per-unit thresholds so that the layers fire at about ``--activity`` (each threshold the
``1 - activity`` quantile of its unit's pre-reset state c~ on calibration tokens, plus a small
margin so that no threshold sits exactly on a value c~ takes), and takes it
through everything a user of a real checkpoint would do, measuring each step in one run:

1. ``egru import-evnn``'s path: :func:`converters.from_evnn` on the run directory (seconds);
2. the network file dense and 95%-pruned (each W_ih/W_hh by magnitude on its own,
   ``scope="matrix"``: the random layers start at different scales, U(+-1/sqrt(H)), and one
   global threshold left the 1350-unit layers 1,817 and 2,320 of their 8.5 M and 10.9 M weights;
   the surviving weights scaled by 1/sqrt(0.05) so that pre-activations keep their spread, the
   thresholds set again; CSR storage): export and load times, file sizes, parameter counts;
3. torch batch-1 evaluation (:func:`egru.lm.trainer.evaluate`) over ``--eval-tokens`` test
   tokens (default: the whole PTB test split): tokens per second, dense and pruned;
4. the event-driven engine (:class:`snntorch_egru.event_inference.EventDrivenEGRU`, pruned model)
   against a dense ``torch.nn.GRU`` stack of the same sizes, one token per call ("stream") and the
   whole sequence in one call ("seq"): tokens per second and MACs per token;
5. Lava ``floating_pt`` and ``fixed_pt`` (pruned model; fixed point after calibration on
   ``--calibration-tokens`` validation tokens) on ``--lava-tokens`` test tokens: build time,
   steps per second, peak memory of the whole process tree (Lava runs each process in its own
   worker; the sum of the processes' proportional set sizes, so shared pages count once),
   agreement with torch (max |logit difference| and identical argmax against the
   float model; against the torch integer model for fixed point), the events of every EGRU layer (the
   network cut after that layer, run again) and the saturation counters;
6. ``egru resources`` on the pruned file (float32) and on its quantised version, events per step
   measured on the event engine's tokens.

Perplexities of a random model mean nothing and are not reported; the timings are the point.
Measure alone on the cores. Needs ``.venv/lava`` for step 5 (``--no-lava`` skips it).

Run::

    .venv/lava/bin/python benchmarks/bench_full_size.py --json benchmarks/results/full_size/full_size.json
    .venv/lava/bin/python benchmarks/bench_full_size.py --quick          # seconds: a tiny model, no corpus
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import converters
from converters.evnn import from_evnn, write_evnn_run
from egru.lm.trainer import evaluate
from egru_format import atomic_write_stream, atomic_write_text
from snntorch_egru import EGRULanguageModel
from snntorch_egru.event_inference import EventDrivenEGRU
from snntorch_egru.opcount import count_operations
from snntorch_egru.pruning import PRUNE_TARGETS, Pruner

ROOT = Path(__file__).resolve().parents[1]
FULL = dict(vocab=10000, embedding=750, hidden=(1350, 1350, 750))
QUICK = dict(vocab=60, embedding=12, hidden=(20, 20, 12))
SPARSITY = 0.95
#: Added to each unit's c~ quantile, times the standard deviation of its c~, when its threshold is set
#: (see :func:`set_thresholds`).
THRESHOLD_MARGIN = 0.01
#: Passes over the layers when thresholds are set (c~ depends on the thresholds through the reset:
#: repeated passes drift towards silence, so one pass from thresholds at the floor).
CALIBRATION_PASSES = 1


def process_tree_pss(root: int) -> int:
    """Proportional set size (bytes) of ``root`` and every descendant, from /proc: each page shared by n
    processes counts 1/n in each, so the sum is the memory the tree really holds (a sum of resident
    sets would count the pages that Lava's forked workers share with their parent once per worker)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid and child not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class PeakMemory:
    """Samples the process tree's proportional set size every ``interval`` seconds while active."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, process_tree_pss(os.getpid()))
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, process_tree_pss(os.getpid()))


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def set_thresholds(model: EGRULanguageModel, tokens: torch.Tensor, activity: float) -> list:
    """Every unit's threshold := the (1 - activity) quantile of its c~ over ``tokens`` (batch 1) plus
    :data:`THRESHOLD_MARGIN` times the standard deviation of its c~, layer by layer, :data:`CALIBRATION_PASSES`
    times
    (a layer's quantiles are taken with the layers below already at their thresholds); the measured activity."""
    with torch.no_grad():     # start from the floor: c~ then is the state of an almost reset-free EGRU
        for k in range(model.rnn.num_layers):
            getattr(model.rnn, f"threshold_l{k}").fill_(1e-3)
    model.rnn.record_candidates = True
    try:
        for k in [k for _ in range(CALIBRATION_PASSES) for k in range(model.rnn.num_layers)]:
            with torch.no_grad():
                model(tokens.view(-1, 1))
                candidates = model.rnn.last_candidates[k].reshape(-1, model.hidden_sizes[k])
                # a margin above the quantile: a threshold equal to a value c~ takes (a unit whose c~ stays
                # constant) would make its events a matter of rounding, different in every implementation
                spread = candidates.std(dim=0)
                threshold = (torch.quantile(candidates, 1.0 - activity, dim=0)
                             + THRESHOLD_MARGIN * spread).clamp_min(1e-3)
                getattr(model.rnn, f"threshold_l{k}").copy_(threshold)
    finally:
        model.rnn.record_candidates = False
    with torch.no_grad():
        model(tokens.view(-1, 1))
    return [float((e != 0).float().mean()) for e in model.rnn.last_events]


def near_threshold_fraction(model: EGRULanguageModel, tokens: torch.Tensor, tolerance: float = 1e-5) -> float:
    """Fraction of (unit, step) pairs whose c~ is within ``tolerance`` of its threshold: events there depend
    on float rounding, so implementations that sum in another order may disagree."""
    model.rnn.record_candidates = True
    try:
        with torch.no_grad():
            model(tokens.view(-1, 1))
        near = total = 0
        for k, candidates in enumerate(model.rnn.last_candidates):
            threshold = model.rnn.layer_parameters(k).threshold
            near += int(((candidates - threshold).abs() < tolerance).sum())
            total += candidates.numel()
    finally:
        model.rnn.record_candidates = False
    return near / total


def dense_gru_stack(sizes, embedding: int) -> nn.ModuleList:
    torch.manual_seed(1)
    inputs = [embedding, *sizes[:-1]]
    return nn.ModuleList(nn.GRU(i, h) for i, h in zip(inputs, sizes)).eval()


def gru_stream(stack, embedding, readout, tokens):
    states = [None] * len(stack)
    with torch.inference_mode():
        for token in tokens:
            x = embedding[token].view(1, 1, -1)
            for k, gru in enumerate(stack):
                x, states[k] = gru(x, states[k])
            readout(x)


def gru_sequence(stack, embedding, readout, tokens):
    with torch.inference_mode():
        x = embedding[tokens].unsqueeze(1)
        for gru in stack:
            x, _ = gru(x)
        readout(x)


def run(settings: dict, tokens: dict, work: Path, activity: float, lava: bool, log=print) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sizes = list(settings["hidden"])
    model = EGRULanguageModel(settings["vocab"], settings["embedding"], sizes, tie_weights=True, threshold=0.05)
    model.eval()
    measured = set_thresholds(model, tokens["calibration"], activity)
    log(f"thresholds set for activity {activity}: measured {['%.3f' % a for a in measured]}")
    report = {"sizes": {"vocab": settings["vocab"], "embedding": settings["embedding"], "hidden": sizes},
              "activity_target": activity, "activity_calibration": measured}
    # 1. the importer
    run_dir = write_evnn_run(model, work / "evnn_run", bptt=70)
    imported, seconds = timed(from_evnn, run_dir)
    report["import_seconds"] = seconds
    report["parameters"] = sum(p.numel() for p in {id(p): p for p in imported.parameters()}.values())
    log(f"import: {seconds:.2f} s, {report['parameters']:,} parameters")
    # 2. files, dense and pruned
    pruned = from_evnn(run_dir)
    Pruner(pruned, list(PRUNE_TARGETS), scope="matrix").prune(SPARSITY)
    with torch.no_grad():      # the surviving weights scaled so that pre-activations keep their spread
        for name, parameter in pruned.rnn.named_parameters():
            if name.startswith(("weight_ih", "weight_hh")):
                parameter.mul_((1.0 - SPARSITY) ** -0.5)
    report["activity_calibration_pruned"] = set_thresholds(pruned, tokens["calibration"], activity)
    log(f"pruned {SPARSITY:.0%}, thresholds set again: measured "
        f"{['%.3f' % a for a in report['activity_calibration_pruned']]}")
    files = {}
    for name, m in (("dense", imported), ("pruned", pruned)):
        path, export_s = timed(converters.export, m, work / f"{name}.h5")
        loaded, load_s = timed(converters.load_snntorch, path)
        files[name] = {"export_seconds": export_s, "load_seconds": load_s, "megabytes": path.stat().st_size / 2 ** 20,
                       "nonzero_rnn_weights": int(sum(int(torch.count_nonzero(p)) for n, p in m.named_parameters()
                                                      if "weight_ih" in n or "weight_hh" in n))}
        log(f"file {name}: {files[name]['megabytes']:.1f} MiB, export {export_s:.2f} s, load {load_s:.2f} s")
    report["files"] = files
    stream_file = work / "stream_tokens.npy"
    atomic_write_stream(stream_file, lambda stream: np.save(stream, tokens["stream"].numpy()))
    report["resources"] = {"pruned_float32": resources_report(work / "pruned.h5", stream_file)}
    # 3. torch batch-1 evaluation
    report["torch_eval"] = {}
    for name, m in (("dense", imported), ("pruned", pruned)):
        result, seconds = timed(evaluate, m.eval(), tokens["eval"])
        report["torch_eval"][name] = {"tokens": result.tokens, "seconds": seconds,
                                      "tokens_per_second": result.tokens / seconds, "activity": result.activity}
        log(f"torch eval {name}: {result.tokens} tokens, {result.tokens / seconds:.0f} tokens/s, "
            f"activity {result.activity:.3f}")
    # 4. the event-driven engine against dense nn.GRU
    stream = tokens["stream"]
    report["near_threshold_fraction"] = near_threshold_fraction(pruned, stream)
    engine = EventDrivenEGRU.from_model(pruned)
    _, macs = engine.run(stream.numpy(), return_macs=True)
    engine.reset()
    _, event_s = timed(engine.run, stream.numpy())
    counts = count_operations(pruned, stream.view(-1, 1))
    gru = dense_gru_stack(sizes, settings["embedding"])
    embedding, readout = imported.embedding.weight.detach(), nn.Linear(sizes[-1], settings["vocab"]).eval()
    _, stream_s = timed(gru_stream, gru, embedding, readout, stream)
    _, seq_s = timed(gru_sequence, gru, embedding, readout, stream)
    inputs = [settings["embedding"], *sizes[:-1]]
    gru_macs = sum(3 * h * (i + h) for i, h in zip(inputs, sizes)) + settings["vocab"] * sizes[-1]
    n = len(stream)
    report["event_engine"] = {
        "tokens": n, "backend": engine.backend, "event_tokens_per_second": n / event_s,
        "gru_stream_tokens_per_second": n / stream_s, "gru_seq_tokens_per_second": n / seq_s,
        "speedup_vs_gru_stream": stream_s / event_s, "speedup_vs_gru_seq": seq_s / event_s,
        "event_macs_per_token": float(np.sum(macs)) / n, "gru_macs_per_token": gru_macs,
        "opcount_effective_macs_per_token": counts.effective, "opcount_dense_gru_macs_per_token": counts.dense}
    log(f"event engine ({engine.backend}): {n / event_s:.0f} tokens/s, {float(np.sum(macs)) / n:,.0f} MACs/token; "
        f"nn.GRU stream {n / stream_s:.0f} tokens/s, seq {n / seq_s:.0f} tokens/s, {gru_macs:,} MACs/token")
    # 5. Lava, floating and fixed point
    if lava:
        report["lava"] = run_lava(pruned, tokens, work, log)
        report["resources"]["pruned_fixed_point"] = resources_report(work / "lava_fixed.h5", stream_file)
    for name, text in report["resources"].items():
        log(f"egru resources, {name}:\n{text}")
    return report


def run_lava(model: EGRULanguageModel, tokens: dict, work: Path, log) -> dict:
    import lava_egru
    from snntorch_egru import quantization as quant

    lava_tokens = tokens["lava"]
    with torch.no_grad():
        torch_logits = model.eval()(lava_tokens.view(-1, 1))[0][:, 0].double().numpy()
    torch_events = [e[:, 0] != 0 for e in model.rnn.last_events]
    q = quant.calibrate(model, tokens["calibration"].view(-1, 1))
    integer = quant.to_integer(model, q)
    reference = integer(lava_tokens.view(-1, 1))
    paths = {"floating_pt": converters.export(model, work / "lava_float.h5"),
             "fixed_pt": converters.export(model, work / "lava_fixed.h5", quantization=q, sparse="auto")}
    out = {"tokens": int(len(lava_tokens))}
    for precision, path in paths.items():
        with PeakMemory() as memory:
            network, build_s = timed(converters.load_lava, path)       # process construction; simulate compiles
            result, run_s = timed(lava_egru.simulate, network, lava_tokens.numpy(), precision=precision,
                                  return_details=True)
        if precision == "floating_pt":
            diff = float(np.abs(result.output - torch_logits).max())
            same = float((result.output.argmax(1) == torch_logits.argmax(1)).mean())
            against, expected_events = "torch float", torch_events
        else:
            expected = reference.output[:, 0].double().numpy()
            diff = float(np.abs(result.output - expected).max())
            same = float((result.output.argmax(1) == expected.argmax(1)).mean())
            against, expected_events = "torch integer mode", [e[:, 0] for e in reference.events]
        overflow = int(sum(sum(c.values()) for c in result.overflow.values()))
        out[precision] = {"build_seconds": build_s, "compile_and_run_seconds": run_s,
                          "steps_per_second": len(lava_tokens) / run_s, "peak_pss_gib": memory.peak / 2 ** 30, "max_abs_logit_diff": diff, "same_argmax": same,
                          "against": against, "saturations": overflow,
                          "events": lava_event_agreement(path, precision, lava_tokens, expected_events)}
        log(f"Lava {precision}: build {build_s:.1f} s, compile + run {run_s:.1f} s ({len(lava_tokens) / run_s:.2f} "
            f"steps/s), peak "
            f"{memory.peak / 2 ** 30:.2f} GiB, max |diff| {diff:.3g} against {against}, same argmax {same:.3f}, "
            f"saturations {overflow}")
        for k, layer in enumerate(out[precision]["events"]):
            log(f"  layer {k} events: Lava {layer['lava']}, torch {layer['torch']}, "
                f"same (step, unit) pattern {layer['same_fraction']:.6f}")
    out["torch_integer_saturations"] = int(reference.overflow_total)
    return out


def lava_event_agreement(path: Path, precision: str, tokens: torch.Tensor, expected: list) -> list:
    """Per EGRU layer k: the events of the Lava network cut after that layer (the file's layers up to
    EGRU layer k, so that its output is layer k's graded events) against ``expected`` (bool [T, H]):
    event counts and the fraction of (step, unit) pairs where both fire or both stay silent."""
    import lava_egru
    from egru_format import EGRULayer, NetworkSpec, read_network

    spec = read_network(path)
    cuts = [i + 1 for i, layer in enumerate(spec.layers) if isinstance(layer, EGRULayer)]
    rows = []
    for cut, wanted in zip(cuts, expected):
        kept = frozenset(name for name in spec.sparse_matrices if int(name.split("/")[1]) < cut)
        network = lava_egru.EGRUNetwork(NetworkSpec(spec.layers[:cut], spec.model, kept), precision=precision)
        fired = lava_egru.simulate(network, tokens.numpy(), precision=precision) != 0
        wanted = np.asarray(wanted, dtype=bool)
        rows.append({"lava": int(fired.sum()), "torch": int(wanted.sum()),
                     "same_fraction": float((fired == wanted).mean())})
    return rows


def resources_report(path: Path, inputs: Path) -> str:
    """What ``egru resources PATH --input INPUTS`` prints below its first line (egru.hardware)."""
    from egru.hardware import format_report, measured_events, resource_report
    from egru_format import read_network

    steps = len(np.load(inputs))
    events = measured_events(path, np.load(inputs))
    return format_report(resource_report(read_network(path), events, f"{inputs} ({steps} steps, batch 1)"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ptb"), help="PTB directory")
    parser.add_argument("--quick", action="store_true", help="a tiny model on random tokens (seconds)")
    parser.add_argument("--activity", type=float, default=0.1, help="target fraction of units firing (default 0.1)")
    parser.add_argument("--eval-tokens", type=int, default=None, help="torch evaluation tokens (default: all test)")
    parser.add_argument("--stream-tokens", type=int, default=2000, help="event engine / nn.GRU tokens (default 2000)")
    parser.add_argument("--lava-tokens", type=int, default=300, help="Lava tokens (default 300)")
    parser.add_argument("--calibration-tokens", type=int, default=2000, help="threshold and fixed-point calibration")
    parser.add_argument("--no-lava", action="store_true", help="skip the Lava runs")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--keep", metavar="DIR", help="write the run directory, the network files and the token "
                                                      "inputs here and keep them (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.quick:
        settings = QUICK
        g = torch.Generator().manual_seed(0)
        test = torch.randint(0, QUICK["vocab"], (400,), generator=g)
        valid = torch.randint(0, QUICK["vocab"], (200,), generator=g)
        args.stream_tokens, args.lava_tokens = min(args.stream_tokens, 50), min(args.lava_tokens, 12)
    else:
        from egru.lm.data import load_corpus

        settings = FULL
        corpus = load_corpus(args.data)
        test, valid = corpus.test, corpus.valid
    tokens = {"eval": test if args.eval_tokens is None else test[:args.eval_tokens],
              "stream": test[:args.stream_tokens], "lava": test[:args.lava_tokens],
              "calibration": valid[:args.calibration_tokens]}
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        report = run(settings, tokens, Path(args.keep), args.activity, lava=not args.no_lava)
    else:
        with tempfile.TemporaryDirectory(prefix="egru_full_size_") as work:
            report = run(settings, tokens, Path(work), args.activity, lava=not args.no_lava)
    report["command"] = "python benchmarks/bench_full_size.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n", parents=True)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
