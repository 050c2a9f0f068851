"""Every docstring example in snntorch_egru runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import snntorch_egru

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(snntorch_egru.__path__, prefix="snntorch_egru.")
)


@pytest.mark.parametrize("module_name", ["snntorch_egru", *MODULES])
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
