"""The ``egru`` command line (egru.cli): help texts, clear errors, and the pipeline end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from egru import cli
from tests.conftest import REPO_ROOT

COMMANDS = ("train", "prune", "export", "lava", "evaluate", "benchmark", "pipeline")


def _exit_code(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_top_level_help_lists_every_command(capsys):
    code, out, _ = _exit_code(["--help"], capsys)
    assert code == 0
    for command in COMMANDS:
        assert command in out


def test_python_m_egru_is_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "egru", "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: egru"), proc.stderr


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: egru" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help(command, capsys):
    code, out, _ = _exit_code([command, "--help"], capsys)
    assert code == 0
    assert f"usage: egru {command}" in out
    assert len(out.splitlines()) > 3


@pytest.mark.parametrize("argv", [
    ["prune", "does/not/exist.h5", "out.h5"],
    ["export", "does/not/exist.pt", "out.h5"],
    ["lava", "does/not/exist.h5", "--input", "x.npy"],
    ["evaluate", "does/not/exist.h5"],
])
def test_missing_file_is_a_clear_error(argv, capsys):
    code, _, err = _exit_code(argv, capsys)
    assert code == 2
    assert "no such file: does/not/exist" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["benchmark", "no_such_bench"], "no benchmark named 'no_such_bench'"),
    (["train", "--task", "lm"], "needs --data DIR"),
    (["train", "--task", "lm", "--data", "does/not/exist"], "no such directory"),
    (["pipeline", "--task", "lm"], "needs --data DIR"),
    (["pipeline", "--sparsity", "1.5"], "must be in [0, 1)"),
    (["lava", "x.h5", "--precision", "double"], "invalid choice"),
])
def test_bad_arguments_exit_2(argv, message, capsys, tmp_path):
    (tmp_path / "x.h5").write_bytes(b"")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, _, err = _exit_code(argv, capsys)
    finally:
        os.chdir(cwd)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_benchmark_list(capsys):
    assert cli.main(["benchmark", "--list"]) == 0
    assert "bench_layer" in capsys.readouterr().out


def test_benchmark_without_a_source_checkout_is_one_error_line(tmp_path, monkeypatch, capsys):
    """An installed egru has no benchmarks/ folder: the command says it needs a checkout (exit 2)."""
    monkeypatch.setattr(cli, "BENCHMARKS", tmp_path / "benchmarks")          # missing
    for argv in (["benchmark", "--list"], ["benchmark", "bench_layer"]):
        code, _, err = _exit_code(argv, capsys)
        assert code == 2 and err.startswith("egru: error: benchmark needs a source checkout")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    (tmp_path / "benchmarks").mkdir()                                        # present but empty
    code, _, err = _exit_code(["benchmark", "--list"], capsys)
    assert code == 2 and "needs a source checkout" in err


def test_module_entry_point_reports_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    proc = subprocess.run([sys.executable, "-m", "egru", "prune", str(bad), str(tmp_path / "o.h5")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("egru: error:")
    assert "Traceback" not in proc.stderr


def test_prune_a_network_file(tmp_path, capsys):
    import converters
    from snntorch_egru import EGRU

    src = converters.export(EGRU(4, 16), tmp_path / "net.h5")
    assert cli.main(["prune", str(src), str(tmp_path / "pruned.h5"), "--sparsity", "0.75"]) == 0
    spec = converters.read_network(tmp_path / "pruned.h5")
    w = np.concatenate([spec.layers[1].weight_ih.ravel(), spec.layers[1].weight_hh.ravel()])
    assert abs((w == 0).mean() - 0.75) < 0.01
    assert "written to" in capsys.readouterr().out


def test_prune_equals_the_pruning_library(tmp_path, capsys):
    """``egru prune`` on a file == snntorch_egru.pruning's global magnitude Pruner on the model, bit for bit
    (two layers, and weights on a coarse grid so that many magnitudes tie at the threshold)."""
    import torch

    import converters
    from snntorch_egru import EGRU
    from snntorch_egru.pruning import Pruner

    torch.manual_seed(0)
    rnn = EGRU(4, [16, 8])
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if name.startswith("weight_"):
                p.copy_(torch.round(p * 20) / 20)
    src = converters.export(rnn, tmp_path / "net.h5", sparse=False)
    for sparsity in (0.0, 0.5, 0.83):
        out = tmp_path / f"pruned{sparsity}.h5"
        assert cli.main(["prune", str(src), str(out), "--sparsity", str(sparsity)]) == 0
        expected = converters.load_snntorch(src)
        Pruner(expected, targets=("input", "recurrent"), scope="global").prune(sparsity)
        got = converters.load_snntorch(out)
        for name, value in expected.named_parameters():
            assert torch.equal(dict(got.named_parameters())[name], value), (sparsity, name)
    capsys.readouterr()


def test_export_a_saved_model(tmp_path, capsys):
    import torch

    import converters
    from snntorch_egru import EGRU

    torch.save(EGRU(3, 5), tmp_path / "model.pt")
    assert cli.main(["export", str(tmp_path / "model.pt"), str(tmp_path / "net.h5")]) == 0
    assert [layer.type for layer in converters.read_network(tmp_path / "net.h5").layers] == ["input", "egru"]
    torch.save({"a": torch.zeros(1)}, tmp_path / "state.pt")
    code, _, err = _exit_code(["export", str(tmp_path / "state.pt"), str(tmp_path / "x.h5")], capsys)
    assert code == 2 and "state_dict" in err


@pytest.fixture(scope="module")
def quick_pipeline(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    assert cli.main(["pipeline", "--quick", "--output-dir", str(out)]) == 0
    return out


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
def test_evaluate_and_lava_commands_on_pipeline_files(quick_pipeline, tmp_path, capsys):
    assert cli.main(["evaluate", str(quick_pipeline / "digits_fixed.h5"), "--backend", "lava",
                     "--precision", "fixed_pt", "--limit", "10"]) == 0
    assert "Lava fixed_pt, 10 images" in capsys.readouterr().out
    code, _, err = _exit_code(["evaluate", str(quick_pipeline / "digits_float.h5"), "--backend", "lava",
                               "--precision", "fixed_pt"], capsys)
    assert code == 2 and "float network" in err
    x = np.random.default_rng(0).random((8, 8))
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["lava", str(quick_pipeline / "digits_float.h5"), "--input", str(tmp_path / "x.npy"),
                     "--output", str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").shape == (8, 10)
    code, _, err = _exit_code(["lava", str(quick_pipeline / "digits_fixed.h5"), "--input",
                               str(tmp_path / "x.npy")[:-4] + "_missing.npy"], capsys)
    assert code == 2 and "no such file" in err


def test_replicate_spec_is_block_diagonal_without_negative_zeros():
    import torch

    from egru.pipelines.digits import DigitsClassifier, classifier_spec, replicate_spec
    torch.manual_seed(0)
    spec = classifier_spec(DigitsClassifier(hidden=5))
    copies = replicate_spec(spec, 3)
    egru, big = spec.layers[1], copies.layers[1]
    for name in ("weight_ih", "weight_hh"):
        small, large = getattr(egru, name), getattr(big, name)
        assert large.shape == (3 * small.shape[0], 3 * small.shape[1])
        assert not np.any((large == 0) & np.signbit(large))            # no -0.0 (stored as entries)
        assert np.count_nonzero(large) == 3 * np.count_nonzero(small)
        h = small.shape[0] // 3                                         # copy 1's reset-gate block
        np.testing.assert_array_equal(large[h:2 * h, small.shape[1]:2 * small.shape[1]], small[:h])
    dense = copies.layers[2].weight
    assert not np.any((dense == 0) & np.signbit(dense))


@pytest.mark.lava
def test_lava_imports_after_a_progress_bar():
    """Lava's import calls multiprocessing.set_start_method("fork"); a tqdm bar shown before
    (training, then Lava, in one process) must not have fixed the context already."""
    code = ("from egru.lm.progress import progress_bar\n"
            "import io\n"
            "for _ in progress_bar(range(3), file=io.StringIO()): pass\n"
            "import lava_egru\n"
            "print('imported')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "imported" in proc.stdout, proc.stderr[-2000:]
