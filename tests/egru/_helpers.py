"""Helpers shared by the tests of the application (``egru``): calling a command line's ``main``,
the one error line it prints, and small inputs (a corpus folder, a network file, a tiny training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from egru_format import EGRULayer, InputLayer, NetworkSpec, write_network

#: Trainer flags for a language model that trains in a moment.
TINY_LM = ["--embedding-size", "4", "--hidden-sizes", "4", "--epochs", "1", "--batch-size", "2", "--bptt", "5",
           "--no-progress", "--no-test"]
#: Corpus text whose line 3 is not valid UTF-8 (byte 0xff at column 4).
BAD_UTF8 = b"w1 w2 w3\nw4 w5\nw6 \xff\xfe w7\nw8\n"
#: The neuron of the reference LM recipe (docs/lm-recipe.md), as LMConfig fields.
REFERENCE_NEURON = dict(surrogate_dampening=3.6, surrogate_width=3.6, threshold_init="beta", threshold=0.01,
                        threshold_beta=3.0, threshold_max=1.0, threshold_lr_scale=0.0)


def exit_code(main, argv, capsys):
    """Call ``main(argv)``, which must exit (SystemExit): its exit code and what it printed, ``(code, out, err)``."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def one_error_line(err: str, *parts: str) -> None:
    """``err`` is the single line ``egru: error: ...``, no traceback, and contains every one of ``parts``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("egru: error: "), err
    assert "Traceback" not in err
    for part in parts:
        assert part in lines[0], (part, lines[0])


def small_corpus(directory: Path, train: bytes = None) -> Path:
    """A corpus folder in PTB's layout (seven words), its training file replaced by the bytes ``train`` if given."""
    directory.mkdir(parents=True, exist_ok=True)
    words = " ".join(f"w{i % 7}" for i in range(40))
    for split in ("train", "valid", "test"):
        (directory / f"ptb.{split}.txt").write_text((words + "\n") * 5)
    if train is not None:
        (directory / "ptb.train.txt").write_bytes(train)
    return directory


def small_network(tmp_path, name="net.h5"):
    """A small valid network file (one EGRU layer) that is not a digits classifier."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    spec = NetworkSpec([InputLayer(3), EGRULayer(f32(12, 3), f32(12, 4), f32(12), f32(12),
                                                 np.full(4, 0.1, np.float32))], {"class": "EGRU"})
    return write_network(spec, tmp_path / name)
