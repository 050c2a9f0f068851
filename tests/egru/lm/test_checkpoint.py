"""Training checkpoints (egru.lm.checkpoint): a missing, foreign or corrupt checkpoint is an error that names
the file; at the trainer's command line, one error line."""

from __future__ import annotations

import pytest
import torch

from egru import train_lm
from egru.lm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests.egru._helpers import TINY_LM, exit_code, one_error_line, small_corpus


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_checkpoint_is_one_error_line_naming_it(damage, tmp_path, capsys):
    data, out = small_corpus(tmp_path / "corpus"), tmp_path / "run"
    out.mkdir()
    checkpoint = out / "checkpoint.pt"
    if damage == "garbage":
        checkpoint.write_bytes(b"\x80\x02not a checkpoint" * 10)
    else:
        save_checkpoint(checkpoint, {"config": {}, "weights": torch.randn(200)})
        checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=str(checkpoint)):
        load_checkpoint(checkpoint)
    code, _, err = exit_code(train_lm.main, ["--data", str(data), "--output-dir", str(out), "--resume", *TINY_LM],
                             capsys)
    assert code == 2
    one_error_line(err, "cannot load the checkpoint", str(checkpoint))


def test_load_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_checkpoint(tmp_path)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_checkpoint(tmp_path / "list.pt")


def test_save_checkpoint_on_a_full_disk_is_enospc_and_keeps_the_previous_one(small_disk):
    import errno

    from tests.conftest import fill_disk

    checkpoint = small_disk / "run" / "checkpoint.pt"
    save_checkpoint(checkpoint, {"step": 1})                   # the folder is created
    before = checkpoint.read_bytes()
    fill_disk(small_disk, leave=4096)
    with pytest.raises(OSError) as info:                       # torch.save alone raises RuntimeError here
        save_checkpoint(checkpoint, {"step": 2, "weights": torch.zeros(100_000)})
    assert info.value.errno == errno.ENOSPC and str(checkpoint) in str(info.value)
    assert checkpoint.read_bytes() == before and sorted(p.name for p in checkpoint.parent.iterdir()) == [
        "checkpoint.pt"]


def test_write_text_atomic_is_deprecated_for_the_hubs_writer(tmp_path):
    import egru.lm.checkpoint as checkpoint_module

    with pytest.warns(DeprecationWarning, match="egru_format.atomic_write_text"):
        write_text_atomic = checkpoint_module.write_text_atomic
    assert write_text_atomic(tmp_path / "new" / "r.json", "{}").read_text() == "{}"     # its folder created
