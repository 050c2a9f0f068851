"""``egru pipeline --quick``: the digits pipeline end to end (train, prune, export, quantise, Lava), its report
and plots."""

import json

import numpy as np
import pytest
import torch


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


@pytest.mark.lava
def test_pipeline_with_the_signed_neuron_end_to_end(tmp_path, capsys):
    """``egru pipeline --polarity signed``: the signed neuron through every phase, its files recording the
    polarity, Lava floating point equal to torch and fixed point bit exact, negative events on the way."""
    from egru import cli
    from egru.pipelines.digits import classifier_from_spec, load_digits_split
    from egru_format import read_network

    assert cli.main(["pipeline", "--quick", "--polarity", "signed", "--output-dir", str(tmp_path)]) == 0
    assert "EGRU neuron          : signed events" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["config"]["polarity"] == "signed"
    assert report["agreement"]["float"]["identical_predictions"] == 1.0
    assert report["agreement"]["float"]["max_abs_logit_diff"] < 1e-3
    assert report["agreement"]["fixed"]["bit_exact"] is True
    assert report["qat_forward_equals_integer"] is True
    for name in ("digits_float.h5", "digits_fixed.h5"):
        spec = read_network(tmp_path / name)
        assert [layer.polarity for layer in spec.egru_layers] == ["signed"]
    model = classifier_from_spec(read_network(tmp_path / "digits_float.h5"))
    _, _, x_test, _ = load_digits_split(0)
    with torch.no_grad():
        y, _ = model.rnn(x_test[:24])
    assert (y < 0).any() and (y > 0).any()
    # the other commands take the signed files as they are
    capsys.readouterr()
    assert cli.main(["prune", str(tmp_path / "digits_float.h5"), str(tmp_path / "p90.h5"), "--sparsity", "0.9"]) == 0
    assert [layer.polarity for layer in read_network(tmp_path / "p90.h5").egru_layers] == ["signed"]
    assert cli.main(["evaluate", str(tmp_path / "digits_fixed.h5"), "--backend", "lava", "--precision", "fixed_pt",
                     "--limit", "8"]) == 0
    assert cli.main(["evaluate", str(tmp_path / "p90.h5"), "--limit", "8"]) == 0
    np.save(tmp_path / "x.npy", x_test[0].numpy().astype(np.float64))
    assert cli.main(["lava", str(tmp_path / "digits_float.h5"), "--input", str(tmp_path / "x.npy"), "--output",
                     str(tmp_path / "y.npy")]) == 0
    with torch.no_grad():
        expected = model(x_test[:1])[0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)


def test_polarity_is_checked(capsys):
    from egru import cli
    from tests.egru._helpers import exit_code

    code, _, err = exit_code(cli.main, ["pipeline", "--quick", "--polarity", "bipolar"], capsys)
    assert code == 2 and "--polarity" in err and "bipolar" in err


def test_lm_pipeline_with_too_few_training_tokens_for_the_batch_is_one_error_line(tmp_path, capsys):
    from egru import cli
    from tests.egru._helpers import exit_code, one_error_line, small_corpus

    data = small_corpus(tmp_path / "corpus")
    code, _, err = exit_code(cli.main, ["pipeline", "--task", "lm", "--data", str(data), "--quick", "--no-lava",
                                        "--train-tokens", "10", "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2
    one_error_line(err, "10 training tokens (max_train_tokens=10) are too few for batch size 8")
