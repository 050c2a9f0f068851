"""benchmarks/bench_event_inference.py runs on a small setting and writes sane rows."""

from __future__ import annotations

import json

from tests.benchmarks._helpers import load_benchmark


def test_benchmark_script_runs(tmp_path):
    bench = load_benchmark("bench_event_inference")
    out = tmp_path / "rows.json"
    assert bench.main(["--hidden", "16", "--layers", "1", "--thresholds", "0.1", "--sparsities", "0", "0.9",
                       "--steps", "5", "--repeats", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 4 and all(r["event_ms"] > 0 and r["op_reduction"] >= 1 for r in rows)
    # both neurons by default; at the same threshold the signed one (|c| > threshold) is at least as active
    assert sorted({r["polarity"] for r in rows}) == ["positive", "signed"]
    for sparsity in (0, 0.9):
        by = {r["polarity"]: r for r in rows if r["sparsity"] == sparsity}
        assert by["signed"]["activity"] >= by["positive"]["activity"]
