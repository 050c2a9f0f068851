"""The ``egru`` command line as a whole (egru.cli): its commands and their help texts, ``python -m egru``,
and errors common to the commands: one line ``egru: error: ...``, exit code 2, never a traceback."""

import os
import subprocess
import sys

import pytest

from egru import cli
from tests.conftest import REPO_ROOT
from tests.egru._helpers import exit_code, one_error_line


COMMANDS = ("train", "prune", "export", "lava", "evaluate", "benchmark", "pipeline")


def test_top_level_help_lists_every_command(capsys):
    code, out, _ = exit_code(cli.main, ["--help"], capsys)
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
    code, out, _ = exit_code(cli.main, [command, "--help"], capsys)
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
    code, _, err = exit_code(cli.main, argv, capsys)
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
        code, _, err = exit_code(cli.main, argv, capsys)
    finally:
        os.chdir(cwd)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_module_entry_point_reports_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    proc = subprocess.run([sys.executable, "-m", "egru", "prune", str(bad), str(tmp_path / "o.h5")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("egru: error:")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [["pipeline", "--quick", "--no-lava", "--output-dir", "afile"],
                                  ["pipeline", "--quick", "--no-lava", "--output-dir", "afile/sub"],
                                  ["train", "--epochs", "1", "--output-dir", "afile"]])
def test_output_dir_that_is_a_file(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    code, _, err = exit_code(cli.main, argv, capsys)
    assert code == 2
    one_error_line(err, "--output-dir", "afile", "is not a directory")


def test_python_m_egru_output_dir_file_reports_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "egru", "pipeline", "--quick", "--no-lava", "--output-dir",
                           str(tmp_path / "afile")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "is not a directory")


@pytest.mark.parametrize("argv", [["pipeline", "--epochs", "-3"], ["pipeline", "--lr", "nan"], ["no-such-command"],
                                  ["evaluate"], ["prune", "a.h5", "b.h5", "--sparsity", "1.5"]])
def test_usage_errors_are_one_line(argv, capsys):
    from egru.cli import main as egru_main
    with pytest.raises(SystemExit) as info:
        egru_main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("egru: error: "), err
