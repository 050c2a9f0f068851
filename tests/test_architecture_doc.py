"""docs/architecture.md is current: its generated block is what scripts/architecture.py writes now."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("architecture_doc", REPO_ROOT / "scripts" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_architecture_doc_is_current():
    generator = _generator()
    committed = (REPO_ROOT / generator.DOC).read_text(encoding="utf-8")
    expected = generator.render(REPO_ROOT)
    diff = "".join(list(difflib.unified_diff(committed.splitlines(True), expected.splitlines(True),
                                             "docs/architecture.md (committed)", "scripts/architecture.py (now)"))[:60])
    assert committed == expected, (f"docs/architecture.md is out of date; regenerate it with:\n    {generator.COMMAND}\n"
                                   f"then commit it. Difference (first lines):\n{diff}")


def test_generated_block_reflects_the_sources(tmp_path):
    """A new module and a new import show up in the tree and the graphs (on a copy of the tree)."""
    generator = _generator()
    for package in generator.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "egru" / "tool").mkdir()
    (tmp_path / "egru" / "tool" / "__init__.py").write_text("")
    (tmp_path / "egru" / "tool" / "mod.py").write_text(
        "import numpy\nfrom converters import export\nfrom egru_format import spec, io\nfrom .. import cli\n")
    block = generator.generated_block(tmp_path)
    assert "        mod.py" in block and "tool/" in block
    assert "| `egru` | `converters` | 1 |" in block and "| `egru` | `egru_format` | 1 |" in block
    assert "| `egru.tool` | `converters` | 1 |" in block and "| `egru.tool` | `egru` | 1 |" in block
    assert "| `egru` | `numpy` |" in block and "| `egru_format` | none |" in block
