"""``egru pipeline --quick``: the digits pipeline end to end (train, prune, export, quantise, Lava), its report
and plots."""

import json

import pytest


@pytest.mark.lava
def test_pipeline_quick_report_and_plots(quick_pipeline):
    report = json.loads((quick_pipeline / "report.json").read_text())
    acc = report["accuracy"]
    for key in ("torch_float", "torch_integer", "lava_float", "lava_fixed"):
        assert 0.0 <= acc[key] <= 1.0
    assert acc["torch_float"] > 0.2            # better than chance (0.1) after a few epochs
    assert report["agreement"]["float"]["identical_predictions"] >= 0.95
    assert report["agreement"]["float"]["max_abs_logit_diff"] < 1e-3
    assert report["agreement"]["fixed"]["bit_exact"] is True
    assert report["qat_forward_equals_integer"] is True
    assert 0.0 < report["activity_sparsity"]["egru_l0"] < 1.0
    assert report["weight_sparsity"]["rnn.weight_hh_l0"] > 0.5
    assert report["macs_per_step"]["egru_effective"] < report["macs_per_step"]["dense_gru"]
    assert report["lava"]["images"] == 24
    for name in ("event_raster.png", "activity.png"):
        data = (quick_pipeline / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 2000
    for name in ("digits_float.h5", "digits_fixed.h5"):
        assert (quick_pipeline / name).is_file()


def test_lm_pipeline_with_too_few_training_tokens_for_the_batch_is_one_error_line(tmp_path, capsys):
    from egru import cli
    from tests.egru._helpers import exit_code, one_error_line, small_corpus

    data = small_corpus(tmp_path / "corpus")
    code, _, err = exit_code(cli.main, ["pipeline", "--task", "lm", "--data", str(data), "--quick", "--no-lava",
                                        "--train-tokens", "10", "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2
    one_error_line(err, "10 training tokens (max_train_tokens=10) are too few for batch size 8")
