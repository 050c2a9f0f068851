"""benchmarks/quantization_accuracy.py runs in its --quick setting and reports sane numbers."""

from __future__ import annotations

import math

from tests.benchmarks._helpers import load_benchmark


def test_quick_benchmark(shared_data_dir, tmp_path):
    bench = load_benchmark("quantization_accuracy")
    results = bench.main(["--quick", "--data", str(shared_data_dir / "ptb"), "--json", str(tmp_path / "r.json")])
    (xor,) = results["xor"]
    for key in ("float", "ptq", "qat", "float_finetuned"):
        assert 0.0 <= xor[key] <= 1.0
    lm = results["lm"]
    for key in ("float", "ptq", "qat", "float_finetuned"):
        assert math.isfinite(lm[key]) and 1.0 < lm[key] < 2 * 10_000   # PTB vocabulary: 10k words
    # the integer mode is close to the float model it was calibrated on
    assert abs(lm["ptq"] / lm["float"] - 1) < 0.1
    assert "| PTB LM" in results["table"] and (tmp_path / "r.json").exists()
