"""Every docstring example in snntorch_egru runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import snntorch_egru

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(snntorch_egru.__path__, prefix="snntorch_egru.")
)

#: Modules whose docstrings carry the maths and a runnable example: the walk above must find them.
DOCUMENTED = [
    "snntorch_egru.functional", "snntorch_egru.opcount", "snntorch_egru.event_inference",
    "snntorch_egru.quantization", "snntorch_egru.quantization.formats", "snntorch_egru.quantization.primitives",
    "snntorch_egru.quantization.layout", "snntorch_egru.quantization.integer", "snntorch_egru.quantization.models",
    "snntorch_egru.quantization.calibration", "snntorch_egru.quantization.calibration.observe",
    "snntorch_egru.quantization.calibration.constrain", "snntorch_egru.quantization.calibration.solve",
    "snntorch_egru.quantization.qat",
]


def test_documented_modules_are_run():
    assert set(DOCUMENTED) <= set(MODULES)


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_documented_modules_have_examples(module_name):
    module = importlib.import_module(module_name)
    examples = sum(len(test.examples) for test in doctest.DocTestFinder().find(module))
    assert examples, f"{module_name} has no docstring example"


@pytest.mark.parametrize("module_name", ["snntorch_egru", *MODULES])
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
