"""simulate(): no Lava process outlives a call (also on errors), bad inputs, precision.

Lava runs every Process as an OS process forked from the test process. The
children of the test process are counted before and after each call, by scanning
/proc; multiprocessing's resource tracker (started once by the first shared-memory
use and kept for the interpreter's lifetime by design) is not a Lava process and
is not counted.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest
from egru_format import write_network
from tests.numpy_reference import random_language_model, random_vector_network

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def lava_egru():
    return importlib.import_module("lava_egru")


@pytest.fixture(scope="module")
def vector_net(lava_egru, tmp_path_factory):
    path = tmp_path_factory.mktemp("vector") / "net.h5"
    return lava_egru.EGRUNetwork(write_network(random_vector_network(0, 3, [5]), path))


@pytest.fixture(scope="module")
def token_net(lava_egru, tmp_path_factory):
    path = tmp_path_factory.mktemp("tokens") / "lm.h5"
    return lava_egru.EGRUNetwork(write_network(random_language_model(0, 7, 4, [5]), path))


def lava_children() -> list:
    """Command lines of the live child processes of this process (not the resource tracker)."""
    me, found = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = stat.rsplit(")", 1)[1].split()[1]
        if parent == me and "multiprocessing.resource_tracker" not in cmdline:
            found.append(f"{entry.name}: {cmdline.strip() or stat[:60]}")
    return found


def test_no_process_left_after_a_run(lava_egru, vector_net, token_net):
    before = lava_children()
    lava_egru.simulate(vector_net, np.zeros((5, 3)))
    lava_egru.simulate(token_net, np.array([1, 2, 3]))
    assert lava_children() == before


def test_no_process_left_after_a_failing_process_model(lava_egru, token_net):
    """A ProcessModel that raises mid-run: the error reaches the caller, nothing hangs or stays."""
    from lava_egru.simulation import run_network

    before = lava_children()
    twin = lava_egru.EGRUNetwork(token_net.filename)
    with pytest.raises(RuntimeError, match=r"token id 99 out of range \[0, 7\)"):
        run_network(twin, np.array([[1.0], [99.0], [2.0]]), "floating_pt")  # bypasses the validation
    assert lava_children() == before


def test_no_process_left_after_an_interrupt(lava_egru, vector_net, monkeypatch):
    from lava.proc.io.extractor import Extractor

    def interrupted(self):
        raise KeyboardInterrupt

    before = lava_children()
    monkeypatch.setattr(Extractor, "receive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lava_egru.simulate(vector_net, np.zeros((4, 3)))
    assert lava_children() == before


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (np.zeros((4, 2)), ValueError, r"x must be \[T, 3\].*shape \(4, 2\)"),
        (np.zeros(4), ValueError, r"x must be \[T, 3\].*shape \(4,\)"),
        (np.zeros((2, 4, 3)), ValueError, r"shape \(2, 4, 3\)"),
        (np.array([[0.0, np.nan, 0.0]]), ValueError, r"NaN or Inf \(first at \[t, i\] = \[0, 1\]"),
        (np.array([[0.0, 0.0, np.inf]]), ValueError, "NaN or Inf"),
        (np.array([["a", "b", "c"]]), TypeError, "real numbers"),
        (np.zeros((2, 3), dtype=complex), TypeError, "real numbers"),
        (np.zeros((2, 3), dtype=bool), TypeError, "real numbers"),
    ],
    ids=["width", "1-D", "3-D", "nan", "inf", "strings", "complex", "bool"],
)
def test_bad_vector_input(lava_egru, vector_net, x, error, match):
    with pytest.raises(error, match=match):
        lava_egru.simulate(vector_net, x)


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (np.array([1, 7, 2]), ValueError, r"token id 7 at position 1 is out of range \[0, 7\)"),
        (np.array([-1, 2]), ValueError, r"token id -1 at position 0"),
        (np.array([1.0, 2.0]), TypeError, "integer token ids"),
        (np.array([[1, 2]]), ValueError, r"\[T\] token ids.*shape \(1, 2\)"),
    ],
    ids=["too-large", "negative", "float", "2-D"],
)
def test_bad_token_input(lava_egru, token_net, x, error, match):
    with pytest.raises(error, match=match):
        lava_egru.simulate(token_net, x)


def test_bad_arguments(lava_egru, vector_net):
    with pytest.raises(TypeError, match="EGRUNetwork"):
        lava_egru.simulate("net.h5", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="precision"):
        lava_egru.simulate(vector_net, np.zeros((2, 3)), precision="bit_accurate")
    with pytest.raises(TypeError, match="EGRUNetwork"):
        lava_egru.export(object(), "out.h5")


def test_fixed_point_needs_a_quantized_file(lava_egru, vector_net):
    from egru_format import FormatError

    with pytest.raises(FormatError, match="layer/0/quantization"):
        lava_egru.simulate(vector_net, np.zeros((2, 3)), precision="fixed_pt")


def test_empty_sequence(lava_egru, vector_net, token_net):
    assert lava_egru.simulate(vector_net, np.zeros((0, 3))).shape == (0, 5)
    assert lava_egru.simulate(token_net, np.zeros(0, dtype=int)).shape == (0, 7)


def test_integer_vectors_are_accepted(lava_egru, vector_net):
    x = np.array([[1, 0, -1], [0, 2, 0]])
    np.testing.assert_array_equal(lava_egru.simulate(vector_net, x), lava_egru.simulate(vector_net, x.astype(float)))
