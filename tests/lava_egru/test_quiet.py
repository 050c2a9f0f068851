"""Importing lava_egru and simulating print nothing.

lava_egru imports neither lava-dl nor torch (whose imports print notices: slayer's
"Prophesee Dataset Toolbox could not be found", torch's "No CUDA runtime is found"),
so nothing is printed and nothing needs filtering; the check runs in a fresh
interpreter, where the imports really happen.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.lava


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
