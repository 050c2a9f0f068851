"""``egru benchmark``: lists and runs the scripts of benchmarks/; an installed egru (no checkout) says so in one
line."""

from egru import cli
from tests.egru._helpers import exit_code


def test_benchmark_list(capsys):
    assert cli.main(["benchmark", "--list"]) == 0
    assert "bench_layer" in capsys.readouterr().out


def test_benchmark_without_a_source_checkout_is_one_error_line(tmp_path, monkeypatch, capsys):
    """An installed egru has no benchmarks/ folder: the command says it needs a checkout (exit 2)."""
    monkeypatch.setattr(cli, "BENCHMARKS", tmp_path / "benchmarks")          # missing
    for argv in (["benchmark", "--list"], ["benchmark", "bench_layer"]):
        code, _, err = exit_code(cli.main, argv, capsys)
        assert code == 2 and err.startswith("egru: error: benchmark needs a source checkout")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    (tmp_path / "benchmarks").mkdir()                                        # present but empty
    code, _, err = exit_code(cli.main, ["benchmark", "--list"], capsys)
    assert code == 2 and "needs a source checkout" in err
