"""benchmarks/bench_event_inference.py runs on a small setting and writes sane rows."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks._helpers import load_benchmark

QUICK = ["--hidden", "16", "--layers", "1", "--thresholds", "0.1", "--sparsities", "0", "0.9",
         "--steps", "5", "--repeats", "1"]


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_event_inference")


def rows_of(bench, tmp_path, *extra):
    out = tmp_path / "rows.json"
    assert bench.main([*QUICK, *extra, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 4 and all(r["event_ms"] > 0 and r["op_reduction"] >= 1 for r in rows)
    # both neurons by default, each signed row right after the positive one with the same weights
    assert [r["polarity"] for r in rows] == ["positive", "signed"] * 2
    assert [r["sparsity"] for r in rows] == [0, 0, 0.9, 0.9]
    return rows


def test_benchmark_script_runs_signed_at_the_positive_activity(bench, tmp_path):
    rows = rows_of(bench, tmp_path)
    for positive, signed in (rows[:2], rows[2:]):
        assert positive["matched_to"] is None and signed["matched_to"] == positive["threshold"] == 0.1
        # the signed neuron needs a higher threshold for the same activity (it fires on both sides)
        assert signed["threshold"] > positive["threshold"]
        assert signed["activity"] == pytest.approx(positive["activity"], abs=0.05)
        assert signed["event_macs_per_token"] == pytest.approx(positive["event_macs_per_token"], rel=0.25)


def test_benchmark_script_runs_signed_at_the_positive_threshold(bench, tmp_path):
    rows = rows_of(bench, tmp_path, "--signed-match", "threshold")
    for positive, signed in (rows[:2], rows[2:]):
        assert signed["matched_to"] is None and signed["threshold"] == positive["threshold"] == 0.1
        # at the same threshold the signed one (|c~| > threshold) is at least as active
        assert signed["activity"] >= positive["activity"]


def test_match_activity_bisects_the_signed_threshold(bench):
    import torch

    from snntorch_egru import EGRU

    torch.manual_seed(0)
    gru = torch.nn.GRU(8, 24)
    x = torch.randn(60, 8)
    positive = EGRU.from_gru(gru, threshold=0.1)
    target = bench.pooled_activity(positive, x)
    signed = EGRU.from_gru(gru, threshold=0.1, polarity="signed")
    assert bench.pooled_activity(signed, x) > target
    threshold = bench.match_activity(signed, x, target, low=0.1)
    assert 0.1 < threshold < 1.0 and float(signed.threshold_l0.detach()[0]) == pytest.approx(threshold)
    assert bench.pooled_activity(signed, x) == pytest.approx(target, abs=2 / (60 * 24))
