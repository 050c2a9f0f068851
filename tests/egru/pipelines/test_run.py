"""The run skeleton shared by the pipelines (egru.pipelines.run): phases, timings, plots, report.json."""

import builtins
import json

import pytest

from egru.pipelines.run import REPORT_NAME, Phase, Pipeline, print_report


class Recorder(Pipeline):
    """A pipeline whose phases only record that they ran."""

    def __init__(self, output_dir, **kwargs):
        super().__init__(output_dir, **kwargs)
        self.calls = []

    def prepare(self):
        assert self.output_dir.is_dir()
        self.calls.append("prepare")

    def phases(self):
        return [Phase(name, lambda name=name: self.calls.append(name), lava=name.startswith("lava"))
                for name in ("train", "prune", "lava_float")]

    def results(self):
        self.calls.append("results")
        return {"task": "recorder", "ran": list(self.calls)}

    def plots(self):
        self.calls.append("plots")
        path = self.output_dir / "figure.png"
        path.write_bytes(b"png")
        return [path]


def test_phases_run_in_order_then_report_plots_and_json(tmp_path, monkeypatch):
    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__",
                        lambda name, *a, **k: None if name == "lava_egru" else real_import(name, *a, **k))
    pipeline = Recorder(tmp_path / "out", lava=True)
    report = pipeline.run()
    assert pipeline.calls == ["prepare", "train", "prune", "lava_float", "results", "plots"]
    assert list(report["timings_s"]) == ["train", "prune", "lava_float", "plots"]
    assert report["plots"] == [str(tmp_path / "out" / "figure.png")] and report["wall_time_s"] >= 0.0
    assert json.loads((tmp_path / "out" / REPORT_NAME).read_text()) == report
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["figure.png", REPORT_NAME]   # no temp file


def test_lava_phases_are_skipped_without_lava(tmp_path):
    pipeline = Recorder(tmp_path, lava=False)
    report = pipeline.run()
    assert "lava_float" not in pipeline.calls and "lava_float" not in report["timings_s"]


def test_missing_lava_stops_before_any_phase(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_lava(name, *args, **kwargs):
        if name == "lava_egru":
            raise ModuleNotFoundError("No module named 'lava_egru'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lava)
    pipeline = Recorder(tmp_path / "out", lava=True)
    with pytest.raises(ModuleNotFoundError):
        pipeline.run()
    assert pipeline.calls == [] and not (tmp_path / "out").exists()


def test_print_report(capsys):
    print_report({"a": 1}, "text")
    assert capsys.readouterr().out == "text\n"
    print_report({"a": 1}, "text", as_json=True)
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == {"a": 1}
