"""Each test leg is what it claims to be, and conftest's leg policy holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LEG = os.environ.get("EGRU_TEST_LEG") or None
TORCH_SPEC = os.environ.get("EGRU_TORCH_SPEC_VERSION", "2.13.0")


def test_leg_name_is_known() -> None:
    assert LEG in (None, "modern", "lava"), f"unknown EGRU_TEST_LEG={LEG!r}"


def test_stack_matches_the_leg() -> None:
    """modern: Python >= 3.11, numpy 2, the requested torch; lava (or unset): Python 3.10, numpy 1."""
    import numpy
    import snntorch  # noqa: F401
    import torch

    numpy_major = int(numpy.__version__.split(".")[0])
    if LEG == "modern":
        assert sys.version_info[:2] >= (3, 11), sys.version
        assert numpy_major >= 2, numpy.__version__
        major_minor = ".".join(TORCH_SPEC.split(".")[:2])  # "2.13" by default
        assert torch.__version__.startswith(major_minor + "."), (torch.__version__, TORCH_SPEC)
    else:
        assert sys.version_info[:2] == (3, 10), sys.version
        assert numpy_major < 2, numpy.__version__
        assert torch.__version__.startswith("2.3."), torch.__version__


@pytest.mark.lava
def test_lava_stack() -> None:
    import lava.lib.dl.netx
    import lava.magma  # noqa: F401
    import numpy

    assert sys.version_info[:2] == (3, 10), sys.version
    assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__


# --- conftest's policy for @pytest.mark.lava, checked in a child pytest ----------


def _lava_importable() -> bool:
    try:
        import lava.lib.dl.netx
        import lava.magma  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("leg", ["modern", "lava", None])
def test_conftest_lava_policy(tmp_path: Path, leg: str | None) -> None:
    """modern: lava tests skip; lava or unset: a missing Lava is an error."""
    shutil.copy(REPO_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    lava: needs Lava\n")
    (tmp_path / "test_child.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.lava
            def test_needs_lava():
                pass
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "EGRU_TEST_LEG"}
    if leg is not None:
        env["EGRU_TEST_LEG"] = leg
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-rs",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    if leg == "modern":
        assert proc.returncode == 0, out
        assert (
            "1 skipped" in out and "Lava needs Python 3.10 with lava-nc 0.10.0" in out
        ), out
    elif _lava_importable():
        assert proc.returncode == 0 and "1 passed" in out, out
    else:
        assert proc.returncode == 1, out
        assert "1 error" in out and "importing it failed" in out, out
