"""Write time and peak memory of the network-file writer, old (h5py writing the file) against new (the HDF5
image built in memory, written with ordinary I/O), and the cost of the atomic writer on the largest file.

The model is the full-size PTB reference model: an ``EGRULanguageModel`` with 3 EGRU layers of
1350, 1350 and 750 units, embedding 750, 10000 words, tied readout (31.7 M parameters). Its
network file is written

- ``dense``: every matrix dense (157 MB);
- ``pruned``: W_ih/W_hh of every layer magnitude-pruned to 95% (one global threshold,
  :func:`snntorch_egru.pruning.magnitude_masks`), stored as CSR (``sparse="auto"``);

each way by

- ``old``: ``h5py.File(tmp, "w")`` filled in place, inside the same atomic write (temporary
  file, fsync, ``os.replace``): the writer before issue 21, which a full disk could crash;
- ``new``: :func:`egru_format.write_network` (h5py writes the file into an ``io.BytesIO``,
  :func:`egru_format.network_image`; the bytes go to the temporary file by ordinary I/O).

The largest file the project writes is a training checkpoint of that model (weights and
AdamW's two moments, 380 MB). It is written

- ``bare``: ``torch.save(payload, path)`` straight onto the destination (no temporary file,
  no fsync: what the trainer's ``model.pt`` was);
- ``atomic``: :func:`egru.lm.checkpoint.save_checkpoint` (``torch.save`` into the stream of
  :func:`egru_format.atomic_write_stream`: temporary file, fsync, ``os.replace``).

Each case runs in a fresh subprocess (no shared allocator history; glibc's mmap threshold
fixed so that freed blocks go back to the system): the model is built, the file written
once to warm up, then ``--repeats`` times; the time is the median, the peak memory the
growth of the peak resident set (Linux VmHWM, reset through ``/proc/self/clear_refs``) over
the first timed write. Ratios are against the old writer (bare ``torch.save``) measured in
the same run. Files go to ``--dir`` (default: a temporary folder on the disk of /tmp).

Run::

    python benchmarks/bench_network_write.py
    python benchmarks/bench_network_write.py --repeats 5 --dir /scratch --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The PTB reference model (docs/lm-recipe.md).
REFERENCE = dict(vocab_size=10000, embedding_size=750, hidden_sizes=[1350, 1350, 750], tie_weights=True)
PRUNED_SPARSITY = 0.95
NETWORK_CASES = [("dense", "old"), ("dense", "new"), ("pruned", "old"), ("pruned", "new")]
CHECKPOINT_CASES = ["bare", "atomic"]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> int:
    """Reset the peak resident set to the current one (Linux); return the current one in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def reference_model():
    import torch

    from snntorch_egru import EGRULanguageModel

    torch.manual_seed(0)
    return EGRULanguageModel(REFERENCE["vocab_size"], REFERENCE["embedding_size"], REFERENCE["hidden_sizes"],
                             tie_weights=REFERENCE["tie_weights"])


def network_spec(layout: str):
    import numpy as np
    import torch

    from converters.snntorch_bridge import to_spec
    from snntorch_egru.pruning import magnitude_masks

    spec = to_spec(reference_model())
    if layout == "pruned":
        egrus = spec.egru_layers
        matrices = {(k, name): getattr(layer, name) for name in ("weight_ih", "weight_hh")
                    for k, layer in enumerate(egrus)}
        keep = magnitude_masks({f"{name}_l{k}": torch.from_numpy(w) for (k, name), w in matrices.items()},
                               PRUNED_SPARSITY, scope="global")
        for ((k, name), w), mask in zip(matrices.items(), keep.values()):
            setattr(egrus[k], name, np.where(mask.numpy(), w, np.float32(0.0)))
    return spec


def old_write_network(spec, path) -> Path:
    """The writer before issue 21: h5py writes the temporary file itself."""
    import h5py

    from egru_format import atomic_write, validate_spec
    from egru_format.io import _write_contents

    model = validate_spec(spec, source=path)

    def fill(tmp):
        with h5py.File(tmp, "w") as f:
            _write_contents(f, spec, model, "auto")
            f.flush()

    return atomic_write(path, fill)


def checkpoint_payload() -> dict:
    import torch

    model = reference_model()
    state = model.state_dict()
    moments = {i: {"step": torch.tensor(1.0), "exp_avg": torch.randn_like(p), "exp_avg_sq": torch.rand_like(p)}
               for i, p in enumerate(model.parameters())}
    return {"model": state, "optimizer": {"state": moments, "param_groups": [{"lr": 1e-3}]}}


def child(case: str, directory: Path, repeats: int) -> dict:
    """One case, in this (fresh) process: times of ``repeats`` writes after a warm-up, peak of the first."""
    if case in CHECKPOINT_CASES:
        import torch

        from egru.lm.checkpoint import save_checkpoint

        payload, path = checkpoint_payload(), directory / f"checkpoint_{case}.pt"
        if case == "bare":
            def write():
                torch.save(payload, path)
        else:
            def write():
                save_checkpoint(path, payload)
    else:
        from egru_format import write_network

        layout, writer = case.split("-")
        spec, path = network_spec(layout), directory / f"{case}.h5"
        write = (lambda: old_write_network(spec, path)) if writer == "old" else (lambda: write_network(spec, path))
    write()
    seconds, peak = [], None
    for _ in range(repeats):
        before = _reset_peak()
        start = time.perf_counter()
        write()
        seconds.append(time.perf_counter() - start)
        if peak is None:
            peak = _status_kib("VmHWM") - before
    size = path.stat().st_size
    path.unlink()
    return {"case": case, "seconds": statistics.median(seconds), "all_seconds": seconds, "peak_mib": peak / 1024,
            "file_mib": size / 2 ** 20}


def run_case(case: str, directory: Path, repeats: int) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    out = subprocess.run([sys.executable, __file__, "--child", case, "--dir", str(directory), "--repeats",
                          str(repeats)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed writes per case (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.dir, args.repeats)))
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        results = {case: run_case(case, Path(scratch), args.repeats)
                   for case in [f"{layout}-{writer}" for layout, writer in NETWORK_CASES] + CHECKPOINT_CASES}
    print(f"network file of the PTB reference model ({REFERENCE}), median of {args.repeats} writes; "
          f"peak = growth of the peak resident set during one write")
    print(f"{'case':14s} {'file MiB':>9s} {'seconds':>8s} {'peak MiB':>9s} {'time ratio':>11s} {'peak ratio':>11s}")
    for case, result in results.items():
        base = results[case.replace("new", "old")] if case.endswith("new") else (
            results["bare"] if case == "atomic" else result)
        peak_ratio = f"{result['peak_mib'] / base['peak_mib']:10.2f}x" if base["peak_mib"] >= 1 else f"{'-':>11s}"
        print(f"{case:14s} {result['file_mib']:9.1f} {result['seconds']:8.3f} {result['peak_mib']:9.1f} "
              f"{result['seconds'] / base['seconds']:10.2f}x {peak_ratio}")
    print("ratios: new against old (network files), atomic save_checkpoint against bare torch.save (checkpoint)")
    if args.json:
        from egru_format import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2), parents=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
