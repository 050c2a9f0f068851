"""``egru export``: a saved torch model to a network file; a model the format cannot hold is one error line."""

import errno

import pytest
import torch

from egru import cli
from tests.egru._helpers import exit_code, one_error_line


def test_export_a_saved_model(tmp_path, capsys):
    import torch

    import converters
    from snntorch_egru import EGRU

    torch.save(EGRU(3, 5), tmp_path / "model.pt")
    assert cli.main(["export", str(tmp_path / "model.pt"), str(tmp_path / "net.h5")]) == 0
    assert [layer.type for layer in converters.read_network(tmp_path / "net.h5").layers] == ["input", "egru"]
    torch.save({"a": torch.zeros(1)}, tmp_path / "state.pt")
    code, _, err = exit_code(cli.main, ["export", str(tmp_path / "state.pt"), str(tmp_path / "x.h5")], capsys)
    assert code == 2 and "state_dict" in err


def test_exporting_a_signed_event_model_keeps_its_polarity(tmp_path):
    from egru_format import read_network
    from snntorch_egru import EGRULanguageModel

    saved = tmp_path / "signed.pt"
    torch.save(EGRULanguageModel(20, 6, [8, 6], tie_weights=True, polarity="signed"), saved)
    assert cli.main(["export", str(saved), str(tmp_path / "out.h5")]) == 0
    assert [layer.polarity for layer in read_network(tmp_path / "out.h5").egru_layers] == ["signed", "signed"]


def test_a_full_disk_is_one_error_line_and_leaves_the_destination(tmp_path, small_disk, capsys):
    import converters
    from snntorch_egru import EGRU
    from tests.conftest import fill_disk

    torch.save(EGRU(3, 5), tmp_path / "small.pt")
    torch.save(EGRU(40, 60), tmp_path / "large.pt")
    target = small_disk / "net.h5"
    assert cli.main(["export", str(tmp_path / "small.pt"), str(target)]) == 0
    before = target.read_bytes()
    fill_disk(small_disk, leave=8192)
    code, _, err = exit_code(cli.main, ["export", str(tmp_path / "large.pt"), str(target)], capsys)
    assert code == 2
    one_error_line(err, f"cannot write net.h5: no space left on device ({target})")
    assert target.read_bytes() == before and sorted(p.name for p in small_disk.iterdir()) == ["filler", "net.h5"]
    with pytest.raises(OSError, match=r"no space left on device") as info:      # the Python API: an OSError
        converters.export(torch.load(tmp_path / "large.pt", weights_only=False), target)
    assert info.value.errno == errno.ENOSPC and target.read_bytes() == before
