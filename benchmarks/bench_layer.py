"""Forward+backward time and peak memory of ``snntorch_egru.EGRU`` against ``torch.nn.GRU`` on CPU.

Both models have the same weights (``EGRU.from_gru``) and see the same inputs in the same
run; timings interleave the two models and report medians. Peak memory is the growth of
the peak resident set (Linux VmHWM) during one forward+backward pass after a warm-up
pass, in a fresh subprocess per model so that the two do not share allocator history.
The gradients of the warm-up pass are freed first, so the figure counts activations,
saved tensors, backward temporaries and the new gradients.

Run::

    python benchmarks/bench_layer.py                 # the issue's grid: T=70, B=32, H in {256, 1024}, 1 and 3 layers
    python benchmarks/bench_layer.py --hidden 256 --layers 1 --repeats 5
    python benchmarks/bench_layer.py --packed          # what a PackedSequence costs against the padded batch

Targets (issue 2): fwd+bwd <= 1.25x nn.GRU at H=256, <= 1.1x at H=1024; peak memory <= 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn


from snntorch_egru import EGRU


def build(kind: str, hidden: int, layers: int, threshold: float):
    torch.manual_seed(0)
    gru = nn.GRU(hidden, hidden, layers)
    if kind == "gru":
        return gru
    return EGRU.from_gru(gru, threshold=threshold, events=(kind == "egru"))


def forward_backward(model, x):
    y, _ = model(x)
    y.sum().backward()


def time_pair(hidden, layers, steps, batch, repeats, threshold):
    models = {kind: build(kind, hidden, layers, threshold) for kind in ("gru", "egru")}
    x = torch.randn(steps, batch, hidden, generator=torch.Generator().manual_seed(1), requires_grad=True)
    for model in models.values():
        forward_backward(model, x)
    times = {kind: [] for kind in models}
    for _ in range(repeats):
        for kind, model in models.items():
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            forward_backward(model, x)
            times[kind].append(time.perf_counter() - start)
    activity = models["egru"].activity().pooled
    return {kind: statistics.median(values) for kind, values in times.items()}, activity


def time_packed(hidden, layers, steps, batch, repeats, threshold):
    """Median fwd+bwd of the padded batch [T, B, H] and of the same batch packed with lengths
    drawn uniformly from [1, T] (the longest set to T), for nn.GRU and the EGRU; the padded
    runs compute every step of every sequence, the packed ones only the real steps."""
    from torch.nn.utils.rnn import pack_padded_sequence

    g = torch.Generator().manual_seed(2)
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    lengths[0] = steps
    x = torch.randn(steps, batch, hidden, generator=g, requires_grad=True)
    models = {kind: build(kind, hidden, layers, threshold) for kind in ("gru", "egru")}

    def packed_pass(model):
        out, _ = model(pack_padded_sequence(x, lengths, enforce_sorted=False))
        out.data.sum().backward()

    runs = {(kind, how): (model, forward_backward if how == "padded" else packed_pass)
            for kind, model in models.items() for how in ("padded", "packed")}
    for model, fn in runs.values():
        fn(model, x) if fn is forward_backward else fn(model)
    times = {key: [] for key in runs}
    for _ in range(repeats):
        for key, (model, fn) in runs.items():
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            fn(model, x) if fn is forward_backward else fn(model)
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(v) for key, v in times.items()}, float(lengths.sum()) / (steps * batch), \
        len(set(lengths.tolist()))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_child(kind, hidden, layers, steps, batch, threshold):
    """Growth of the peak resident set (VmHWM) over one fwd+bwd, after a warm-up pass.

    Linux resets VmHWM to the current RSS when 5 is written to /proc/self/clear_refs.
    """
    model = build(kind, hidden, layers, threshold)
    x = torch.randn(steps, batch, hidden, requires_grad=True)
    forward_backward(model, x)
    model.zero_grad(set_to_none=True)
    x.grad = None
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    forward_backward(model, x)
    print(json.dumps({"peak_kib": _status_kib("VmHWM") - before}))


def peak_memory(kind, hidden, layers, steps, batch, threshold):
    # A fixed mmap threshold makes glibc return every large freed block to the OS at once,
    # so the resident set follows the live tensors instead of the allocator's cache.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    out = subprocess.run(
        [sys.executable, __file__, "--child-memory", kind, "--hidden", str(hidden), "--layers", str(layers),
         "--steps", str(steps), "--batch", str(batch), "--threshold", str(threshold)],
        check=True, capture_output=True, text=True, env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_kib"] / 1024.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--steps", type=int, default=70)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--packed", action="store_true",
                        help="time a PackedSequence of random lengths against the padded batch instead")
    parser.add_argument("--child-memory", choices=["gru", "egru"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child_memory:
        peak_memory_child(args.child_memory, args.hidden[0], args.layers[0], args.steps, args.batch, args.threshold)
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, T={args.steps}, B={args.batch}, "
          f"median of {args.repeats}")
    if args.packed:
        print("| H | layers | real steps | distinct lengths | nn.GRU padded | nn.GRU packed | EGRU padded | "
              "EGRU packed | EGRU packed / padded | EGRU packed / nn.GRU packed |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for hidden in args.hidden:
            for layers in args.layers:
                t, fill, distinct = time_packed(hidden, layers, args.steps, args.batch, args.repeats, args.threshold)
                print(f"| {hidden} | {layers} | {fill:.0%} | {distinct} | {1e3 * t['gru', 'padded']:.1f} ms | "
                      f"{1e3 * t['gru', 'packed']:.1f} ms | {1e3 * t['egru', 'padded']:.1f} ms | "
                      f"{1e3 * t['egru', 'packed']:.1f} ms | {t['egru', 'packed'] / t['egru', 'padded']:.2f}x | "
                      f"{t['egru', 'packed'] / t['gru', 'packed']:.2f}x |", flush=True)
        return 0
    print("| H | layers | nn.GRU fwd+bwd | EGRU fwd+bwd | time ratio | nn.GRU peak | EGRU peak | memory ratio | EGRU activity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for hidden in args.hidden:
        for layers in args.layers:
            times, activity = time_pair(hidden, layers, args.steps, args.batch, args.repeats, args.threshold)
            mem = {kind: peak_memory(kind, hidden, layers, args.steps, args.batch, args.threshold)
                   for kind in ("gru", "egru")}
            print(f"| {hidden} | {layers} | {1e3 * times['gru']:.1f} ms | {1e3 * times['egru']:.1f} ms | "
                  f"{times['egru'] / times['gru']:.2f}x | {mem['gru']:.1f} MiB | {mem['egru']:.1f} MiB | "
                  f"{mem['egru'] / max(mem['gru'], 1e-9):.2f}x | {activity:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
