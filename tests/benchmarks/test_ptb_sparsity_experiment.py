"""benchmarks/ptb_sparsity_experiment.py --quick: the whole fronts protocol on a tiny model.

Every family (GRU, LSTM, EGRU at three weight decays) with its pruning chain runs; the
JSONs carry the fields the report and README read; reductions agree with opcount; a rerun
skips finished configurations; --remeasure reproduces the numbers from model.pt; the
report writes the table, the verdict and the plot.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.benchmarks._helpers import load_benchmark

MODULE = load_benchmark("ptb_sparsity_experiment")
CONFIGS = [name for name, *_ in MODULE.configurations()]


@pytest.fixture(scope="module")
def quick_run(shared_data_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("ptb_fronts")
    work, results = base / "work", base / "results"
    args = ["--quick", "--data", str(shared_data_dir / "ptb"), "--output-dir", str(work),
            "--results-dir", str(results)]
    assert MODULE.main(args) == 0
    return work, results, args


def test_configurations_are_the_issue_fronts():
    families = {f.name: f for f in MODULE.FAMILIES}
    fronts = {"gru", "lstm", "egru_wd003", "egru_wd010", "egru_wd030", "egru_signed", "gru_512", "egru_wd010_512",
              "egru_signed_512"}
    beside = {"gru_s1", "gru_s2", f"{MODULE.SEED_EGRU}_s1", f"{MODULE.SEED_EGRU}_s2", "gru_e12",
              f"{MODULE.SEED_EGRU}_e12"}
    assert set(families) == fronts | beside
    assert {kind for _, _, kind, *_ in MODULE.configurations()} == {"gru", "lstm", "egru"}
    for name in families:
        levels = [s for _, f, _, _, s, _ in MODULE.configurations() if f == name]
        assert levels == ([0.0, 0.8, 0.9, 0.95] if name in fronts else [0.0]), name
        assert (families[name].front is not None) == (name in fronts), name
    # the reference neuron's activity knob is the weight decay (issue 11's three families)
    assert sorted(f.weight_decay for f in families.values()
                  if f.rnn_type == "egru" and f.neuron is None and f.width == "base" and f.seed == 0
                  and f.epochs is None) == [0.03, 0.1, 0.3]
    assert MODULE.EGRU_NEURON["threshold_lr_scale"] == 0.0 and MODULE.EGRU_NEURON["surrogate_width"] == 3.6
    assert families["egru_signed"].neuron["polarity"] == "signed"
    assert {families[n].seed for n in beside if n[-3:] in ("_s1", "_s2")} == {1, 2}
    # the seeds and the long run of the deciding EGRU train that very model, only the seed or budget changes
    for name in (f"{MODULE.SEED_EGRU}_s1", f"{MODULE.SEED_EGRU}_s2", f"{MODULE.SEED_EGRU}_e12"):
        seed_family, base = families[name], families[MODULE.SEED_EGRU]
        assert (seed_family.neuron, seed_family.weight_decay, seed_family.width) == \
            (base.neuron, base.weight_decay, base.width), name


def test_gru_rnn_macs_formula():
    assert MODULE.gru_rnn_macs({"model": {"embedding_size": 4, "hidden_sizes": (6, 5)}}) == 3 * 6 * 10 + 3 * 5 * 11


def test_json_fields_and_chains(quick_run):
    _, results, _ = quick_run
    records = {name: json.loads((results / f"{name}.json").read_text()) for name in CONFIGS}
    for r in records.values():
        for key in ("name", "kind", "family", "test_perplexity", "valid_perplexity", "eval_tokens",
                    "reduction_rnn_only", "reduction_rnn_activity_only", "reduction_rnn_weight_only",
                    "reduction_vs_dense_gru", "pruned_matrices", "activity_sparsity", "weight_sparsity_rnn"):
            assert key in r, (r["name"], key)
        assert r["eval_tokens"] == MODULE.QUICK["test_tokens"] - 1       # every next-token prediction
        assert r["valid_tokens"] == MODULE.QUICK["valid_tokens"] - 1
        assert math.isfinite(r["test_perplexity"]) and r["test_perplexity"] > 1
        if r["target_sparsity"]:
            assert r["weight_sparsity_rnn"] == pytest.approx(r["target_sparsity"], abs=2e-3)
            assert r["pruned_matrices"] == ["input", "recurrent"]
            # nested chain: fine-tuned from the previous level of the same family
            assert records[r["parent"]]["family"] == r["family"]
        else:
            assert r["parent"] is None and r["history"], r["name"]
            assert all("valid_perplexity" in h for h in r["history"])    # the training curve
    gru, lstm = records["gru"], records["lstm"]
    # dense baselines: no activity saving; the LSTM computes 4 gate blocks to the GRU's 3
    assert gru["reduction_rnn_weight_only"] == pytest.approx(1.0)
    assert lstm["reduction_rnn_weight_only"] == pytest.approx(0.75)
    assert gru["activity_sparsity"]["pooled"] < 0.01 and lstm["activity_sparsity"]["pooled"] < 0.01
    for name in ("gru_p90", "lstm_p90"):                # weight-only fronts: measured = weight-only
        r = records[name]
        assert r["reduction_rnn_only"] == pytest.approx(r["reduction_rnn_weight_only"], rel=0.02)
    egru = records["egru_wd010"]
    assert egru["activity_sparsity"]["pooled"] > 0.05
    assert egru["reduction_rnn_activity_only"] > 1.0
    assert egru["neuron"]["threshold_init"] == "beta"


def test_reductions_match_opcount(quick_run, shared_data_dir):
    work, results, _ = quick_run
    from egru.lm.data import load_corpus
    from snntorch_egru.opcount import count_operations
    corpus = load_corpus(shared_data_dir / "ptb")
    record = json.loads((results / "egru_wd010_p95.json").read_text())
    config = MODULE.lm_config(MODULE.QUICK, "egru", 0.1)
    model = MODULE.load_model(work / "egru_wd010_p95" / "model.pt", config, len(corpus.vocabulary), pruned=True)
    test = corpus.test[: MODULE.QUICK["test_tokens"]]
    counts = count_operations(model, test)
    rnn_effective = sum(v["effective"] for k, v in counts.layers().items() if k.startswith("layer"))
    assert record["macs_per_token"]["rnn_effective"] == pytest.approx(rnn_effective, rel=1e-12)
    assert record["reduction_rnn_only"] == pytest.approx(MODULE.gru_rnn_macs(MODULE.QUICK) / rnn_effective,
                                                         rel=1e-12)
    assert record["activity_sparsity"]["pooled"] == pytest.approx(counts.activity_sparsity["pooled"])
    from egru.lm.trainer import evaluate
    with torch.no_grad():
        assert evaluate(model, test).loss == pytest.approx(record["test_loss"], rel=1e-9)


def test_rerun_skips_and_remeasure_reproduces(quick_run, capsys):
    _, results, args = quick_run
    before = {name: (results / f"{name}.json").read_text() for name in CONFIGS}
    assert MODULE.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("done already") == len(CONFIGS)
    assert before == {name: (results / f"{name}.json").read_text() for name in CONFIGS}
    assert MODULE.main(args + ["--remeasure"]) == 0
    for name in CONFIGS:
        old, new = json.loads(before[name]), json.loads((results / f"{name}.json").read_text())
        for key in ("test_loss", "valid_loss", "reduction_rnn_only", "reduction_vs_dense_gru", "weight_sparsity_rnn"):
            assert new[key] == pytest.approx(old[key], rel=1e-9), (name, key)


def test_report_table_verdict_plot(quick_run):
    _, results, _ = quick_run
    table = (results / "table.md").read_text()
    assert "--quick" in table
    for name in CONFIGS:
        assert f"| {name} |" in table
    verdict = (results / "verdict.md").read_text()
    for front in ("pruned GRU", "pruned LSTM", "EGRU x pruning, wd 0.03", "EGRU x pruning, wd 0.1",
                  "EGRU x pruning, wd 0.3", "EGRU signed x pruning, wd 0.1"):
        assert f"| {front} |" in verdict
    # the fronts hold the 2 x 256 protocol configurations only: no seed, long run or wide model in them
    fronts = MODULE.fronts({name: json.loads((results / f"{name}.json").read_text()) for name in CONFIGS})
    names = {r["name"] for front in fronts.values() for r in front}
    assert names and not any(n.endswith(("_s1", "_s2", "_e12")) or "_512" in n for n in names)
    assert {r["name"] for r in fronts["EGRU x pruning, wd 0.1"]} == {"egru_wd010", "egru_wd010_p80",
                                                                     "egru_wd010_p90", "egru_wd010_p95"}
    equal_cost = (results / "equal_cost.md").read_text()
    for section in ("## Seed spread", "## The signed neuron against the reference neuron", "## Twice the budget"):
        assert section in equal_cost, section
    assert "beyond" in equal_cost.split("## The signed neuron")[1] or "within" in equal_cost.split(
        "## The signed neuron")[1]
    targets = verdict.split("Targets (issue 11, item 7):")[1]
    assert targets.count("\n- ") == 3 and all(word in targets for word in ("75% activity", "20x", "beyond 10x"))
    assert (results / "pareto.png").stat().st_size > 1000
    assert (results / "curves.png").stat().st_size > 1000
    assert (results / "curves_long.png").stat().st_size > 1000      # the deciding pair at 6 and 12 epochs


def test_verdict_helpers():
    front = [{"name": n, "reduction_rnn_only": x, "test_perplexity": p}
             for n, x, p in (("a", 1.0, 100.0), ("b", 10.0, 104.0), ("c", 20.0, 111.0))]
    assert MODULE.largest_reduction_within(front, 100.0, 0.05)["name"] == "b"
    assert MODULE.largest_reduction_within(front, 100.0, 0.10)["name"] == "b"
    assert MODULE.largest_reduction_within(front, 90.0, 0.05) is None
    assert MODULE.perplexity_at(front, math.sqrt(10.0)) == pytest.approx(102.0)
    assert MODULE.perplexity_at(front, 40.0) is None


def _cost_record(name, family, ppl, rnn, whole, activity=0.0, parent=None):
    return {"name": name, "family": family, "parent": parent, "test_perplexity": ppl,
            "activity_sparsity": {"pooled": activity}, "macs_per_token": {"rnn_effective": rnn, "effective": whole}}


def test_envelope_at_budgets():
    """Log-linear between envelope points, no extrapolation, and a point a rounding away from a budget is at it."""
    points = [_cost_record("a", "gru", 150.0, 50.0, 0), _cost_record("b", "gru", 100.0, 1000.0, 0),
              _cost_record("c", "gru", 160.0, 500.0, 0)]                 # dominated: not on the envelope
    envelope = MODULE.lower_envelope(points, "rnn")
    assert [r["name"] for r in envelope] == ["a", "b"]
    assert MODULE.envelope_at(envelope, "rnn", math.sqrt(50.0 * 1000.0)) == pytest.approx(125.0)
    assert MODULE.envelope_at(envelope, "rnn", 49.0) is None and MODULE.envelope_at(envelope, "rnn", 1001.0) is None
    assert MODULE.envelope_at(envelope, "rnn", 50.0 * (1 - 0.5 * MODULE.BUDGET_TOLERANCE)) == 150.0
    assert MODULE.envelope_at(envelope, "rnn", 50.0 * (1 - 2 * MODULE.BUDGET_TOLERANCE)) is None
    # two points at one budget up to rounding (gru_p80 and gru_512_p95 at 5x): the better one counts
    twins = MODULE.lower_envelope(points + [_cost_record("d", "gru", 140.0, 50.004, 0)], "rnn")
    assert MODULE.envelope_at(twins, "rnn", 50.0) == 140.0


def test_equal_cost_targets_judge_every_width():
    """The seed targets over absolute costs: met, not met and undecided are told apart."""
    records = {r["name"]: r for r in (
        _cost_record("gru", "gru", 100.0, 1000, 4000), _cost_record("gru_p95", "gru", 150.0, 50, 3000, parent="gru"),
        _cost_record("lstm", "lstm", 105.0, 1333, 4300),
        _cost_record("lstm_p95", "lstm", 160.0, 67, 3100, parent="lstm"),
        _cost_record("egru_wd010_512", "egru_wd010_512", 104.0, 400, 2000, activity=0.8),
        _cost_record("egru_wd010_512_p90", "egru_wd010_512", 107.0, 80, 1000, 0.8, "egru_wd010_512"),
        _cost_record("egru_wd010_512_p95", "egru_wd010_512", 108.0, 40, 900, 0.8, "egru_wd010_512"))}

    def targets(recs):
        lines = MODULE.equal_cost_target_lines(recs)
        assert lines[0].startswith("## The seed targets over both widths") and len(lines) == 7 and lines[-1] == ""
        return lines[2:6]

    activity, cheap, rnn_axis, whole_axis = targets(records)
    assert "met: the best unpruned EGRU at >= 75% is egru_wd010_512, 104.00 (+4.0%)" in activity
    assert "met: the cheapest EGRU within +10% is egru_wd010_512_p95 (108.00) at 40 recurrent MACs (25.00x fewer)" \
        in cheap
    # the GRU front ends at 50 MACs: the point at 40 has nothing to be below
    assert "EGRU (reference neuron) x pruning: not decided" in rnn_axis
    assert "egru_wd010_512_p90 107.00 at 80 (12.50x fewer) vs GRU 142.16, LSTM 156.74)" in rnn_axis  # log-linear
    assert "EGRU (reference neuron) x pruning: no point beyond 10x" in whole_axis
    del records["egru_wd010_512_p95"]
    activity, cheap, rnn_axis, _ = targets(records)
    assert "not met: the cheapest EGRU within +10% is egru_wd010_512_p90" in cheap
    assert "EGRU (reference neuron) x pruning: below (" in rnn_axis
    records["egru_wd010_512_p90"]["test_perplexity"] = 149.0          # above the GRU front, below the LSTM's
    assert "EGRU (reference neuron) x pruning: not below (" in targets(records)[2]
    records["egru_wd010_512"]["activity_sparsity"]["pooled"] = 0.7
    assert targets(records)[0].endswith("not met: no unpruned EGRU reaches 75%")


def test_ablations_change_one_recipe_item_each(quick_run, capsys):
    work, results, args = quick_run
    assert MODULE.main(args + ["--ablations"]) == 0
    assert capsys.readouterr().out.count("done already") == len(CONFIGS)  # the protocol is not trained again
    reference = MODULE.neuron_settings(MODULE.EGRU_NEURON)
    table = (results / "ablations.md").read_text()
    names = [entry[0] for entry in MODULE.ablation_entries()]
    assert len(names) == len(set(names)) == len(MODULE.ABLATIONS) + len(MODULE.DIAGNOSTICS)
    for name, rnn_type, weight_decay, neuron, model_overrides, change in MODULE.ablation_entries():
        record = json.loads((results / "ablations" / f"{name}.json").read_text())
        assert all(record["model"][k] == v for k, v in model_overrides.items()), name
        assert record["kind"] == rnn_type and record["weight_decay"] == weight_decay
        assert record["train"]["epochs"] == MODULE.QUICK["ablation_epochs"]
        assert record["eval_tokens"] == MODULE.QUICK["test_tokens"] - 1
        assert f"| {name} | {change} |" in table
        if rnn_type != "egru":
            assert record["neuron"] is None
            continue
        # the settings the trainer ran with are the declared ones
        assert record["neuron"] == pytest.approx(MODULE.neuron_settings(neuron)), name
        changed = {k for k in set(reference) | set(record["neuron"])
                   if reference.get(k) != record["neuron"].get(k)}
        other_decay = weight_decay != 0.1
        if name == "abl_egru":
            assert not changed and not other_decay and not model_overrides
        else:  # the neuron, the weight decay or the model differs from the reference recipe: one of them
            assert [bool(changed), other_decay, bool(model_overrides)].count(True) == 1, (name, changed)
    # the frozen constant thresholds are what the model holds
    model = torch.load(work / "ablations" / "abl_egru_thresholds_0.001" / "model.pt", map_location="cpu")
    thresholds = [v for k, v in model.items() if ".threshold_l" in k or k.startswith("threshold_l")]
    assert thresholds and all(torch.allclose(t, torch.full_like(t, 1e-3)) for t in thresholds)
    # the diagnostics: signed events, an untied readout, the dense-state readout (issue 17)
    signed = json.loads((results / "ablations" / f"abl_egru_signed_{MODULE.SIGNED_THRESHOLDS[0]}.json").read_text())
    assert signed["neuron"]["polarity"] == "signed"
    untied = torch.load(work / "ablations" / "abl_egru_untied" / "model.pt", map_location="cpu")
    assert not torch.equal(untied["readout.weight"], untied["embedding.weight"])
    dense = json.loads((results / "ablations" / "abl_egru_readout_candidates.json").read_text())
    readout = dense["macs_per_layer"]["readout"]
    assert readout["effective"] == readout["dense"]            # the readout reads every unit, every token
