"""Bad input at the command lines (``egru`` and ``python -m egru.train_lm``): one line
``egru: error: ...`` (or argparse's usage error) and exit code 2, never a traceback, and
nothing that makes no sense silently accepted (issue 12)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO_ROOT
from egru import _argtypes, cli, train_lm
from egru_format import EGRULayer, InputLayer, NetworkSpec, write_network
from egru.lm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from egru.lm.data import CorpusError, load_corpus
from egru.lm.trainer import LMConfig

TINY_LM = ["--embedding-size", "4", "--hidden-sizes", "4", "--epochs", "1", "--batch-size", "2", "--bptt", "5",
           "--no-progress", "--no-test"]


def _exit(main, argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def _one_error_line(err: str, *parts: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("egru: error: "), err
    assert "Traceback" not in err
    for part in parts:
        assert part in lines[0], (part, lines[0])


def _corpus(directory: Path, train: bytes = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    words = " ".join(f"w{i % 7}" for i in range(40))
    for split in ("train", "valid", "test"):
        (directory / f"ptb.{split}.txt").write_text((words + "\n") * 5)
    if train is not None:
        (directory / "ptb.train.txt").write_bytes(train)
    return directory


# --------------------------------------------------------------------------- 1. numeric options

@pytest.mark.parametrize("argv, message", [
    (["pipeline", "--quick", "--no-lava", "--epochs", "-3"], "argument --epochs: must be a positive integer"),
    (["pipeline", "--epochs", "0"], "argument --epochs: must be a positive integer"),
    (["pipeline", "--hidden", "0"], "argument --hidden: must be a positive integer"),
    (["pipeline", "--lr", "nan"], "argument --lr: must be a finite number"),
    (["pipeline", "--lr", "inf"], "argument --lr: must be a finite number"),
    (["pipeline", "--lr", "0"], "argument --lr: must be a finite number > 0"),
    (["pipeline", "--lr", "fast"], "argument --lr: not a number"),
    (["pipeline", "--seed", "-1"], "argument --seed: must be a non-negative integer"),
    (["pipeline", "--sparsity", "nan"], "argument --sparsity: must be a finite number"),
    (["pipeline", "--sparsity", "1"], "argument --sparsity: must be in [0, 1)"),
    (["pipeline", "--lava-images", "-1"], "argument --lava-images: must be a non-negative integer"),
    (["pipeline", "--lava-tokens", "1"], "argument --lava-tokens: must be an integer >= 2"),
    (["pipeline", "--train-tokens", "0"], "argument --train-tokens: must be an integer >= 2"),
    (["train", "--epochs", "0"], "argument --epochs: must be a positive integer"),
    (["train", "--hidden", "-4"], "argument --hidden: must be a positive integer"),
    (["train", "--seed", "1.5"], "argument --seed: not an integer"),
    (["evaluate", "net.h5", "--limit", "-5"], "argument --limit: must be a non-negative integer"),
    (["evaluate", "net.h5", "--seed", "-2"], "argument --seed: must be a non-negative integer"),
    (["prune", "net.h5", "out.h5", "--sparsity", "-0.1"], "argument --sparsity: must be in [0, 1)"),
])
def test_nonsense_numbers_are_rejected_when_parsed(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.h5").write_bytes(b"")
    code, out, err = _exit(cli.main, argv, capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert out == ""                                # nothing ran


ARGTYPES = {value for name, value in vars(_argtypes).items() if callable(value) and name in _argtypes.__all__}


def _actions(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
        else:
            yield action


@pytest.mark.parametrize("parser", [cli.build_parser(), train_lm.build_parser()], ids=["egru", "train_lm"])
def test_every_typed_option_uses_a_checked_type(parser):
    """No bare int/float: every option that converts its value uses one of egru._argtypes."""
    typed = [a for a in _actions(parser) if a.type is not None and a.type is not str]
    assert typed
    for action in typed:
        assert action.type in ARGTYPES, (action.option_strings or action.dest, action.type)


def test_every_numeric_trainer_field_has_an_explicit_type():
    for field in fields(LMConfig):
        value = field.default
        if isinstance(value, (tuple, list)):
            value = value[0]
        if value is None or isinstance(value, (bool, int, float)):
            assert field.name in train_lm.FLAG_TYPES, field.name


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "argument --epochs: must be a positive integer"),
    (["--lr", "nan"], "argument --lr: must be a finite number"),
    (["--lr=-1e-3"], "argument --lr: must be a finite number > 0"),
    (["--dropout-embedding", "1.0"], "argument --dropout-embedding: must be in [0, 1)"),
    (["--dropconnect", "-0.1"], "argument --dropconnect: must be in [0, 1)"),
    (["--prune-sparsity", "1"], "argument --prune-sparsity: must be in [0, 1)"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer"),
    (["--hidden-sizes", "16", "0"], "argument --hidden-sizes: must be a positive integer"),
    (["--clip", "-1"], "argument --clip: must be a finite number >= 0"),
    (["--weight-decay", "inf"], "argument --weight-decay: must be a finite number"),
    (["--cosine-fraction", "1.5"], "argument --cosine-fraction: must be in [0, 1]"),
    (["--betas", "0.9"], "argument --betas: expected 2 arguments"),
    (["--betas", "0.9", "1.0"], "argument --betas: must be in [0, 1)"),
    (["--max-train-tokens", "1"], "argument --max-train-tokens: must be an integer >= 2"),
    (["--checkpoint-every", "-1"], "argument --checkpoint-every: must be a non-negative integer"),
    (["--seed", "-1"], "argument --seed: must be a non-negative integer"),
    (["--threshold", "0"], "argument --threshold: must be a finite number > 0"),
    (["--tie-weights", "on"], "argument --tie-weights: expected true or false"),
    (["--random-bptt", "maybe"], "argument --random-bptt: expected true or false"),
])
def test_trainer_rejects_nonsense_values(argv, message, capsys):
    code, _, err = _exit(train_lm.main, ["--data", "x", *argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("text, value", [("true", True), ("Yes", True), ("1", True), ("FALSE", False),
                                         ("no", False), ("0", False)])
def test_booleans_accept_true_false_1_0_yes_no(text, value):
    assert train_lm.build_parser().parse_args(["--data", "x", "--tie-weights", text]).tie_weights is value


# --------------------------------------------------------------------------- 2. tracebacks for user errors

@pytest.mark.parametrize("argv", [["pipeline", "--quick", "--no-lava", "--output-dir", "afile"],
                                  ["pipeline", "--quick", "--no-lava", "--output-dir", "afile/sub"],
                                  ["train", "--epochs", "1", "--output-dir", "afile"]])
def test_output_dir_that_is_a_file(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    code, _, err = _exit(cli.main, argv, capsys)
    assert code == 2
    _one_error_line(err, "--output-dir", "afile", "is not a directory")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_checkpoint_is_one_error_line_naming_it(damage, tmp_path, capsys):
    data, out = _corpus(tmp_path / "corpus"), tmp_path / "run"
    out.mkdir()
    checkpoint = out / "checkpoint.pt"
    if damage == "garbage":
        checkpoint.write_bytes(b"\x80\x02not a checkpoint" * 10)
    else:
        save_checkpoint(checkpoint, {"config": {}, "weights": torch.randn(200)})
        checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=str(checkpoint)):
        load_checkpoint(checkpoint)
    code, _, err = _exit(train_lm.main, ["--data", str(data), "--output-dir", str(out), "--resume", *TINY_LM],
                         capsys)
    assert code == 2
    _one_error_line(err, "cannot load the checkpoint", str(checkpoint))


def test_load_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_checkpoint(tmp_path)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_checkpoint(tmp_path / "list.pt")


BAD_UTF8 = b"w1 w2 w3\nw4 w5\nw6 \xff\xfe w7\nw8\n"


def test_a_non_utf8_corpus_names_the_file_and_line(tmp_path):
    data = _corpus(tmp_path / "corpus", BAD_UTF8)
    with pytest.raises(CorpusError, match=r"ptb\.train\.txt: line 3: not valid UTF-8 \(byte 0xff at column 4\)"):
        load_corpus(data)


@pytest.mark.parametrize("entry", ["train_lm", "egru train", "egru pipeline"])
def test_a_non_utf8_corpus_through_every_entry_point(entry, tmp_path, capsys):
    data = _corpus(tmp_path / "corpus", BAD_UTF8)
    if entry == "train_lm":
        main, argv = train_lm.main, ["--data", str(data), *TINY_LM]
    elif entry == "egru train":
        main, argv = cli.main, ["train", "--task", "lm", "--data", str(data), "--", *TINY_LM]
    else:
        main, argv = cli.main, ["pipeline", "--task", "lm", "--quick", "--no-lava", "--data", str(data),
                                "--output-dir", str(tmp_path / "out")]
    code, _, err = _exit(main, argv, capsys)
    assert code == 2
    _one_error_line(err, str(data / "ptb.train.txt"), "line 3", "not valid UTF-8")


def test_python_m_egru_train_lm_reports_one_line(tmp_path):
    data = _corpus(tmp_path / "corpus", BAD_UTF8)
    proc = subprocess.run([sys.executable, "-m", "egru.train_lm", "--data", str(data), *TINY_LM], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    _one_error_line(proc.stderr, "line 3")


def test_python_m_egru_output_dir_file_reports_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "egru", "pipeline", "--quick", "--no-lava", "--output-dir",
                           str(tmp_path / "afile")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    _one_error_line(proc.stderr, "is not a directory")


# --------------------------------------------------------------------------- 3. messages that mislead

def _network(tmp_path, name="net.h5"):
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    spec = NetworkSpec([InputLayer(3), EGRULayer(f32(12, 3), f32(12, 4), f32(12), f32(12),
                                                 np.full(4, 0.1, np.float32))], {"class": "EGRU"})
    return write_network(spec, tmp_path / name)


@pytest.mark.parametrize("command", [["evaluate"], ["prune", "@", "out.h5"], ["lava", "@", "--input", "@"]])
def test_a_directory_as_the_file_says_directory(command, tmp_path, capsys):
    argv = [str(tmp_path) if part == "@" else part for part in command]
    if argv == ["evaluate"]:
        argv.append(str(tmp_path))
    code, _, err = _exit(cli.main, argv, capsys)
    assert code == 2 and f"is a directory, not a file: {tmp_path}" in err and "no such file" not in err


def test_an_unreadable_file_says_permission(tmp_path, capsys, monkeypatch):
    net = _network(tmp_path)
    monkeypatch.setattr(_argtypes.os, "access", lambda path, mode: False)   # root ignores chmod
    code, _, err = _exit(cli.main, ["evaluate", str(net)], capsys)
    assert code == 2 and f"permission denied: cannot read {net}" in err


def test_writing_into_a_directory_names_the_target(tmp_path, capsys):
    net = _network(tmp_path)
    (tmp_path / "adir").mkdir()
    code, _, err = _exit(cli.main, ["prune", str(net), str(tmp_path / "adir")], capsys)
    assert code == 2
    _one_error_line(err, f"cannot write {tmp_path / 'adir'}: it is a directory")
    assert ".tmp" not in err


def test_evaluate_on_a_file_that_is_not_a_digits_classifier_names_the_file(tmp_path, capsys):
    net = _network(tmp_path)
    code, _, err = _exit(cli.main, ["evaluate", str(net)], capsys)
    assert code == 2
    _one_error_line(err, str(net), "not a digits classifier")
    assert "<NetworkSpec>" not in err


def test_evaluate_fixed_point_with_the_torch_backend_is_an_error(tmp_path, capsys):
    net = _network(tmp_path)
    code, _, err = _exit(cli.main, ["evaluate", str(net), "--precision", "fixed_pt"], capsys)
    assert code == 2
    _one_error_line(err, "--precision fixed_pt needs --backend lava")


# --------------------------------------------------------------------------- 4. --resume

def test_resume_without_a_checkpoint_is_an_error(tmp_path, capsys):
    data = _corpus(tmp_path / "corpus")
    code, out, err = _exit(train_lm.main, ["--data", str(data), "--output-dir", str(tmp_path / "run"), "--resume",
                                           *TINY_LM], capsys)
    assert code == 2 and out == ""
    _one_error_line(err, "--resume: no checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--resume-if-exists")
    code, _, err = _exit(train_lm.main, ["--data", str(data), "--resume", *TINY_LM], capsys)
    assert code == 2
    _one_error_line(err, "--resume needs --output-dir")


def test_resume_if_exists_starts_from_scratch_without_a_checkpoint(tmp_path, capsys):
    data = _corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    assert train_lm.main(["--data", str(data), "--output-dir", str(run), "--resume-if-exists", "--max-steps", "1",
                          *TINY_LM]) == 0
    assert (run / "model.pt").is_file()
    code, _, err = _exit(train_lm.main, ["--data", str(data), "--resume", "--resume-if-exists", *TINY_LM], capsys)
    assert code == 2 and "not allowed with argument" in err


def test_resume_with_other_settings_or_a_foreign_checkpoint_is_one_error_line(tmp_path, capsys):
    data, run = _corpus(tmp_path / "corpus"), tmp_path / "run"
    assert train_lm.main(["--data", str(data), "--output-dir", str(run), "--max-steps", "1", "--checkpoint-every",
                          "1", *TINY_LM]) == 0
    checkpoint = run / "checkpoint.pt"
    assert checkpoint.is_file()
    code, _, err = _exit(train_lm.main, ["--data", str(data), "--output-dir", str(run), "--resume", "--lr", "0.5",
                                         *TINY_LM], capsys)
    assert code == 2
    _one_error_line(err, "cannot resume", str(checkpoint), "settings differ", "lr")
    save_checkpoint(checkpoint, {"config": {}, "weights": torch.zeros(3)})  # a dict, but not this trainer's
    code, _, err = _exit(train_lm.main, ["--data", str(data), "--output-dir", str(run), "--resume", *TINY_LM], capsys)
    assert code == 2
    _one_error_line(err, str(checkpoint), "not a training checkpoint", "model")


def test_every_trainer_option_has_a_help_text():
    for action in train_lm.build_parser()._actions:
        assert action.help, action.dest


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


def test_trainer_usage_errors_are_one_line(capsys):
    from egru.train_lm import main as train_main
    with pytest.raises(SystemExit) as info:
        train_main(["--data", "x", "--lr", "nan"])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("egru: error: argument --lr"), lines


def test_exporting_a_signed_event_model_is_one_line_and_writes_nothing(tmp_path, capsys):
    from snntorch_egru import EGRULanguageModel

    saved = tmp_path / "signed.pt"
    torch.save(EGRULanguageModel(20, 6, [8, 6], tie_weights=True, polarity="signed"), saved)
    code, _, err = _exit(cli.main, ["export", str(saved), str(tmp_path / "out.h5")], capsys)
    assert code == 2
    _one_error_line(err, "not implemented", "polarity='signed'", "network file format")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signed.pt"]
