"""Test-leg handling, shared fixtures and seeding.

The suite runs in two legs (see scripts/test.sh), told apart by EGRU_TEST_LEG:

* ``modern``: Python >= 3.11, numpy 2, torch 2.13, no Lava. Tests marked
  ``@pytest.mark.lava`` are skipped there.
* ``lava`` (or unset): the full stack on Python 3.10. A test marked
  ``@pytest.mark.lava`` whose Lava imports fail is an error, never a skip.

Layout: the folders mirror the source, ``tests/<package>/test_<module>.py``
(``egru_format/``, ``snntorch_egru/`` with ``quantization/``, ``lava_egru/``,
``converters/``, ``egru/`` with ``cli/`` (one file a command), ``lm/`` and ``pipelines/``);
``benchmarks/`` tests the scripts of ``benchmarks/``, ``project/`` the repository itself
(README and documentation pages, tutorials, the wheel, the environments); the
architecture checks sit at the top.

Imports: ``tests`` and every folder in it are packages (an ``__init__.py`` each), so
pytest's default ``prepend`` import mode imports ``tests/egru/cli/test_main.py`` as
``tests.egru.cli.test_main``, with the repository root on ``sys.path``: files of the same
name in two folders do not collide, and ``tests/`` itself is never on ``sys.path``, where
its folders would hide the packages they are named after (``tests/egru`` vs ``egru``).
Helpers are imported by their full name (``from tests.conftest import REPO_ROOT``,
``from tests.reference import rollout``, ``from tests.egru._helpers import exit_code``);
helpers of one folder live in its ``_helpers.py``, fixtures of one folder in its
``conftest.py``.
"""

from __future__ import annotations

import functools
import os
import random
import signal
from pathlib import Path

import pytest

LEG_ENV = "EGRU_TEST_LEG"
MODERN_LEG = "modern"
LAVA_SKIP_REASON = (
    "Lava needs Python 3.10 with lava-nc 0.10.0; this is the modern-stack leg "
    "(Python 3.11, numpy 2) which runs every test that does not need Lava"
)
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = Path(__file__).parents[1].parent / "shared" / "data"


def sigint_default_in_child() -> None:
    """``preexec_fn`` of a child process that a test interrupts with SIGINT: Python's default
    handling (``KeyboardInterrupt``) in the child, also when the test run was started in the
    background (``nohup ... &``), which leaves SIGINT ignored in every process it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def current_leg() -> str | None:
    """The leg this run claims to be (EGRU_TEST_LEG), or None when unset."""
    return os.environ.get(LEG_ENV) or None


@functools.cache
def lava_import_error() -> str | None:
    """None if the Lava stack imports, else a message naming the import error.

    Computed once per session: the imports take a few seconds.
    """
    try:
        import lava.lib.dl.netx
        import lava.magma  # noqa: F401
    except Exception as exc:  # noqa: BLE001  # a broken install may raise anything
        return f"{type(exc).__name__}: {exc}"
    return None


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if current_leg() != MODERN_LEG:
        return
    skip_lava = pytest.mark.skip(reason=LAVA_SKIP_REASON)
    for item in items:
        if item.get_closest_marker("lava") is not None:
            item.add_marker(skip_lava)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lava") is None or current_leg() == MODERN_LEG:
        return
    error = lava_import_error()
    if error is not None:
        leg = current_leg() or "unset"
        pytest.fail(
            f"this test needs the Lava stack (import lava.magma, lava.lib.dl.netx) but "
            f"importing it failed: {error}. {LEG_ENV}={leg}: outside the modern leg a "
            f"missing Lava is an error, not a skip; run the tests with "
            f"`bash scripts/test.sh` (which uses .venv/lava) or set {LEG_ENV}=modern.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The corpora directory ../shared/data beside the repo (or $EGRU_DATA_DIR)."""
    override = os.environ.get("EGRU_DATA_DIR")
    path = Path(override) if override else DEFAULT_DATA_DIR
    if not path.is_dir():
        source = (
            "EGRU_DATA_DIR"
            if override
            else "the default ../shared/data beside the repo"
        )
        pytest.skip(f"corpus directory {path} ({source}) does not exist")
    return path


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Seed torch, numpy and random before each test, for reproducible tests."""
    random.seed(0)
    import numpy

    numpy.random.seed(0)
    import torch  # lazily: importing torch takes a while

    torch.manual_seed(0)


#: The size of the file system :func:`small_disk` mounts: room for small files, not for a network file.
SMALL_DISK_SIZE = "64k"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A folder on a fresh tmpfs of :data:`SMALL_DISK_SIZE` (``mount -t tmpfs -o size=64k``): a disk that
    fills up. Unmounted afterwards; skipped, with the reason, where mounting is not permitted."""
    import shutil
    import subprocess
    import sys

    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("a full disk is simulated with a Linux tmpfs mount, not available here")
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK_SIZE}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a {SMALL_DISK_SIZE} tmpfs is not permitted here (it needs root): "
                    f"{mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True)


def fill_disk(directory: Path, leave: int = 0) -> Path:
    """Fill the file system of ``directory`` (a :func:`small_disk`) with a file ``filler``, leaving ``leave``
    bytes free (rounded to the file system's pages); return the filler."""
    filler = Path(directory) / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
