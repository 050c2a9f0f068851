"""Importing lava_egru, its Processes and models leaves torch and lava-dl out.

Lava's model discovery imports every module in a Process's folder in its worker
processes, and Python runs ``lava_egru/__init__.py`` before any submodule: no module of
lava_egru (nor the Lava half of the converters) imports torch or lava-dl, so the package
``__init__`` imports its names plainly. Each import runs in a fresh interpreter, where it
really happens.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.lava

HEAVY = ("torch", "lava.lib.dl", "lava.lib.dl.netx", "lava.lib.dl.slayer")
LIGHT_MODULES = (["lava_egru", "lava_egru.simulation", "lava_egru.exchange", "lava_egru.lifecycle",
                  "converters.lava_bridge"]
                 + [f"lava_egru.proc.{family}.{kind}"
                    for family in ("egru", "identity", "one_hot", "blocks", "network")
                    for kind in ("models", "process")])

CHECK = """
import importlib, sys
module = importlib.import_module({module!r})
assert module.__name__ == {module!r}
heavy = [name for name in {heavy!r} if name in sys.modules]
assert not heavy, heavy
print("ok")
"""


def run_fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_import_leaves_torch_and_lava_dl_out(module):
    proc = run_fresh(CHECK.format(module=module, heavy=HEAVY))
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr[-3000:]


def test_package_names_are_plain_imports():
    code = """
import sys
import lava_egru
assert 'torch' not in sys.modules and 'lava.lib.dl' not in sys.modules
assert not hasattr(lava_egru, '__getattr__')
assert set(lava_egru.__all__) <= set(vars(lava_egru)), set(lava_egru.__all__) - set(vars(lava_egru))
from lava_egru.proc.egru.process import EGRUNeuron
from lava_egru.proc.network.process import EGRUNetwork
from lava_egru.simulation import SimulationResult, simulate
from lava_egru.exchange import export, network_spec
assert (lava_egru.EGRUNeuron, lava_egru.EGRUNetwork, lava_egru.simulate, lava_egru.SimulationResult,
        lava_egru.export, lava_egru.network_spec) == (EGRUNeuron, EGRUNetwork, simulate, SimulationResult, export,
                                                      network_spec)
namespace = {}
exec('from lava_egru import *', namespace)
assert set(lava_egru.__all__) <= set(namespace)
try:
    lava_egru.no_such_name
except AttributeError as exc:
    assert 'no_such_name' in str(exc)
else:
    raise AssertionError('no AttributeError')
print('ok')
"""
    proc = run_fresh(code)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr[-3000:]

