"""``egru evaluate`` (and ``egru lava``) on the pipeline's network files, with torch or Lava; a file that is not a
digits classifier, or fixed point without the Lava backend, is one error line."""

import numpy as np
import pytest

from egru import cli
from tests.egru._helpers import exit_code, one_error_line, small_network


@pytest.mark.lava
def test_evaluate_and_lava_commands_on_pipeline_files(quick_pipeline, tmp_path, capsys):
    assert cli.main(["evaluate", str(quick_pipeline / "digits_fixed.h5"), "--backend", "lava",
                     "--precision", "fixed_pt", "--limit", "10"]) == 0
    assert "Lava fixed_pt, 10 images" in capsys.readouterr().out
    code, _, err = exit_code(cli.main, ["evaluate", str(quick_pipeline / "digits_float.h5"), "--backend", "lava",
                                        "--precision", "fixed_pt"], capsys)
    assert code == 2 and "float network" in err
    x = np.random.default_rng(0).random((8, 8))
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["lava", str(quick_pipeline / "digits_float.h5"), "--input", str(tmp_path / "x.npy"),
                     "--output", str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").shape == (8, 10)
    code, _, err = exit_code(cli.main, ["lava", str(quick_pipeline / "digits_fixed.h5"), "--input",
                                        str(tmp_path / "x.npy")[:-4] + "_missing.npy"], capsys)
    assert code == 2 and "no such file" in err


def test_evaluate_on_a_file_that_is_not_a_digits_classifier_names_the_file(tmp_path, capsys):
    net = small_network(tmp_path)
    code, _, err = exit_code(cli.main, ["evaluate", str(net)], capsys)
    assert code == 2
    one_error_line(err, str(net), "not a digits classifier")
    assert "<NetworkSpec>" not in err


def test_evaluate_fixed_point_with_the_torch_backend_is_an_error(tmp_path, capsys):
    net = small_network(tmp_path)
    code, _, err = exit_code(cli.main, ["evaluate", str(net), "--precision", "fixed_pt"], capsys)
    assert code == 2
    one_error_line(err, "--precision fixed_pt needs --backend lava")


def _stack_file(tmp_path, inputs: int, encoding: str = "vector"):
    from egru_format import DenseLayer, EGRULayer, InputLayer, NetworkSpec, write_network

    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    spec = NetworkSpec([InputLayer(inputs, encoding), EGRULayer(f32(12, inputs), f32(12, 4), f32(12), f32(12),
                                                                np.full(4, 0.1, np.float32)),
                        DenseLayer(f32(10, 4), f32(10))])
    return write_network(spec, tmp_path / f"{encoding}_{inputs}.h5")


def test_a_classifier_of_another_input_size_is_one_error_line(tmp_path, capsys):
    net = _stack_file(tmp_path, 5)
    code, _, err = exit_code(cli.main, ["evaluate", str(net)], capsys)
    assert code == 2
    one_error_line(err, str(net), "its input is 5 features per step", "a digits classifier's is 8")


@pytest.mark.parametrize("inputs", [8, 30])
def test_a_token_input_file_is_named_and_refused(tmp_path, capsys, inputs):
    net = _stack_file(tmp_path, inputs, "tokens")
    code, _, err = exit_code(cli.main, ["evaluate", str(net)], capsys)
    assert code == 2
    one_error_line(err, str(net), "its input is token ids (a language model)")
    assert "<NetworkSpec>" not in err


def test_a_language_model_file_is_named(tmp_path, capsys):
    import converters
    from snntorch_egru import EGRULanguageModel

    net = converters.export(EGRULanguageModel(20, 6, [8, 6], tie_weights=True), tmp_path / "lm.h5")
    code, _, err = exit_code(cli.main, ["evaluate", str(net)], capsys)
    assert code == 2
    one_error_line(err, str(net), "not a digits classifier")
    assert "<NetworkSpec>" not in err
