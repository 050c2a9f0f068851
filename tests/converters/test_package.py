"""The package converters as a whole: importing it (or the format) imports neither torch nor Lava, and it
offers the names of the format and of both bridges."""

from __future__ import annotations

import subprocess
import sys

import converters
from egru_format import FormatError
from tests.conftest import REPO_ROOT


def test_importing_converters_does_not_import_torch_or_lava():
    code = ("import sys, converters, egru_format; "
            "bad = [m for m in ('torch', 'lava', 'lava_egru', 'snntorch', 'snntorch_egru') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_public_names():
    for name in ("FormatError", "NetworkSpec", "InputLayer", "DenseLayer", "EGRULayer", "read_network",
                 "write_network", "FORMAT_VERSION", "export", "load_snntorch", "load_lava"):
        assert hasattr(converters, name), name
    assert issubclass(FormatError, ValueError)
