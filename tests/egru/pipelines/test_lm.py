"""``egru pipeline --task lm``: the language-model path end to end (egru.pipelines.lm).

A synthetic corpus (a small vocabulary in PTB's file layout) keeps it to seconds; the
real PTB runs once in the lava leg when ../shared/data is present. Tolerances: Lava's
floating_pt logits vs the float32 torch model <= 1e-4 (float64 vs float32 arithmetic);
fixed_pt equals the integer reference bit for bit.
"""

import json
import math

import pytest

from egru import cli
from egru.pipelines.lm import LMPipelineConfig, format_lm_report, run_lm_pipeline


def _write_corpus(directory, seed=3, vocab=30, lines=(400, 40, 40)):
    import random
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab)]
    directory.mkdir()
    for split, count in zip(("train", "valid", "test"), lines):
        text = []
        for _ in range(count):
            start = rng.randrange(vocab)       # mostly ascending runs: learnable structure
            text.append(" ".join(words[(start + k) % vocab] if rng.random() < 0.8 else rng.choice(words)
                                 for k in range(rng.randint(4, 12))))
        (directory / f"ptb.{split}.txt").write_text("\n".join(text) + "\n")
    return directory


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(tmp_path_factory.mktemp("lm") / "corpus")


def _quick(**overrides):
    return LMPipelineConfig.quick(**{"epochs": 4, "lr": 1e-2, **overrides})


def _check_common(report, out):
    p = report["perplexity"]
    vocab = report["vocabulary"]
    for key in ("torch_dense_float", "torch_pruned_float", "torch_integer"):
        assert 1.0 < p[key] < vocab, (key, p[key])
    assert p["torch_dense_float"] < 0.75 * vocab        # it learned something (uniform guessing: vocab)
    assert report["weight_sparsity"]["readout.weight"] == 0.0
    rnn = [v for k, v in report["weight_sparsity"].items() if k.startswith("rnn.")]
    assert 0.7 < sum(rnn) / len(rnn) < 0.9              # 80% global over W_ih/W_hh
    m = report["macs_per_token"]
    assert m["egru_effective"] < m["egru_activity_only"] < m["dense_gru"]
    for layer in ("layer0", "layer1"):
        assert m["layers"][layer]["reduction_effective"] > m["layers"][layer]["reduction_activity"] > 1.0
        assert 0.0 < report["activity_sparsity"][layer] < 1.0
    for name in ("lm_event_raster.png", "lm_activity_and_macs.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 2000
    assert json.loads((out / "report.json").read_text())["perplexity"] == json.loads(json.dumps(p))
    text = format_lm_report(report)
    assert "torch float, pruned" in text and "MACs per token" in text


def test_lm_pipeline_without_lava(corpus, tmp_path):
    report = run_lm_pipeline(_quick(), corpus, tmp_path, lava=False, log=lambda *_: None)
    _check_common(report, tmp_path)
    assert "agreement" not in report and "lava_float" not in report["perplexity"]
    assert (tmp_path / "lm_float.h5").is_file() and (tmp_path / "lm_fixed.h5").is_file()


@pytest.mark.lava
def test_lm_pipeline_cli_with_lava(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["pipeline", "--task", "lm", "--quick", "--data", str(corpus), "--output-dir", str(out), "--epochs", "4", "--lr", "0.01"]) == 0
    assert "EGRU language-model pipeline report" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    _check_common(report, out)
    ag, p = report["agreement"], report["perplexity"]
    assert ag["fixed"]["bit_exact"] is True and ag["fixed"]["max_abs_logit_diff_int"] == 0
    assert ag["float"]["max_abs_logit_diff"] <= 1e-4 and ag["float"]["same_argmax"] == 1.0
    assert math.isclose(p["lava_fixed"], p["torch_integer_on_lava_tokens"], rel_tol=1e-12)
    assert math.isclose(p["lava_float"], p["torch_float_on_lava_tokens"], rel_tol=1e-5)


def test_lm_pipeline_bad_corpus_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for split in ("train", "valid", "test"):
        (empty / f"ptb.{split}.txt").write_text("\n\n" if split == "train" else "a b\n")
    for argv, message in (
        (["pipeline", "--task", "lm", "--quick"], "needs --data DIR"),
        (["pipeline", "--task", "lm", "--data", str(tmp_path / "missing")], "no such directory"),
        (["pipeline", "--task", "lm", "--data", str(tmp_path)], "no corpus in"),
        (["pipeline", "--task", "lm", "--quick", "--data", str(empty)], "corpus file is empty"),
        (["pipeline", "--data", str(empty)], "--data is for --task lm"),
        (["pipeline", "--train-tokens", "100"], "--train-tokens is for --task lm"),
        (["pipeline", "--task", "lm", "--data", str(empty), "--lava-images", "3"], "--lava-images is for --task digits"),
    ):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err and "Traceback" not in err, (argv, err)
    with pytest.raises(ValueError, match="sparsity"):
        LMPipelineConfig(sparsity=1.0)


@pytest.mark.lava
def test_lm_pipeline_on_penn_treebank(shared_data_dir, tmp_path):
    report = run_lm_pipeline(LMPipelineConfig.quick(lava_tokens=20), shared_data_dir / "ptb", tmp_path,
                             log=lambda *_: None)
    assert report["vocabulary"] == 10000
    assert report["agreement"]["fixed"]["bit_exact"] is True
    assert report["agreement"]["float"]["max_abs_logit_diff"] <= 1e-4


def test_missing_lava_is_a_clear_cli_error(corpus, capsys, monkeypatch):
    """Without the Lava stack the pipeline stops before training, with one line that says what to do."""
    import builtins
    real_import = builtins.__import__

    def no_lava(name, *args, **kwargs):
        if name == "lava_egru" or name.startswith("lava."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lava)
    with pytest.raises(SystemExit) as info:
        cli.main(["pipeline", "--task", "lm", "--quick", "--data", str(corpus)])
    out, err = capsys.readouterr()
    assert info.value.code == 2 and "needs the Lava stack" in err and "--no-lava" in err
    assert "[lm-pipeline] trained" not in out and "Traceback" not in err     # stopped before training
