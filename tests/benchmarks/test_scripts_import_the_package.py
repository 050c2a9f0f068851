"""The benchmark scripts import the installed packages as a user's script would: none edits ``sys.path``."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "benchmarks").glob("*.py"))


def test_there_are_scripts():
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_script_edits_sys_path(script):
    tree = ast.parse(script.read_text(), filename=str(script))
    uses = [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "path"
            and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    assert uses == [], f"{script.name} touches sys.path at line(s) {uses}"
