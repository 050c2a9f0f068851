"""``egru lava``: the input must be one array (.npy); the output a file, written atomically (a full disk
leaves the previous file)."""

import numpy as np
import pytest

from egru import cli
from tests.egru._helpers import exit_code, one_error_line, small_network


def test_an_npz_archive_is_named_with_how_to_pass_one_array(tmp_path, capsys):
    np.savez(tmp_path / "x.npz", a=np.zeros((6, 3)), b=np.ones(2))
    code, _, err = exit_code(cli.main, ["lava", str(small_network(tmp_path)), "--input", str(tmp_path / "x.npz")],
                             capsys)
    assert code == 2
    one_error_line(err, "x.npz is an .npz archive (arrays: a, b)", "one array in a .npy file",
                   f"np.save('x.npy', np.load('{tmp_path / 'x.npz'}')['a'])")
    assert "string" not in err


@pytest.mark.parametrize("output, message", [("", "cannot write to an empty path"),
                                             ("DIR", "it is a directory")])
def test_an_empty_or_directory_output_is_refused(tmp_path, capsys, output, message):
    (tmp_path / "DIR").mkdir()
    np.save(tmp_path / "x.npy", np.zeros((6, 3)))
    argv = ["lava", str(small_network(tmp_path)), "--input", str(tmp_path / "x.npy"), "--output",
            str(tmp_path / output) if output else ""]
    code, out, err = exit_code(cli.main, argv, capsys)
    assert code == 2 and out == ""
    one_error_line(err, "argument --output", message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DIR", "net.h5", "x.npy"]


@pytest.mark.lava
def test_the_output_is_written_where_the_report_says(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((6, 3)))
    net = small_network(tmp_path)
    for output, written in (("y.npy", "y.npy"), ("y", "y.npy"), ("z.out", "z.out.npy")):
        assert cli.main(["lava", str(net), "--input", str(tmp_path / "x.npy"), "--output",
                         str(tmp_path / output)]) == 0
        assert f"outputs written to {tmp_path / written}\n" in capsys.readouterr().out
        assert np.load(tmp_path / written).shape == (6, 4)


@pytest.mark.lava
def test_a_full_disk_is_one_error_line_and_keeps_the_previous_output(tmp_path, small_disk, capsys):
    from tests.conftest import fill_disk

    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((6, 3)))
    target = small_disk / "y.npy"
    np.save(target, np.zeros(1))                      # the previous output
    before = target.read_bytes()
    fill_disk(small_disk)
    code, _, err = exit_code(cli.main, ["lava", str(small_network(tmp_path)), "--input", str(tmp_path / "x.npy"),
                                        "--output", str(target)], capsys)
    assert code == 2
    one_error_line(err, f"cannot write y.npy: no space left on device ({target})")
    assert target.read_bytes() == before and sorted(p.name for p in small_disk.iterdir()) == ["filler", "y.npy"]
