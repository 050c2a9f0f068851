"""The run skeleton shared by the pipelines: phases, timings, plots, ``report.json``.

A pipeline subclasses :class:`Pipeline` and declares what is its own: its phases
(:meth:`Pipeline.phases`, each a :class:`Phase`), its report (:meth:`Pipeline.results`)
and its plots (:meth:`Pipeline.plots`). :meth:`Pipeline.run` does the rest, the same
for every pipeline:

1. fail at once, before any training, when Lava is asked for and missing;
2. create the output folder, call :meth:`Pipeline.prepare` (data, model; untimed);
3. run the phases in order, skipping those marked ``lava`` when ``lava=False``, and
   time each one (``report["timings_s"][name]``, seconds rounded to 0.01);
4. build the report, write the plots once (timed as ``"plots"``), add the timings and
   the wall time, write ``report.json`` atomically and return the report.

:func:`print_report` prints a report the way the ``egru`` command does.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Sequence

from egru_format import atomic_write_stream, atomic_write_text

__all__ = ["Phase", "Pipeline", "print_report", "check_config", "REPORT_NAME"]

REPORT_NAME = "report.json"


def check_config(config, *, minimum: dict = None, positive=(), fractions=()) -> None:
    """Validate a pipeline configuration's numbers; the error names the field.

    ``minimum``: integer fields and their least value (TypeError for a non-integer,
    ValueError below it); ``positive``: finite numbers > 0; ``fractions``: numbers in [0, 1).
    """
    for name, low in (minimum or {}).items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    for name in positive:
        value = getattr(config, name)
        if isinstance(value, bool) or not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    for name in fractions:
        value = getattr(config, name)
        if isinstance(value, bool) or not (isinstance(value, numbers.Real) and 0.0 <= value < 1.0):
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")


@dataclass(frozen=True)
class Phase:
    """One timed step of a pipeline: ``run()`` does the work and keeps its results on the pipeline."""

    name: str                     # the key of its time in report["timings_s"]
    run: Callable[[], None]
    lava: bool = False            # a Lava run: skipped when the pipeline runs with lava=False


class Pipeline:
    """The skeleton of a pipeline run (see the module docstring); subclasses fill in the hooks."""

    def __init__(self, output_dir, *, lava: bool = True, log: Callable[[str], None] = print):
        self.output_dir = Path(output_dir)
        self.lava = lava
        self.log = log
        self.timings: dict = {}
        self._phase_start = None

    def prepare(self) -> None:
        """Untimed set-up before the first phase (the output folder exists)."""

    def phases(self) -> Sequence[Phase]:
        raise NotImplementedError

    def results(self) -> dict:
        """The report, from what the phases kept (the Lava entries only when they ran)."""
        raise NotImplementedError

    def plots(self) -> List[Path]:
        """Write the figures into :attr:`output_dir`; return their paths."""
        raise NotImplementedError

    def phase_seconds(self) -> float:
        """Seconds since the running phase began (for its log lines), rounded as in the timings."""
        return round(time.perf_counter() - self._phase_start, 2)

    def _timed(self, name: str, work: Callable[[], object]):
        self._phase_start = time.perf_counter()
        value = work()
        self.timings[name] = self.phase_seconds()
        return value

    def run(self) -> dict:
        start = time.perf_counter()
        if self.lava:
            import lava_egru   # noqa: F401  fail before training, not after, when the Lava stack is missing
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        for phase in self.phases():
            if phase.lava and not self.lava:
                continue
            self._timed(phase.name, phase.run)
        report = self.results()
        report["plots"] = [str(path) for path in self._timed("plots", self.plots)]
        report["timings_s"] = self.timings
        report["wall_time_s"] = round(time.perf_counter() - start, 1)
        atomic_write_text(self.output_dir / REPORT_NAME, json.dumps(report, indent=2))
        return report


def save_figure(fig, path: Path) -> Path:
    """Lay out ``fig``, write it to ``path`` atomically (PNG, 100 dpi), close it; return the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        atomic_write_stream(path, lambda stream: fig.savefig(stream, format="png", dpi=100))
    finally:
        plt.close(fig)
    return Path(path)


def print_report(report: dict, text: str, *, as_json: bool = False) -> None:
    """Print ``text`` (a pipeline's formatted report), then the report as JSON when asked."""
    print(text)
    if as_json:
        print(json.dumps(report, indent=2))
