"""Static checks of the architecture: one hub, two spokes, one bridge, one application.

The dependency chain, from the leaf up::

    egru_format            the format (numpy + h5py): imports no sibling package
      ^          ^
    snntorch_egru  lava_egru     the two sides: never import each other,
      ^          ^               nor the bridge, nor the application
    converters             the only package that knows both sides
      ^
    egru                   the application (command line, pipelines)

Rules checked here, on the sources parsed with ``ast`` (nothing is imported or run):

* each package imports only the packages below it in the chain (table ``RULES``);
* the Lava side never imports torch or snntorch (Lava's model discovery executes
  its modules in worker processes), the snnTorch side never imports Lava;
* no module imports or reads a private name (``_name``, or a module ``_mod``) of
  another package;
* every top-level package of the repository has a row in ``RULES``, so a new
  package cannot escape the checks.

Every import counts: at module level, inside functions, under ``try`` or ``if
TYPE_CHECKING``, relative imports, and ``importlib.import_module("...")`` /
``__import__("...")`` calls with a literal name.

One exception, narrow and temporary: the deprecation shims (``DEPRECATION_SHIMS``). A
module that moved from a side up into the application keeps its old path for one
release as a file that forwards every attribute read to the new home with a
``DeprecationWarning``; that file may import its new home, and nothing else, only while
it is exactly ``SHIM_SOURCE`` (its docstring aside).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The repository's own top-level packages, from the leaf up.
PACKAGES = ("egru_format", "snntorch_egru", "lava_egru", "converters", "egru")

_HUB = "the format is the hub: it imports no sibling package"
_SIDE = "the {side} side never imports {what}"
# package -> {forbidden top-level module: why}
RULES: dict[str, dict[str, str]] = {
    "egru_format": {
        **{name: _HUB for name in PACKAGES if name != "egru_format"},
        "torch": "the format imports numpy and h5py only",
        "snntorch": "the format imports numpy and h5py only",
        "lava": "the format imports numpy and h5py only",
    },
    "snntorch_egru": {
        "lava_egru": _SIDE.format(side="snnTorch", what="the Lava side"),
        "lava": _SIDE.format(side="snnTorch", what="Lava"),
        "converters": _SIDE.format(side="snnTorch", what="the converters (the bridge sits above it)"),
        "egru": _SIDE.format(side="snnTorch", what="the application"),
    },
    "lava_egru": {
        "snntorch_egru": _SIDE.format(side="Lava", what="the snnTorch side"),
        "torch": "Lava modules never import torch",
        "snntorch": "Lava modules never import snntorch",
        "converters": _SIDE.format(side="Lava", what="the converters (the bridge sits above it)"),
        "egru": _SIDE.format(side="Lava", what="the application"),
    },
    "converters": {
        "egru": "the bridge never imports the application",
    },
    "egru": {},
}

#: Deprecation shims (kept one release), by path: the new home each one forwards to.
DEPRECATION_SHIMS = {
    "snntorch_egru/train_lm.py": "egru.lm.trainer",
    "snntorch_egru/data.py": "egru.lm.data",
    "snntorch_egru/checkpoint.py": "egru.lm.checkpoint",
    "snntorch_egru/progress.py": "egru.lm.progress",
}
#: The whole of a deprecation shim but its docstring, NEW_HOME standing for its new home.
SHIM_SOURCE = """
import importlib
import warnings


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn(f"{__name__} is deprecated and goes in the next release: import {name} from NEW_HOME",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module("NEW_HOME"), name)
"""


def _code_without_docstring(source: str) -> str:
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def shim_home(rel: str, source: str) -> str | None:
    """The new home the file ``rel`` (relative to the root, ``/``-separated) may import: the one
    ``DEPRECATION_SHIMS`` lists for it when ``source`` is exactly the shim, else None."""
    home = DEPRECATION_SHIMS.get(rel)
    if home is None or _code_without_docstring(source) != _code_without_docstring(
            SHIM_SOURCE.replace("NEW_HOME", home)):
        return None
    return home


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
    """(line, absolute dotted name) of everything ``source`` imports.

    ``from a.b import c`` gives both ``a.b`` and ``a.b.c`` (c may be a module or a name).
    """
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


def private_attribute_uses(source: str, package: str, filename: str = "<src>") -> list[tuple[int, str]]:
    """(line, "module._name") where code reads a private attribute of another package's module.

    Covers the forms an import check cannot see: ``from snntorch_egru import pruning`` then
    ``pruning._helper``, ``import egru_format.io`` then ``egru_format.io._Reader``, and
    ``import lava_egru as le`` then ``le._x``. Names bound by imports of modules of the
    repository's other packages are followed; ``getattr(module, "_name")`` with a literal
    name counts too.
    """
    tree = ast.parse(source, filename=filename)
    bound: dict[str, str] = {}          # local name -> dotted module of another package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in PACKAGES and top != package:
                    bound[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            if top in PACKAGES and top != package:
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []

    def dotted(node) -> str | None:
        if isinstance(node, ast.Name):
            return bound.get(node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = dotted(node.value)
            if base:
                found.append((node.lineno, f"{base}.{node.attr}"))
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and node.args[1].value.startswith("_") and not node.args[1].value.startswith("__")):
            base = dotted(node.args[0])
            if base:
                found.append((node.lineno, f"{base}.{node.args[1].value}"))
    return found


def _python_files(root: Path, package: str) -> list[Path]:
    return sorted(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)


def find_violations(root: Path, package: str) -> tuple[list[str], int]:
    """Messages for every forbidden import under ``root/package``, and the number of files read."""
    rules = RULES[package]
    files = _python_files(root, package)
    violations = []
    for path in files:
        module, is_package = _module_name(root, path)
        rel = path.relative_to(root)
        source = path.read_text(encoding="utf-8")
        allowed = shim_home(rel.as_posix(), source)
        for line, name in imported_names(source, module, is_package, str(rel)):
            if name == allowed:
                continue
            parts = name.split(".")
            top = parts[0]
            if top in rules:
                violations.append(f"{rel}:{line}: imports {name} ({rules[top]})")
            elif top in PACKAGES and top != package and any(
                part.startswith("_") and not part.startswith("__") for part in parts[1:]
            ):
                violations.append(f"{rel}:{line}: imports {name} (a private name of another package)")
        for line, name in private_attribute_uses(path.read_text(encoding="utf-8"), package, str(rel)):
            violations.append(f"{rel}:{line}: uses {name} (a private name of another package)")
    return sorted(set(violations)), len(files)


def import_graph(root: Path = REPO_ROOT) -> dict[tuple[str, str], int]:
    """``{(package, imported package): number of import statements}`` between the repository's packages."""
    counts: dict[tuple[str, str], int] = {}
    for package in PACKAGES:
        if not (root / package).is_dir():
            continue
        for path in _python_files(root, package):
            module, is_package = _module_name(root, path)
            source = path.read_text(encoding="utf-8")
            allowed = shim_home(path.relative_to(root).as_posix(), source)
            seen_lines = set()
            for line, name in imported_names(source, module, is_package):
                if name == allowed:
                    continue
                top = name.split(".")[0]
                if top in PACKAGES and top != package and (line, top) not in seen_lines:
                    seen_lines.add((line, top))
                    counts[(package, top)] = counts.get((package, top), 0) + 1
    return counts


def test_every_package_has_rules() -> None:
    found = {
        p.name for p in REPO_ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in ("tests", "benchmarks")
    }
    assert found == set(PACKAGES), f"packages without a row in RULES: {sorted(found - set(PACKAGES))}"
    assert set(RULES) == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_respects_import_rules(package: str) -> None:
    assert (REPO_ROOT / package).is_dir(), f"{package}/ is missing"
    violations, n_files = find_violations(REPO_ROOT, package)
    assert n_files > 0, f"no .py file found under {package}/"
    assert not violations, "forbidden imports:\n" + "\n".join(violations)


def test_import_graph_follows_the_chain() -> None:
    graph = import_graph()
    rank = {name: k for k, name in enumerate(PACKAGES)}
    # Each edge points down the chain; the two sides sit on the same level and never meet.
    for (source, target), count in graph.items():
        assert count > 0
        assert rank[target] < rank[source], f"{source} -> {target} points up the chain"
        assert {source, target} != {"snntorch_egru", "lava_egru"}
    # And the chain is really used: both sides read the hub, the bridge reads both sides.
    for edge in [("snntorch_egru", "egru_format"), ("lava_egru", "egru_format"),
                 ("converters", "snntorch_egru"), ("converters", "lava_egru"), ("egru", "converters")]:
        assert graph.get(edge, 0) > 0, f"expected an import {edge[0]} -> {edge[1]}"


def test_deprecation_shims_are_only_shims() -> None:
    for rel, home in DEPRECATION_SHIMS.items():
        path = REPO_ROOT / rel
        assert path.is_file(), f"{rel} is listed in DEPRECATION_SHIMS but missing (drop its entry)"
        assert shim_home(rel, path.read_text(encoding="utf-8")) == home, \
            f"{rel} must be exactly SHIM_SOURCE for {home} (its docstring aside)"


@pytest.mark.parametrize(
    ("rel", "extra", "violates"),
    [
        ("snntorch_egru/data.py", "", False),                      # the shim itself
        ("snntorch_egru/data.py", "import egru.cli\n", True),      # anything more: its imports count
        ("snntorch_egru/data.py", "X = 1\n", True),
        ("snntorch_egru/sub/mod.py", "", True),                    # the same code elsewhere
    ],
)
def test_checker_exempts_only_exact_shims(tmp_path: Path, rel: str, extra: str, violates: bool) -> None:
    (tmp_path / "snntorch_egru" / "sub").mkdir(parents=True)
    (tmp_path / "snntorch_egru" / "__init__.py").write_text("")
    (tmp_path / "snntorch_egru" / "sub" / "__init__.py").write_text("")
    (tmp_path / rel).write_text('"""A shim."""\n' + SHIM_SOURCE.replace("NEW_HOME", "egru.lm.data") + extra)
    violations, _ = find_violations(tmp_path, "snntorch_egru")
    assert bool(violations) == violates, violations
    assert (("snntorch_egru", "egru") in import_graph(tmp_path)) == violates


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
        ("snntorch_egru", "import converters\n", True),
        ("snntorch_egru", "from egru.cli import main\n", True),
        ("snntorch_egru", "from egru_format import read_network\n", False),
        ("snntorch_egru", "from egru_format.io import _Reader\n", True),
        ("snntorch_egru", "from egru_format._private import x\n", True),
        ("snntorch_egru", "from ._checks import check\nfrom .layer import _helper\n", False),
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
        ("lava_egru", "from converters.format import read_network\n", True),
        ("lava_egru", "from egru_format import integer_network\n", False),
        (
            "snntorch_egru",
            "import torch\nimport snntorch\nfrom . import layer\nfrom .layer import EGRU\n",
            False,
        ),
        ("snntorch_egru", "import lavalamp\nimport converters_x\n", False),
        (
            "lava_egru",
            "import numpy as np\nfrom lava.magma.core.process.process import AbstractProcess\n",
            False,
        ),
        ("lava_egru", "import torchlike\nfrom . import models\n", False),
        ("egru_format", "import numpy, h5py\nfrom . import spec\n", False),
        ("egru_format", "import snntorch_egru\n", True),
        ("egru_format", "def f():\n    from converters import export\n", True),
        ("egru_format", "import torch\n", True),
        ("converters", "from snntorch_egru import EGRU\nimport lava_egru\n", False),
        ("converters", "from egru.pipelines import run\n", True),
        ("converters", "from snntorch_egru.pruning import _global_threshold\n", True),
        ("egru", "import converters, snntorch_egru, lava_egru, egru_format\n", False),
        ("egru", "from converters.snntorch_bridge import _egru_layers\n", True),
        ("egru", "from snntorch_egru import pruning\npruning._prune_count(1, 2)\n", True),
        ("egru", "import egru_format.io\nreader = egru_format.io._Reader\n", True),
        ("egru", "import lava_egru as le\nle.proc._x\n", True),
        ("egru", "import converters\nf = getattr(converters, '_defined_in')\n", True),
        ("egru", "from snntorch_egru import pruning\npruning.Pruner\nobj._private\n", False),
        ("converters", "from snntorch_egru import EGRU\nEGRU.__name__\n", False),
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


# --------------------------------------------------------------------------- import cycles


def module_import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: the modules of the same package it imports}`` for every module of ``package``.

    Every import counts, as for the rules above. An imported name stands for the longest
    module of the package it starts with (``from .spec import NetworkSpec`` -> ``spec``);
    ``from pkg import mod`` names the module ``pkg.mod`` only, not ``pkg`` (importing a
    submodule needs its package in ``sys.modules``, not its ``__init__`` finished).
    """
    modules = {}
    for path in _python_files(root, package):
        name, is_package = _module_name(root, path)
        modules[name] = (path, is_package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        found = imported_names(path.read_text(encoding="utf-8"), name, is_package, str(path.relative_to(root)))
        submodules = {(line, imported.rpartition(".")[0]) for line, imported in found if imported in modules}
        targets = set()
        for line, imported in found:
            if imported in modules and (line, imported) in submodules:
                continue   # the package part of `from pkg import mod`
            parts = imported.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and ".".join(parts) != name:
                targets.add(".".join(parts))
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or in a ring (strongly connected
    components of more than one module, Tarjan's algorithm), each sorted; sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_has_no_import_cycle(package: str) -> None:
    graph = module_import_graph(REPO_ROOT, package)
    assert graph, f"no module found under {package}/"
    cycles = import_cycles(graph)
    assert not cycles, "modules that import each other (directly or in a ring):\n" + "\n".join(
        "  " + ", ".join(group) for group in cycles)


@pytest.mark.parametrize(
    ("sources", "cycles"),
    [
        ({"a.py": "from .b import x\n", "b.py": "def f():\n    from .a import y\n"}, [["pkg.a", "pkg.b"]]),
        ({"a.py": "from . import b\n", "b.py": "import pkg.c\n", "c.py": "from pkg.a import z\n"},
         [["pkg.a", "pkg.b", "pkg.c"]]),
        ({"a.py": "import importlib\nm = importlib.import_module('pkg.b')\n", "b.py": "from .a import y\n"},
         [["pkg.a", "pkg.b"]]),
        ({"__init__.py": "from .a import x\n", "a.py": "from pkg import helper\n"}, [["pkg", "pkg.a"]]),
        ({"__init__.py": "from .a import x\n", "a.py": "from . import b\nfrom .b import y\n", "b.py": "import os\n"},
         []),
        ({"__init__.py": "from . import a, b\n", "a.py": "from . import b\n", "b.py": "from .c import z\n",
          "c.py": ""}, []),
    ],
)
def test_cycle_finder(tmp_path: Path, sources: dict, cycles: list) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    for name, source in sources.items():
        (tmp_path / "pkg" / name).write_text(source)
    assert import_cycles(module_import_graph(tmp_path, "pkg")) == cycles
