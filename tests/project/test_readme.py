"""The README and the pages it links stay true: examples run, commands and paths exist, figures match.

- the README's Python examples run as written (in a temporary working directory);
- it stays a front page (under 15 KB) with the two commands, the results table and the known limits;
- every relative link of the README and of the docs pages resolves (file and heading);
- every repository path and ``egru`` command they name exists (subcommands and options of the
  real parser);
- the main job's table is what ``bash scripts/main.sh`` printed: the committed ``report.json``
  of that run (docs/results/pipeline-report.json, a run of today's defaults), and every figure of
  the README's results table appears on the page it links.
"""

import json
import re
import shlex
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
RESULTS = REPO_ROOT / "docs" / "results"
#: The README and the documentation pages written with it (the format specs are checked by their own tests).
PAGES = [README, REPO_ROOT / "docs" / "guide.md", REPO_ROOT / "docs" / "setup.md", REPO_ROOT / "docs" / "known-limits.md",
         REPO_ROOT / "docs" / "architecture.md", *sorted(RESULTS.glob("*.md"))]
FRONT_PAGE_BYTES = 15 * 1024


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


def test_readme_is_a_front_page():
    size = len(TEXT.encode())
    assert size < FRONT_PAGE_BYTES, f"README.md is {size} bytes: move details to docs/ (front page < 15 KB)"
    for heading in ("## Quick start", "## Ten lines on each side", "## Results", "## Known limits"):
        assert heading in TEXT, f"README.md lost its section {heading!r}"
    assert "docs/known-limits.md" in TEXT


def test_the_two_commands_are_there_and_exist():
    bash = "\n".join(re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S))
    commands = [line.split("#")[0].strip() for line in bash.splitlines()]
    assert "bash scripts/main.sh" in commands and "bash scripts/test.sh" in commands
    for script in ("scripts/main.sh", "scripts/test.sh"):
        assert (REPO_ROOT / script).is_file()


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set:
    return {_slug(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(REPO_ROOT)} links to {target}, which does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{page.relative_to(REPO_ROOT)} links to {target}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_named_repository_paths_exist(page):
    text = page.read_text()
    for path in sorted(set(re.findall(r"\b((?:scripts|benchmarks|tutorials|tests|docs)/[\w./-]*\w)", text))):
        if "*" in path or path.startswith("benchmarks/NAME"):
            continue
        assert (REPO_ROOT / path).exists(), f"{page.relative_to(REPO_ROOT)} names {path}, which does not exist"


def _egru_commands(text: str) -> list:
    return [c for c in re.findall(r"`(egru [^`]*)`", text) if not c.startswith("egru:")]


def test_egru_commands_in_the_guide_exist():
    from egru.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = _egru_commands((REPO_ROOT / "docs" / "guide.md").read_text())
    assert len(commands) >= 8
    for command in commands:
        words = shlex.split(command.replace("[", " ").replace("]", " "))
        if words[1].startswith("-"):
            options = {o for a in parser._actions for o in a.option_strings}
        else:
            assert words[1] in sub.choices, f"docs/guide.md: `{command}`: no subcommand {words[1]!r}"
            options = {o for a in sub.choices[words[1]]._actions for o in a.option_strings}
        for word in words:
            if word.startswith("--"):
                assert word in options, f"docs/guide.md: `{command}`: no option {word}"


def _table(text: str, header: str) -> list:
    """The rows (lists of cells) of the Markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_main_job_table_is_the_committed_run_of_todays_defaults():
    from egru.pipelines.digits import PipelineConfig

    report = json.loads((RESULTS / "pipeline-report.json").read_text())
    assert report["config"] == asdict(PipelineConfig()), (
        "docs/results/pipeline-report.json is not a run of the main job's defaults: rerun `bash scripts/main.sh`, "
        "copy outputs/pipeline/report.json there and update the tables")
    acc = report["accuracy"]
    expected = [acc["torch_dense_float"], acc["torch_float"], acc["lava_float"], acc["torch_integer"],
                acc["lava_fixed"]]
    for page in (README, RESULTS / "pipeline.md"):
        rows = _table(page.read_text(), "| `bash scripts/main.sh` (seed 0)")
        shown = [float(row[1].split()[0]) for row in rows]
        assert shown == [round(value, 4) for value in expected], f"{page.relative_to(REPO_ROOT)}: main-job table"
    assert report["agreement"]["float"]["identical_predictions"] == 1.0
    assert report["agreement"]["fixed"]["bit_exact"] is True
    details = (RESULTS / "pipeline.md").read_text()
    for figure in (f"{report['activity_sparsity']['egru_l0']:.3f}", f"{report['macs_per_step']['reduction']:.1f}x",
                   f"{report['agreement']['float']['max_abs_logit_diff']:.3g}", f"{report['wall_time_s']} s"):
        assert figure in details, f"docs/results/pipeline.md does not show {figure} of the committed report"


NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def test_headline_figures_appear_on_their_pages():
    rows = _table(TEXT, "| experiment | headline | details |")
    assert len(rows) >= 5
    for experiment, headline, details in rows:
        link = re.search(r"\]\(([^)#]+)", details).group(1)
        page = (REPO_ROOT / link).read_text()
        for figure in NUMBER.findall(headline):
            assert re.search(rf"(?<![\w.]){re.escape(figure)}(?![\d])", page), (
                f"README results table, {experiment!r}: {figure} does not appear in {link}")
