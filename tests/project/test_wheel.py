"""The wheel works on its own: built from pyproject.toml, installed into a fresh virtual
environment (no editable install, the repository not on ``sys.path``), used from an
unrelated folder.

The fresh environment gets the package from the wheel only. Its third-party
dependencies (torch, snntorch, h5py, Lava in the lava leg...) are borrowed from the
running interpreter's site-packages through a ``.pth`` line, so nothing is downloaded;
a ``.pth`` line adds that folder to ``sys.path`` without running the ``.pth`` files in it,
so the editable install of the repository that lives there stays inactive. Every test
checks that the modules it used were loaded from the fresh environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import MODERN_LEG, REPO_ROOT, current_leg

PACKAGES = ("egru_format", "snntorch_egru", "lava_egru", "converters", "egru")
pytestmark = pytest.mark.slow


def _run(args, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, egru script, clean environment, work folder) of a fresh venv holding the wheel."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    # Build from a clean copy of the sources: setuptools reuses a build/ folder in the tree it
    # builds, which would carry files deleted since into the wheel.
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "outputs", "*.egg-info", "__pycache__", ".pytest_cache"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
          "-q", "-w", str(dist), str(source)], cwd=root)
    wheels = sorted(dist.glob("egru-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        names = archive.namelist()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, f"the wheel lacks {package}"
    assert "snntorch_egru/event_step.c" in names, "the wheel lacks the event-driven C kernel"
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=root).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # The fresh interpreter runs the borrowed pip; --ignore-installed so that it neither sees nor
    # touches the repository's editable install, and writes the console script with its own shebang.
    _run([str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps", "--no-index",
          "--ignore-installed", "--no-warn-script-location", str(wheels[0])], cwd=root, env=env)
    work = root / "elsewhere"
    work.mkdir()
    egru = env_dir / "bin" / "egru"
    assert egru.is_file(), "the wheel installed no egru console script"
    assert egru.read_text().startswith(f"#!{python}"), egru.read_text()[:200]
    return python, egru, env, work, site


def test_every_module_imports_from_the_wheel(installed):
    """Every module of every package (Lava's only in the lava leg) imports from the installed wheel."""
    python, _, env, work, site = installed
    packages = [p for p in PACKAGES if not (p == "lava_egru" and current_leg() == MODERN_LEG)]
    code = ("import importlib, pkgutil, sys\n"
            f"repo = {str(REPO_ROOT)!r}\n"
            "assert not any(p and p.rstrip('/') == repo for p in sys.path), sys.path\n"
            f"for name in {packages!r}:\n"
            "    package = importlib.import_module(name)\n"
            "    print(name, package.__file__)\n"
            "    for info in pkgutil.walk_packages(package.__path__, name + '.'):\n"
            "        if info.name.endswith('__main__'):\n"
            "            continue\n"
            "        module = importlib.import_module(info.name)\n"
            "        print(info.name, module.__file__)\n")
    out = _run([str(python), "-c", code], cwd=work, env=env).stdout.split("\n")
    files = dict(line.split(" ", 1) for line in out if line)
    assert set(packages) <= set(files)
    assert len(files) > 3 * len(packages), sorted(files)        # the submodules were walked too
    for expected in ("egru_format.io", "snntorch_egru.quantization.calibration.solve", "egru.train_lm",
                     "egru.pipelines.run", "converters.snntorch_bridge"):
        assert expected in files, expected
    for name, path in files.items():
        assert path.startswith(str(site)), f"{name} was imported from {path}, not from the wheel"


def test_event_kernel_is_read_from_the_wheel(installed):
    python, _, env, work, site = installed
    code = ("from importlib import resources\n"
            "from snntorch_egru.event_inference import kernel_source_text\n"
            "path = resources.files('snntorch_egru') / 'event_step.c'\n"
            "print(path)\n"
            "assert kernel_source_text() == path.read_text()\n")
    out = _run([str(python), "-c", code], cwd=work, env=env).stdout.strip()
    assert out.startswith(str(site)), out


def test_benchmark_command_says_it_needs_a_source_checkout(installed):
    _, egru, env, work, _ = installed
    result = subprocess.run([str(egru), "benchmark", "--list"], cwd=work, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("egru: error: ") and "source checkout" in lines[0], lines


def test_egru_help_from_the_wheel(installed):
    _, egru, env, work, _ = installed
    result = _run([str(egru), "--help"], cwd=work, env=env)
    assert "pipeline" in result.stdout and "usage: egru" in result.stdout


def test_quick_pipeline_from_the_wheel(installed):
    python, egru, env, work, site = installed
    result = _run([str(egru), "pipeline", "--quick", "--no-lava", "--output-dir", str(work / "out")],
                  cwd=work, env=env, timeout=900)
    assert (work / "out" / "report.json").is_file(), result.stdout
    assert "accuracy" in result.stdout.lower()
