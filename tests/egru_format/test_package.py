"""The package egru_format as a whole: it imports numpy, h5py and the standard library only, and the docstring
examples of its modules run."""

from __future__ import annotations

import ast
import doctest
import sys

import pytest

import converters.format
import egru_format
import egru_format.arithmetic
import egru_format as fmt
from tests.conftest import REPO_ROOT


def test_format_imports_only_numpy_h5py_and_stdlib():
    tops = set()
    nodes = [node for path in sorted((REPO_ROOT / "egru_format").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))]
    assert nodes
    for node in nodes:
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            tops.add(node.module.split(".")[0])
    third_party = tops - set(sys.stdlib_module_names)
    assert third_party <= {"numpy", "h5py"}, third_party


@pytest.mark.parametrize("module", [fmt, egru_format.constants, egru_format.errors, egru_format.csr, egru_format.integer, egru_format.spec, egru_format.fixed_point, egru_format.validation, egru_format.arithmetic, egru_format.io, converters.format], ids=lambda m: m.__name__)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
