"""The ``type=`` functions of both command lines (egru._argtypes): nonsense numbers are rejected when parsed,
every typed option uses one of them, booleans, and a file argument that is a directory or unreadable."""

from __future__ import annotations

import argparse

import pytest

from egru import _argtypes, cli, train_lm
from tests.egru._helpers import exit_code, small_network


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
    code, out, err = exit_code(cli.main, argv, capsys)
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


@pytest.mark.parametrize("text, value", [("true", True), ("Yes", True), ("1", True), ("FALSE", False),
                                         ("no", False), ("0", False)])
def test_booleans_accept_true_false_1_0_yes_no(text, value):
    assert train_lm.build_parser().parse_args(["--data", "x", "--tie-weights", text]).tie_weights is value


@pytest.mark.parametrize("command", [["evaluate"], ["prune", "@", "out.h5"], ["lava", "@", "--input", "@"]])
def test_a_directory_as_the_file_says_directory(command, tmp_path, capsys):
    argv = [str(tmp_path) if part == "@" else part for part in command]
    if argv == ["evaluate"]:
        argv.append(str(tmp_path))
    code, _, err = exit_code(cli.main, argv, capsys)
    assert code == 2 and f"is a directory, not a file: {tmp_path}" in err and "no such file" not in err


def test_an_unreadable_file_says_permission(tmp_path, capsys, monkeypatch):
    net = small_network(tmp_path)
    monkeypatch.setattr(_argtypes.os, "access", lambda path, mode: False)   # root ignores chmod
    code, _, err = exit_code(cli.main, ["evaluate", str(net)], capsys)
    assert code == 2 and f"permission denied: cannot read {net}" in err
