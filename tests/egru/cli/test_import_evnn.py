"""``egru import-evnn`` and ``egru evaluate --data``: a reference run in, its perplexity out, both carries."""

import pytest
import torch

import converters
from converters.evnn import write_evnn_run
from egru import cli
from egru.lm.data import load_corpus
from egru.lm.trainer import evaluate
from snntorch_egru import EGRULanguageModel, RNNLanguageModel
from tests.egru._helpers import exit_code, one_error_line, small_corpus

VOCAB = 9      # small_corpus: seven words, <eos> and <unk>


def _run(tmp_path, model=None, name="run"):
    torch.manual_seed(0)
    model = model or EGRULanguageModel(VOCAB, 6, [10, 6], tie_weights=True, threshold=0.05)
    return write_evnn_run(model, tmp_path / name, bptt=7), model


def test_import_a_run_directory_to_a_network_file_and_evaluate_it_both_ways(tmp_path, capsys):
    run, model = _run(tmp_path)
    assert cli.main(["import-evnn", str(run), str(tmp_path / "lm.h5")]) == 0
    out = capsys.readouterr().out
    assert "imported" in out and "egru language model, vocabulary 9, embedding 6, layers [10, 6]" in out
    assert f"egru evaluate {tmp_path / 'lm.h5'} --data CORPUS_DIR --bptt 7" in out
    loaded = converters.load_snntorch(tmp_path / "lm.h5")
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    data = small_corpus(tmp_path / "corpus")
    assert cli.main(["evaluate", str(tmp_path / "lm.h5"), "--data", str(data), "--bptt", "7"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "carry exact" in lines[0] and "carry reference: segments of 7" in lines[1]
    tokens = load_corpus(data).test
    for line, carry in zip(lines, ("exact", "reference")):
        expected = evaluate(model.eval(), tokens, 7 if carry == "reference" else 256, carry=carry)
        assert f"test perplexity {expected.perplexity:.2f} (loss {expected.loss:.4f}" in line
        assert f"{expected.tokens} tokens" in line


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_baseline_is_imported_as_a_torch_model(tmp_path, capsys, cell):
    run, model = _run(tmp_path, RNNLanguageModel(VOCAB, 6, [10, 6], cell=cell, tie_weights=True))
    code, _, err = exit_code(cli.main, ["import-evnn", str(run), str(tmp_path / "lm.h5")], capsys)
    assert code == 2
    one_error_line(err, f"holds a {cell} language model", "--format pt")
    assert not (tmp_path / "lm.h5").exists()
    assert cli.main(["import-evnn", str(run), str(tmp_path / "lm.pt"), "--format", "pt"]) == 0
    capsys.readouterr()
    data = small_corpus(tmp_path / "corpus")
    assert cli.main(["evaluate", str(tmp_path / "lm.pt"), "--data", str(data), "--carry", "reference",
                     "--tokens", "60"]) == 0
    line = capsys.readouterr().out.strip()
    result = evaluate(model.eval(), load_corpus(data).test[:60], 70, carry="reference")
    assert f"perplexity {result.perplexity:.2f}" in line and "59 tokens" in line


def test_zero_thresholds_are_printed_as_notes(tmp_path, capsys):
    torch.manual_seed(0)
    model = EGRULanguageModel(VOCAB, 6, [6], tie_weights=True, threshold=0.05)
    run, _ = _run(tmp_path, model)
    from converters.evnn import CONFIG_NAME, evnn_checkpoint_path

    state = torch.load(evnn_checkpoint_path(run, "egru"))
    state["rnns.0.thr"][:2] = 0.0
    torch.save(state, evnn_checkpoint_path(run, "egru"))
    assert (run / CONFIG_NAME).exists()
    assert cli.main(["import-evnn", str(run), str(tmp_path / "lm.h5")]) == 0
    out = capsys.readouterr().out
    assert "note: " in out and "rnns.0.thr: 2 of 6 thresholds were 0 or subnormal" in out


def test_import_errors_are_one_line_naming_file_and_key(tmp_path, capsys):
    run, _ = _run(tmp_path)
    code, _, err = exit_code(cli.main, ["import-evnn", str(run), str(tmp_path / "x.h5"), "--hidden-dim", "12"],
                             capsys)
    assert code == 2
    one_error_line(err, "config.yaml: hidden_dim: is 10 but hidden_dim=12 was given")
    (tmp_path / "junk.cpt").write_text("not a checkpoint")
    code, _, err = exit_code(cli.main, ["import-evnn", str(tmp_path / "junk.cpt"), str(tmp_path / "x.h5")], capsys)
    assert code == 2
    one_error_line(err, "junk.cpt: (file): not a torch.save'd state dict")
    code, _, err = exit_code(cli.main, ["import-evnn", str(tmp_path / "missing"), str(tmp_path / "x.h5")], capsys)
    assert code == 2
    one_error_line(err, "no such file or directory")
    assert not (tmp_path / "x.h5").exists()


def test_evaluate_data_errors_are_one_line(tmp_path, capsys):
    run, _ = _run(tmp_path)
    cli.main(["import-evnn", str(run), str(tmp_path / "lm.h5")])
    other = small_corpus(tmp_path / "other", b" ".join(b"v%d" % (i % 11) for i in range(200)) + b"\n")
    code, _, err = exit_code(cli.main, ["evaluate", str(tmp_path / "lm.h5"), "--data", str(other)], capsys)
    assert code == 2
    one_error_line(err, "has a vocabulary of 9 words", "has 13")
    code, _, err = exit_code(cli.main, ["evaluate", str(tmp_path / "lm.h5")], capsys)
    assert code == 2
    one_error_line(err, "not a digits classifier", "pass --data CORPUS_DIR")
    data = small_corpus(tmp_path / "corpus")
    code, _, err = exit_code(cli.main, ["evaluate", str(tmp_path / "lm.h5"), "--data", str(data), "--backend",
                                        "lava"], capsys)
    assert code == 2
    one_error_line(err, "torch backend", "egru lava")
    torch.save({"a": torch.zeros(2)}, tmp_path / "state.pt")
    code, _, err = exit_code(cli.main, ["evaluate", str(tmp_path / "state.pt"), "--data", str(data)], capsys)
    assert code == 2
    one_error_line(err, "holds a dict, not a language model")
