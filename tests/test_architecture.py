"""Static checks of the import rules between the three packages.

* ``snntorch_egru`` never imports ``lava_egru`` or ``lava``;
* ``lava_egru`` never imports ``snntorch_egru``, ``torch`` or ``snntorch``;
* so only ``converters`` (the format is the hub) may import both sides.

The sources are parsed with ``ast``; nothing is imported or executed. Every
``.py`` file under each package is read, and every import counts: at module
level, inside functions, under ``try`` or ``if TYPE_CHECKING``, relative
imports, and ``importlib.import_module("...")`` / ``__import__("...")`` calls
with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# package -> {forbidden top-level module: why}
RULES: dict[str, dict[str, str]] = {
    "snntorch_egru": {
        "lava_egru": "the snnTorch side never imports the Lava side",
        "lava": "the snnTorch side never imports Lava",
    },
    "lava_egru": {
        "snntorch_egru": "the Lava side never imports the snnTorch side",
        "torch": "Lava modules never import torch",
        "snntorch": "Lava modules never import snntorch",
    },
}


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    """Dotted module name of ``path`` under ``root`` and whether it is a package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def imported_names(
    source: str, module: str, is_package: bool, filename: str = "<src>"
) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything ``source`` imports."""
    tree = ast.parse(source, filename=filename)
    package_parts = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module.split(".") if node.module else []
            else:
                # A relative import climbing past the top-level package is an
                # error at run time; resolve it as if from the repo root, so
                # `from .. import lava_egru` still names lava_egru.
                up = node.level - 1
                base = package_parts[: max(len(package_parts) - up, 0)]
                if node.module:
                    base = base + node.module.split(".")
            if base:
                found.append((node.lineno, ".".join(base)))
            for alias in node.names:
                if alias.name != "*":
                    found.append((node.lineno, ".".join(base + [alias.name])))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else getattr(func, "id", None)
            )
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                found.append((node.lineno, first.value))
    return found


def find_violations(root: Path, package: str) -> tuple[list[str], int]:
    """Messages for every forbidden import under ``root/package``, and the number of files read."""
    rules = RULES[package]
    files = sorted(
        p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts
    )
    violations = []
    for path in files:
        module, is_package = _module_name(root, path)
        rel = path.relative_to(root)
        for line, name in imported_names(
            path.read_text(encoding="utf-8"), module, is_package, str(rel)
        ):
            top = name.split(".")[0]
            if top in rules:
                violations.append(f"{rel}:{line}: imports {name} ({rules[top]})")
    return sorted(set(violations)), len(files)


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_respects_import_rules(package: str) -> None:
    if not (REPO_ROOT / package).is_dir():
        pytest.skip(f"{package}/ does not exist yet")
    violations, n_files = find_violations(REPO_ROOT, package)
    assert n_files > 0, f"no .py file found under {package}/"
    assert not violations, "forbidden imports:\n" + "\n".join(violations)


# The checker itself must catch violations; these run it on a throw-away tree.
@pytest.mark.parametrize(
    ("package", "source", "violates"),
    [
        ("snntorch_egru", "import lava_egru\n", True),
        (
            "snntorch_egru",
            "from lava.magma.core.process.process import AbstractProcess\n",
            True,
        ),
        ("snntorch_egru", "def f():\n    import lava.lib.dl.netx as netx\n", True),
        ("snntorch_egru", "from ... import lava_egru\n", True),
        # from snntorch_egru/sub/mod.py, `..` is snntorch_egru: snntorch_egru.lava_egru
        ("snntorch_egru", "from .. import lava_egru\n", False),
        ("snntorch_egru", "from ...lava_egru import process\n", True),
        (
            "snntorch_egru",
            "import importlib\nm = importlib.import_module('lava_egru.process')\n",
            True,
        ),
        ("lava_egru", "import torch\n", True),
        ("lava_egru", "import numpy as np, torch.nn as nn\n", True),
        (
            "lava_egru",
            "try:\n    import snntorch\nexcept ImportError:\n    snntorch = None\n",
            True,
        ),
        ("lava_egru", "from snntorch_egru.layer import EGRU\n", True),
        (
            "lava_egru",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n",
            True,
        ),
        ("lava_egru", "torch = __import__('torch')\n", True),
        (
            "snntorch_egru",
            "import torch\nimport snntorch\nfrom . import layer\nfrom .layer import EGRU\n",
            False,
        ),
        ("snntorch_egru", "import lavalamp\nimport converters\n", False),
        (
            "lava_egru",
            "import numpy as np\nfrom lava.magma.core.process.process import AbstractProcess\n",
            False,
        ),
        ("lava_egru", "import torchlike\nfrom . import models\n", False),
    ],
)
def test_checker_catches_violations(
    tmp_path: Path, package: str, source: str, violates: bool
) -> None:
    sub = tmp_path / package / "sub"
    sub.mkdir(parents=True)
    (tmp_path / package / "__init__.py").write_text("")
    (sub / "__init__.py").write_text("")
    (sub / "mod.py").write_text(source)
    violations, n_files = find_violations(tmp_path, package)
    assert n_files == 3
    assert bool(violations) == violates, violations
