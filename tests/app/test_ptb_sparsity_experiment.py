"""benchmarks/ptb_sparsity_experiment.py --quick: JSON and table outputs, resume-skip, opcount agreement."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

CONFIGS = ["gru", "egru", "egru_p50", "egru_p80", "egru_p90", "egru_p95", "egru_ft1", "egru_ft2", "egru_ft3", "egru_ft4",
           "egru_p90_ro80"]


def _module():
    spec = importlib.util.spec_from_file_location("ptb_sparsity_experiment",
                                                  REPO_ROOT / "benchmarks" / "ptb_sparsity_experiment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(shared_data_dir, tmp_path_factory):
    module = _module()
    base = tmp_path_factory.mktemp("ptb_sparsity")
    work, results = base / "work", base / "results"
    args = ["--quick", "--data", str(shared_data_dir / "ptb"), "--output-dir", str(work),
            "--results-dir", str(results)]
    assert module.main(args) == 0
    return module, work, results, args


def test_json_and_table(quick_run):
    _, _, results, _ = quick_run
    records = {name: json.loads((results / f"{name}.json").read_text()) for name in CONFIGS}
    assert records["gru"]["reduction_vs_dense_gru"] == pytest.approx(1.0, rel=1e-3)  # a few exact zeros
    assert records["gru"]["activity_sparsity"]["pooled"] == 0.0
    for name in CONFIGS[2:6]:
        r = records[name]
        assert r["weight_sparsity_rnn"] == pytest.approx(r["target_sparsity"], abs=1e-3)
        assert r["pruned_matrices"] == ["input", "recurrent"]
    everything = records["egru_p90_ro80"]           # W_ih, W_hh and the tied readout: 90% together
    assert everything["pruned_matrices"] == ["input", "recurrent", "readout"]
    assert everything["weight_sparsity_readout"] > 0.5 and records["egru_p90"]["weight_sparsity_readout"] == 0.0
    readout = lambda r: r["macs_per_layer"]["readout"]   # noqa: E731
    assert readout(everything)["effective"] < readout(records["egru_p90"])["effective"]
    assert everything["reduction_vs_dense_gru"] > records["egru_p90"]["reduction_vs_dense_gru"]
    for name in CONFIGS[6:10]:                     # the control chain: same fine-tuning, no pruning
        r = records[name]
        assert r["weight_sparsity_rnn"] < 0.01 and r["pruned_matrices"] == [] and "control" in r["description"]
        assert r["train_steps"] == records["egru_p50"]["train_steps"]
    for r in records.values():
        assert r["test_perplexity"] > 1 and r["wall_seconds"] > 0
        assert set(r["activity_sparsity"]) == {"layer0", "layer1", "pooled"}
    table = (results / "table.md").read_text()
    assert "--quick" in table
    for name in CONFIGS:
        assert f"| {name} |" in table


def test_rerun_skips_completed(quick_run, capsys):
    module, _, results, args = quick_run
    before = {name: (results / f"{name}.json").read_text() for name in CONFIGS}
    assert module.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("done already") == len(CONFIGS)
    assert "epoch 1 step" not in out
    assert before == {name: (results / f"{name}.json").read_text() for name in CONFIGS}


def test_reduction_matches_opcount(quick_run, shared_data_dir):
    module, work, results, _ = quick_run
    from snntorch_egru.data import load_corpus
    from snntorch_egru.opcount import count_operations
    corpus = load_corpus(shared_data_dir / "ptb")
    record = json.loads((results / "egru_p95.json").read_text())
    model = module.load_model(work / "egru_p95" / "model.pt", "egru", len(corpus.vocabulary),
                              module.QUICK["model"], pruned=True)
    counts = count_operations(model, corpus.test[: record["eval_tokens"]])
    assert record["reduction_vs_dense_gru"] == pytest.approx(counts.reduction_effective, rel=1e-12)
    assert record["macs_per_token"]["effective"] == pytest.approx(counts.effective, rel=1e-12)
    assert record["activity_sparsity"]["pooled"] == pytest.approx(counts.activity_sparsity["pooled"])
    with torch.no_grad():
        assert module.test_loss(model, corpus.test[: record["eval_tokens"]]) == pytest.approx(record["test_loss"])


def test_remeasure_reproduces_the_numbers_and_the_multiplication(quick_run):
    module, _, results, args = quick_run
    before = {name: json.loads((results / f"{name}.json").read_text()) for name in CONFIGS}
    assert module.main(args + ["--remeasure"]) == 0
    for name in CONFIGS:
        after = json.loads((results / f"{name}.json").read_text())
        for key in ("test_loss", "reduction_vs_dense_gru", "reduction_rnn_only", "weight_sparsity_rnn"):
            assert after[key] == pytest.approx(before[name][key], rel=1e-12), (name, key)
        layers = after["macs_per_layer"]
        assert set(layers) >= {"layer0", "layer1", "readout"}
        # the EGRU layers' measured reduction (activity x weights) is at least the activity-only one
        assert after["reduction_rnn_only"] >= after["reduction_rnn_activity_only"] * (1 - 1e-9)
    table = (results / "table.md").read_text()
    assert "| A | W | A x W | M |" in table and "n/a" not in table
