"""benchmarks/bench_full_size.py on its quick setting: every stage runs and the checks it reports hold."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks._helpers import load_benchmark


def _run(tmp_path, *extra):
    bench = load_benchmark("bench_full_size")
    out = tmp_path / "full_size.json"
    assert bench.main(["--quick", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_quick_setting_without_lava(tmp_path):
    report = _run(tmp_path, "--no-lava")
    assert report["sizes"]["hidden"] == [20, 20, 12] and report["parameters"] > 0
    assert report["files"]["pruned"]["nonzero_rnn_weights"] < 0.1 * report["files"]["dense"]["nonzero_rnn_weights"]
    engine = report["event_engine"]
    assert engine["event_macs_per_token"] == pytest.approx(engine["opcount_effective_macs_per_token"])
    assert engine["gru_macs_per_token"] == engine["opcount_dense_gru_macs_per_token"]
    assert all(0 < a < 0.5 for a in report["activity_calibration"])
    assert "lava" not in report
    resources = report["resources"]["pruned_float32"]
    assert "precision: float32" in resources and "Loihi 2" in resources and "estimate" in resources


@pytest.mark.lava
def test_quick_setting_with_lava(tmp_path):
    report = _run(tmp_path)
    lava = report["lava"]
    assert lava["floating_pt"]["max_abs_logit_diff"] < 1e-5 and lava["floating_pt"]["same_argmax"] == 1.0
    assert lava["fixed_pt"]["max_abs_logit_diff"] == 0.0 and lava["fixed_pt"]["saturations"] == \
        lava["torch_integer_saturations"]
    for precision in ("floating_pt", "fixed_pt"):
        events = lava[precision]["events"]
        assert len(events) == 3 and all(layer["torch"] > 0 for layer in events)
        assert all(layer["lava"] == layer["torch"] and layer["same_fraction"] == 1.0 for layer in events)
    assert "precision: fixed point (8-bit weights" in report["resources"]["pruned_fixed_point"]
