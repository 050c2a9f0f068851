"""``egru train --task lm``: the trainer's errors through the ``egru`` command are one line too."""

from egru import cli
from tests.egru._helpers import TINY_LM, exit_code, one_error_line, small_corpus


def test_a_batch_larger_than_the_corpus_is_one_error_line(tmp_path, capsys):
    data = small_corpus(tmp_path / "corpus")
    code, _, err = exit_code(cli.main, ["train", "--task", "lm", "--data", str(data), "--", *TINY_LM,
                                        "--batch-size", "5000"], capsys)
    assert code == 2
    one_error_line(err, "205 training tokens are too few for batch size 5000", "at most 102")
