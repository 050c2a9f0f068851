"""Importing lava_egru and simulating print nothing: lava-dl's import notices are dropped, nothing else.

lava-dl's netx import prints (with ``print``, not ``warnings``) a notice about the
Prophesee dataset toolbox (slayer's object-detection datasets) and, on a machine
with a CUDA toolkit but no CUDA runtime, torch's "No CUDA runtime is found".
:mod:`lava_egru.proc.network.process` drops exactly those lines around that
import; the check runs in a fresh interpreter, where the import really happens.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lava

REPO_ROOT = Path(__file__).resolve().parents[2]

QUIET_RUN = """
import numpy as np
import lava_egru
from egru_format import EGRULayer, InputLayer, NetworkSpec
rng = np.random.default_rng(0)
layer = EGRULayer(rng.standard_normal((6, 2)).astype(np.float32), rng.standard_normal((6, 2)).astype(np.float32),
                  None, None, np.full(2, 0.1, np.float32))
y = lava_egru.simulate(lava_egru.EGRUNetwork(NetworkSpec([InputLayer(2), layer])), rng.standard_normal((3, 2)))
assert y.shape == (3, 2)
"""


def test_import_and_simulate_print_nothing():
    proc = subprocess.run([sys.executable, "-c", QUIET_RUN], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""
    assert proc.stderr == ""


def test_only_the_known_notices_are_dropped():
    from lava_egru.proc.network.process import NETX_IMPORT_NOTICES

    prophesee = ("WARNING: Prophesee Dataset Toolbox could not be found!\n"
                 "         Only Prophesee DVS demo will not run properly.\n"
                 "         Please install it from https://github.com/prophesee-ai/prophesee-automotive-dataset-toolbox\n")
    cuda = "No CUDA runtime is found, using CUDA_HOME='/usr/local'\n"
    other = "WARNING: something else\nUserWarning: keep me\n"
    assert NETX_IMPORT_NOTICES.sub("", prophesee + other + cuda) == other
    assert NETX_IMPORT_NOTICES.sub("", "WARNING: Prophesee Dataset Toolbox could not be found!\n") != ""
    assert NETX_IMPORT_NOTICES.sub("", "Traceback: No CUDA runtime is found, using CUDA_HOME='/x'\n") != ""


def test_output_of_a_failing_import_is_passed_on(monkeypatch, capsys):
    import builtins

    from lava_egru.proc.network import process

    real_import = builtins.__import__

    def noisy_failing_import(name, *args, **kwargs):
        if name == "lava.lib.dl.netx":
            print("No CUDA runtime is found, using CUDA_HOME='/usr/local'", file=sys.stderr)
            print("a real problem", file=sys.stderr)
            raise ImportError("netx is broken")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", noisy_failing_import)
    with pytest.raises(ImportError, match="netx is broken"):
        process._import_netx_hdf5()
    assert capsys.readouterr().err == "a real problem\n"
