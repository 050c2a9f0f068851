"""``egru prune``: magnitude pruning of a network file, equal to snntorch_egru.pruning; errors name the target."""

import numpy as np

from egru import cli
from tests.egru._helpers import exit_code, one_error_line, small_network


def test_prune_a_network_file(tmp_path, capsys):
    import converters
    from snntorch_egru import EGRU

    src = converters.export(EGRU(4, 16), tmp_path / "net.h5")
    assert cli.main(["prune", str(src), str(tmp_path / "pruned.h5"), "--sparsity", "0.75"]) == 0
    spec = converters.read_network(tmp_path / "pruned.h5")
    w = np.concatenate([spec.layers[1].weight_ih.ravel(), spec.layers[1].weight_hh.ravel()])
    assert abs((w == 0).mean() - 0.75) < 0.01
    assert "written to" in capsys.readouterr().out


def test_prune_equals_the_pruning_library(tmp_path, capsys):
    """``egru prune`` on a file == snntorch_egru.pruning's global magnitude Pruner on the model, bit for bit
    (two layers, and weights on a coarse grid so that many magnitudes tie at the threshold)."""
    import torch

    import converters
    from snntorch_egru import EGRU
    from snntorch_egru.pruning import Pruner

    torch.manual_seed(0)
    rnn = EGRU(4, [16, 8])
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if name.startswith("weight_"):
                p.copy_(torch.round(p * 20) / 20)
    src = converters.export(rnn, tmp_path / "net.h5", sparse=False)
    for sparsity in (0.0, 0.5, 0.83):
        out = tmp_path / f"pruned{sparsity}.h5"
        assert cli.main(["prune", str(src), str(out), "--sparsity", str(sparsity)]) == 0
        expected = converters.load_snntorch(src)
        Pruner(expected, targets=("input", "recurrent"), scope="global").prune(sparsity)
        got = converters.load_snntorch(out)
        for name, value in expected.named_parameters():
            assert torch.equal(dict(got.named_parameters())[name], value), (sparsity, name)
    capsys.readouterr()


def test_writing_into_a_directory_names_the_target(tmp_path, capsys):
    net = small_network(tmp_path)
    (tmp_path / "adir").mkdir()
    code, _, err = exit_code(cli.main, ["prune", str(net), str(tmp_path / "adir")], capsys)
    assert code == 2
    one_error_line(err, f"cannot write {tmp_path / 'adir'}: it is a directory")
    assert ".tmp" not in err


def test_an_empty_output_path_is_one_error_line(tmp_path, capsys):
    code, _, err = exit_code(cli.main, ["prune", str(small_network(tmp_path)), ""], capsys)
    assert code == 2
    one_error_line(err, "argument output: cannot write to an empty path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.h5"]


def test_a_full_disk_is_one_error_line_and_leaves_the_destination(tmp_path, small_disk, capsys):
    import converters
    from snntorch_egru import EGRU
    from tests.conftest import fill_disk

    src = converters.export(EGRU(40, 60), tmp_path / "net.h5")
    target = converters.export(EGRU(3, 5), small_disk / "pruned.h5")
    before = target.read_bytes()
    fill_disk(small_disk, leave=8192)
    code, _, err = exit_code(cli.main, ["prune", str(src), str(target)], capsys)
    assert code == 2
    one_error_line(err, f"cannot write pruned.h5: no space left on device ({target})")
    assert target.read_bytes() == before and sorted(p.name for p in small_disk.iterdir()) == ["filler", "pruned.h5"]
