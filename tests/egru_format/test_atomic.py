"""The one atomic writer (``egru_format.atomic``): its helpers, and a full disk as one ENOSPC error.

A full disk is a 64 KB tmpfs (the ``small_disk`` fixture of tests/conftest.py): every writer
fails with ``OSError(ENOSPC)`` naming the destination, which keeps its old content, and no
temporary file is left, whatever the library writing does with the failure.
"""

from __future__ import annotations

import errno
import io
import os

import h5py
import numpy as np
import pytest

import egru_format
from egru_format import (DenseLayer, EGRULayer, InputLayer, NetworkSpec, atomic_write, atomic_write_bytes,
                         atomic_write_stream, atomic_write_text, network_image, read_network, write_network)


def _spec(hidden: int = 4, inputs: int = 3, seed: int = 0) -> NetworkSpec:
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    return NetworkSpec([InputLayer(inputs), EGRULayer(f32(3 * hidden, inputs), f32(3 * hidden, hidden), f32(3 * hidden),
                                                      f32(3 * hidden), np.full(hidden, 0.1, np.float32)),
                        DenseLayer(f32(2, hidden), f32(2))])


def _left(directory) -> list:
    return sorted(os.listdir(directory))


def _assert_no_space(info, target) -> None:
    assert info.value.errno == errno.ENOSPC
    assert info.value.strerror == f"cannot write {target.name}: no space left on device ({target})"


# --------------------------------------------------------------------------- the helpers


def test_bytes_text_and_stream_helpers(tmp_path):
    assert atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert atomic_write_bytes(tmp_path / "v.bin", memoryview(np.arange(3, dtype=np.uint8))).read_bytes() == b"\0\1\2"
    assert atomic_write_text(tmp_path / "t.txt", "é\n").read_bytes() == "é\n".encode()
    assert atomic_write_text(tmp_path / "l.txt", "é", encoding="latin-1").read_bytes() == b"\xe9"
    path = atomic_write_stream(tmp_path / "x.npy", lambda stream: np.save(stream, np.arange(5.0)))
    np.testing.assert_array_equal(np.load(path), np.arange(5.0))
    assert _left(tmp_path) == ["a.bin", "l.txt", "t.txt", "v.bin", "x.npy"]


def test_the_stream_counts_what_it_wrote(tmp_path):
    def write(stream):
        assert stream.writable() and stream.tell() == 0
        stream.write(b"abc")
        stream.write(bytearray(b"de"))
        assert stream.tell() == 5

    assert atomic_write_stream(tmp_path / "s", write).read_bytes() == b"abcde"


def test_parents_creates_the_folder_else_it_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "a" / "b" / "r.json", "{}")
    assert atomic_write_text(tmp_path / "a" / "b" / "r.json", "{}", parents=True).read_text() == "{}"


@pytest.mark.parametrize("target", ["", "   "])
def test_an_empty_target_is_refused(target):
    with pytest.raises(ValueError, match="empty path"):
        atomic_write_bytes(target, b"x")


def test_a_failing_stream_writer_leaves_the_old_file(tmp_path):
    target = atomic_write_text(tmp_path / "r.txt", "old")

    def failing(stream):
        stream.write(b"new, half")
        raise RuntimeError("the library failed")

    with pytest.raises(RuntimeError, match="the library failed"):
        atomic_write_stream(target, failing)
    assert target.read_text() == "old" and _left(tmp_path) == ["r.txt"]


def test_network_image_is_the_file_byte_for_byte(tmp_path):
    spec = _spec()
    image = network_image(spec)
    assert write_network(spec, tmp_path / "n.h5").read_bytes() == image
    with h5py.File(io.BytesIO(image), "r") as f:
        assert sorted(f) == ["layer", "model"]
    pruned = _spec(hidden=8)
    pruned.layers[1].weight_hh[:, 1:] = 0.0
    assert write_network(pruned, tmp_path / "p.h5", sparse=True).read_bytes() == network_image(pruned, sparse=True)
    assert read_network(tmp_path / "p.h5").sparse_matrices == {"layer/1/weight_ih", "layer/1/weight_hh",
                                                               "layer/2/weight"}
    with pytest.raises(ValueError, match="sparse must be"):
        network_image(spec, sparse="csr")


# --------------------------------------------------------------------------- a full disk


def test_a_full_disk_is_one_enospc_error_for_a_network_file(small_disk):
    target = write_network(_spec(seed=1), small_disk / "net.h5")
    before = target.read_bytes()
    with pytest.raises(OSError) as info:
        write_network(_spec(hidden=64, inputs=64, seed=2), target)
    _assert_no_space(info, target)
    assert target.read_bytes() == before and _left(small_disk) == ["net.h5"]
    write_network(_spec(seed=3), target)               # room again: the next write goes through
    assert read_network(target) == _spec(seed=3)


def test_a_full_disk_is_one_enospc_error_for_every_helper(small_disk):
    target = atomic_write_text(small_disk / "out", "old")
    big = np.zeros(200_000, np.uint8)
    writes = {
        "bytes": lambda: atomic_write_bytes(target, big.tobytes()),
        "text": lambda: atomic_write_text(target, "x" * 200_000),
        "np.save": lambda: atomic_write_stream(target, lambda stream: np.save(stream, big)),
        "path": lambda: atomic_write(target, lambda tmp: tmp.write_bytes(big.tobytes())),
    }
    for name, write in writes.items():
        with pytest.raises(OSError) as info:
            write()
        _assert_no_space(info, target)
        assert target.read_text() == "old" and _left(small_disk) == ["out"], name


def test_a_writer_that_hides_enospc_in_another_error_is_still_enospc(small_disk):
    """torch.save and h5py turn a failed write into a RuntimeError: the writer reports the disk."""
    target = atomic_write_text(small_disk / "out", "old")

    def hiding_stream(stream):
        try:
            stream.write(bytes(200_000))
        except OSError:
            raise RuntimeError("unexpected pos 64 vs 0") from None

    def hiding_path(tmp):
        try:
            tmp.write_bytes(bytes(200_000))
        except OSError:
            raise RuntimeError("file write failed") from None

    def swallowing_stream(stream):
        try:
            stream.write(bytes(200_000))
        except OSError:
            pass

    for write in (lambda: atomic_write_stream(target, hiding_stream), lambda: atomic_write(target, hiding_path),
                  lambda: atomic_write_stream(target, swallowing_stream)):
        with pytest.raises(OSError) as info:
            write()
        _assert_no_space(info, target)
        assert target.read_text() == "old" and _left(small_disk) == ["out"]


def test_another_error_on_a_disk_with_room_is_left_as_it_is(small_disk):
    with pytest.raises(RuntimeError, match="not a disk problem"):
        atomic_write(small_disk / "out", lambda tmp: (_ for _ in ()).throw(RuntimeError("not a disk problem")))
    assert _left(small_disk) == []


def test_enospc_when_creating_the_temporary_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(egru_format.atomic.os, "open", full)
    with pytest.raises(OSError) as info:
        atomic_write_text(tmp_path / "r.txt", "x")
    monkeypatch.undo()
    _assert_no_space(info, tmp_path / "r.txt")
    assert _left(tmp_path) == []


def test_docstring_examples():
    import doctest

    result = doctest.testmod(egru_format.atomic, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
