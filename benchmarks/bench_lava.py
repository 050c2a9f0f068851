"""Steps per second of a Lava EGRU layer against a Lava LIF network of the same size and connectivity.

Both networks run in the same script on Lava's CPU backend (``Loihi2SimCfg``, floating
point): a source feeds graded input vectors through an input ``Dense`` into H neurons
that are connected recurrently through a second ``Dense``, and a sink records the
output. The EGRU side is one ``lava_egru.EGRUBlock`` (the layer a network file's
``egru`` entry becomes); both graphs have five Lava processes. The EGRU layer's matrices are 3H x I and 3H x H (three gates); the LIF
network's are H x I and H x H. Each network is compiled and started with one step, then
``--steps`` steps are timed. The snnTorch layer's batch-1 speed is printed for scale
(whole sequence in one call, and one step per call).

Run (needs the Lava environment, .venv/lava)::

    python benchmarks/bench_lava.py                    # H = 256 and 1024, 300 steps
    python benchmarks/bench_lava.py --hidden 256 --steps 1000

Target (issue 3): the EGRU within 1.5x of the LIF network's time per step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def egru_layer(hidden: int, threshold: float, seed: int):
    """One ``EGRUBlock``: input Dense (3H x H) and recurrent Dense (3H x H) around the EGRU neuron."""
    from lava_egru import EGRUBlock

    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden)
    uniform = lambda *shape: rng.uniform(-bound, bound, shape).astype(np.float32)  # noqa: E731
    block = EGRUBlock(weight_ih=uniform(3 * hidden, hidden), weight_hh=uniform(3 * hidden, hidden),
                      bias_ih=uniform(3 * hidden), bias_hh=uniform(3 * hidden),
                      threshold=np.full(hidden, threshold, np.float32))
    return block, block.inp, block.out


def lif_network(hidden: int, seed: int):
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF

    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden)
    dense_in = Dense(weights=rng.uniform(-bound, bound, (hidden, hidden)), num_message_bits=24)
    lif = LIF(shape=(hidden,), du=0.2, dv=0.1, vth=0.5)
    dense_rec = Dense(weights=rng.uniform(-bound, bound, (hidden, hidden)))
    dense_in.a_out.connect(lif.a_in)
    lif.s_out.connect(dense_rec.s_in)
    dense_rec.a_out.connect(lif.a_in)
    return lif, dense_in.s_in, lif.s_out


def time_lava(build, hidden: int, steps: int, seed: int) -> dict:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    anchor, inp, out = build()
    data = np.random.default_rng(seed).standard_normal((hidden, steps + 1))
    source = Source(data=data)
    sink = Sink(shape=out.shape, buffer=steps + 1)
    source.s_out.connect(inp)
    out.connect(sink.a_in)
    config = Loihi2SimCfg(select_tag="floating_pt")
    try:
        start = time.perf_counter()
        anchor.run(RunSteps(1), config)
        startup = time.perf_counter() - start
        start = time.perf_counter()
        anchor.run(RunSteps(steps), config)
        elapsed = time.perf_counter() - start
        events = int(np.count_nonzero(sink.data.get()))
    finally:
        anchor.stop()
    return {"ms_per_step": 1e3 * elapsed / steps, "steps_per_s": steps / elapsed, "startup_s": startup,
            "events": events}


def snntorch_batch1(hidden: int, steps: int, threshold: float) -> dict:
    try:
        import torch
        from snntorch_egru import EGRU
    except ImportError:
        return {}
    torch.manual_seed(0)
    model = EGRU(hidden, hidden, threshold=threshold).eval()
    x = torch.randn(steps, 1, hidden)
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        model(x)
        whole = time.perf_counter() - start
        state = None
        start = time.perf_counter()
        for t in range(steps):
            _, state = model(x[t:t + 1], state)
        streaming = time.perf_counter() - start
    return {"sequence_ms": 1e3 * whole / steps, "streaming_ms": 1e3 * streaming / steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"Lava CPU backend (floating_pt), {args.steps} timed steps after a 1-step start")
    print("| H | EGRU ms/step | EGRU steps/s | LIF ms/step | LIF steps/s | EGRU/LIF time | EGRU events | "
          "LIF spikes | snnTorch EGRU batch-1 (sequence / per-call) ms/step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for hidden in args.hidden:
        egru = time_lava(lambda: egru_layer(hidden, args.threshold, args.seed), hidden, args.steps, args.seed)
        lif = time_lava(lambda: lif_network(hidden, args.seed), hidden, args.steps, args.seed)
        torch_speed = snntorch_batch1(hidden, args.steps, args.threshold)
        scale = f"{torch_speed['sequence_ms']:.3f} / {torch_speed['streaming_ms']:.3f}" if torch_speed else "n/a"
        print(f"| {hidden} | {egru['ms_per_step']:.2f} | {egru['steps_per_s']:.0f} | {lif['ms_per_step']:.2f} | "
              f"{lif['steps_per_s']:.0f} | {egru['ms_per_step'] / lif['ms_per_step']:.2f}x | {egru['events']} | "
              f"{lif['events']} | {scale} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
