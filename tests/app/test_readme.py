"""The README's Python examples run as written (in a temporary working directory)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def needs_lava(code: str) -> bool:
    return "lava_egru" in code or "load_lava" in code


@pytest.mark.parametrize(
    "index", [pytest.param(i, marks=[pytest.mark.lava] if needs_lava(code) else []) for i, code in enumerate(BLOCKS)]
)
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {"__name__": "__readme__"})


def test_readme_has_examples():
    assert len(BLOCKS) >= 2
