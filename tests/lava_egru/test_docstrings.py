"""Every docstring example in lava_egru (and converters.lava_bridge) runs and prints what it shows.

The examples run small networks on Lava's CPU backend and stop their runtimes.
"""

import doctest
import importlib
import pkgutil

import pytest

pytestmark = pytest.mark.lava

MODULES = [
    "lava_egru",
    "lava_egru.exchange",
    "lava_egru.simulation",
    "lava_egru.lifecycle",
    "lava_egru.proc",
    "lava_egru.proc.abstract_models",
    "lava_egru.proc.checks",
    "lava_egru.proc.egru.process",
    "lava_egru.proc.egru.models",
    "lava_egru.proc.identity.process",
    "lava_egru.proc.identity.models",
    "lava_egru.proc.one_hot.process",
    "lava_egru.proc.one_hot.models",
    "egru_format.integer",
    "lava_egru.proc.blocks.process",
    "lava_egru.proc.blocks.models",
    "lava_egru.proc.network.process",
    "lava_egru.proc.network.models",
    "converters.lava_bridge",
]


def test_module_list_is_complete():
    package = importlib.import_module("lava_egru")
    found = {name for _, name, is_package in pkgutil.walk_packages(package.__path__, prefix="lava_egru.")
             if not is_package}
    assert found <= set(MODULES), f"add to MODULES: {sorted(found - set(MODULES))}"


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
