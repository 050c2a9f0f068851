"""Corpus loading (egru.lm.data): vocabulary, <unk> mapping, <eos>, clear errors (a file that is not UTF-8
names its line, at every entry point)."""

import pytest
import torch

from egru import cli, train_lm
from egru.lm.data import UNK, CorpusError, batchify, load_corpus
from tests.egru._helpers import BAD_UTF8, TINY_LM, exit_code, one_error_line, small_corpus


def write_corpus(tmp_path, train="a b c\nb c d\n", valid="a z\n", test="d\n"):
    for split, text in (("train", train), ("valid", valid), ("test", test)):
        (tmp_path / f"ptb.{split}.txt").write_text(text)
    return tmp_path


def test_vocabulary_eos_and_unknown_words(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path))
    words = corpus.vocabulary.words
    assert words == ["a", "b", "c", "<eos>", "d", UNK]
    assert corpus.vocabulary.decode(corpus.train) == ["a", "b", "c", "<eos>", "b", "c", "d", "<eos>"]
    assert corpus.vocabulary.decode(corpus.valid) == ["a", UNK, "<eos>"]


def test_missing_and_empty_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus directory not found"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no corpus in"):
        load_corpus(tmp_path)
    write_corpus(tmp_path, test="\n\n")
    with pytest.raises(ValueError, match="empty.*ptb.test.txt"):
        load_corpus(tmp_path)
    (tmp_path / "ptb.valid.txt").unlink()
    with pytest.raises(FileNotFoundError, match="ptb.valid.txt"):
        load_corpus(tmp_path)


def test_batchify_layout():
    data = batchify(torch.arange(10), 3)
    assert data.shape == (3, 3)
    assert data[:, 0].tolist() == [0, 1, 2] and data[:, 1].tolist() == [3, 4, 5]
    with pytest.raises(ValueError, match="too few"):
        batchify(torch.arange(2), 3)


def test_penn_treebank_statistics(shared_data_dir):
    corpus = load_corpus(shared_data_dir / "ptb")
    assert len(corpus.vocabulary) == 10000
    assert (corpus.train.numel(), corpus.valid.numel(), corpus.test.numel()) == (929589, 73760, 82430)


def test_a_non_utf8_corpus_names_the_file_and_line(tmp_path):
    data = small_corpus(tmp_path / "corpus", BAD_UTF8)
    with pytest.raises(CorpusError, match=r"ptb\.train\.txt: line 3: not valid UTF-8 \(byte 0xff at column 4\)"):
        load_corpus(data)


@pytest.mark.parametrize("entry", ["train_lm", "egru train", "egru pipeline"])
def test_a_non_utf8_corpus_through_every_entry_point(entry, tmp_path, capsys):
    data = small_corpus(tmp_path / "corpus", BAD_UTF8)
    if entry == "train_lm":
        main, argv = train_lm.main, ["--data", str(data), *TINY_LM]
    elif entry == "egru train":
        main, argv = cli.main, ["train", "--task", "lm", "--data", str(data), "--", *TINY_LM]
    else:
        main, argv = cli.main, ["pipeline", "--task", "lm", "--quick", "--no-lava", "--data", str(data),
                                "--output-dir", str(tmp_path / "out")]
    code, _, err = exit_code(main, argv, capsys)
    assert code == 2
    one_error_line(err, str(data / "ptb.train.txt"), "line 3", "not valid UTF-8")
