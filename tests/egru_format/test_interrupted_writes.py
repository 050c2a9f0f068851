"""Interrupted and failing writes (``egru_format.atomic_write``, used by every file writer).

SIGINT and SIGTERM during a write remove the temporary file and still end the process as
the signal would (also when the exception was swallowed during the write, as h5py can);
SIGKILL leaves the temporary file, and the next write to the same target removes it;
the destination is only ever replaced by a complete file; errors name the target.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from egru_format import DenseLayer, InputLayer, NetworkSpec, atomic_write, read_network, write_network
from egru_format import io as format_io
from tests.conftest import REPO_ROOT, sigint_default_in_child


#: The child writes a network file whose write (after the HDF5 content) waits up to 60 s,
#: so the parent can signal it while the temporary file exists. mode "swallow": the write
#: catches the interrupt's exception and returns normally, as h5py's finalisers can.
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from egru_format import DenseLayer, InputLayer, NetworkSpec, write_network
    from egru_format import io

    target, mode = sys.argv[1], sys.argv[2]
    original = io._write_contents

    def slow(f, spec, model, sparse):
        original(f, spec, model, sparse)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except BaseException:
                if mode != "swallow":
                    raise
                print("swallowed", flush=True)
                return

    io._write_contents = slow
    write_network(NetworkSpec([InputLayer(3), DenseLayer(np.full((2, 3), 7.0, np.float32))]), target)
    print("completed", flush=True)
""")


def _spec(value: float) -> NetworkSpec:
    return NetworkSpec([InputLayer(3), DenseLayer(np.full((2, 3), value, np.float32))])


def _temporaries(directory: Path) -> list:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _start_child(target: Path, mode: str = "plain") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(target), mode], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default_in_child)
    deadline = time.monotonic() + 60
    while not _temporaries(target.parent):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the child wrote no temporary file (rc {proc.returncode}): {out} {err}")
        time.sleep(0.01)
    time.sleep(0.2)          # inside the slow part of the write
    return proc


@pytest.fixture
def old_file(tmp_path):
    target = write_network(_spec(1.0), tmp_path / "net.h5")
    return target, target.read_bytes()


@pytest.mark.parametrize("signum, mode", [(signal.SIGTERM, "plain"), (signal.SIGINT, "plain"),
                                          (signal.SIGINT, "swallow")])
def test_sigterm_and_sigint_remove_the_temporary_file_and_end_the_process(old_file, signum, mode):
    target, before = old_file
    proc = _start_child(target, mode)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signum, (out, err)     # ended by the signal itself
    assert "completed" not in out
    if mode == "swallow":
        assert "swallowed" in out                      # the write returned, the signal was not lost
    assert _temporaries(target.parent) == []
    assert target.read_bytes() == before               # the old destination, intact
    assert "Traceback" not in err or signum == signal.SIGINT


def test_sigkill_leaves_a_temporary_file_that_the_next_write_removes(old_file, tmp_path):
    target, before = old_file
    (tmp_path / "other.h5").write_bytes(b"x")
    proc = _start_child(target)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = _temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".net.h5.")
    assert target.read_bytes() == before
    # a stale file of another target stays: only the written target's own are cleaned up
    other_stale = tmp_path / left[0].replace(".net.h5.", ".other.h5.")
    (tmp_path / left[0]).rename(other_stale)
    (tmp_path / left[0]).write_bytes(b"stale")
    write_network(_spec(2.0), target)
    assert _temporaries(tmp_path) == [other_stale.name]
    assert read_network(target) == _spec(2.0)


def test_stale_temporaries_of_live_writers_and_other_targets_are_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {
        f".net.h5.{dead.pid}-0123456789ab.tmp": False,       # a killed writer's: removed
        ".net.h5.0123456789ab.tmp": False,                    # the pid-less name of earlier versions: removed
        f".net.h5.{os.getpid()}-0123456789ab.tmp": True,     # a live process's: kept
        f".other.h5.{dead.pid}-0123456789ab.tmp": True,      # another target's: kept
        f".net.h5.{dead.pid}-xyz.tmp": True,                  # not the pattern: kept
        ".net.h5x.0123456789ab.tmp": True,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"")
    write_network(_spec(1.0), tmp_path / "net.h5")
    assert set(_temporaries(tmp_path)) == {name for name, kept in names.items() if kept}


@pytest.fixture
def default_sigint():
    """SIGINT with Python's default handling for the test (a test run started in the background
    inherits it ignored), the previous handling restored afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored_and_the_write_completes(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)       # as under nohup or in a background job
    try:
        def write(tmp):
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.01)
            tmp.write_text("done")

        assert atomic_write(tmp_path / "a.txt", write).read_text() == "done"
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert _temporaries(tmp_path) == []


def test_sigint_swallowed_in_process_still_raises_keyboard_interrupt(old_file, default_sigint):
    target, before = old_file

    def swallowing_write(tmp):
        tmp.write_bytes(b"partial")
        try:
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.01)
        except BaseException:     # as h5py's "Exception ignored in ..." does
            pass

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, swallowing_write)
    assert target.read_bytes() == before and _temporaries(target.parent) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler     # restored
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_application_signal_handler_is_left_alone(tmp_path):
    calls = []

    def handler(signum, frame):
        calls.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        def write(tmp):
            assert signal.getsignal(signal.SIGTERM) is handler
            signal.raise_signal(signal.SIGTERM)
            time.sleep(0.01)
            tmp.write_text("done")

        assert atomic_write(tmp_path / "a.txt", write).read_text() == "done"
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == [signal.SIGTERM]


@pytest.mark.parametrize("path", ["", "   "])
def test_an_empty_path_is_a_clear_value_error(path):
    with pytest.raises(ValueError, match="empty path"):
        atomic_write(path, lambda tmp: tmp.write_text("x"))
    with pytest.raises(ValueError, match="empty path"):
        write_network(_spec(1.0), path)


def test_writing_onto_a_directory_names_the_target(tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        write_network(_spec(1.0), target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    assert _temporaries(tmp_path) == []


def test_a_read_only_folder_names_the_target(tmp_path, monkeypatch):
    # the tests may run as root, which ignores permissions: the refusal is simulated
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(format_io.os, "open", refuse)
    with pytest.raises(PermissionError) as info:
        write_network(_spec(1.0), tmp_path / "net.h5")
    message = str(info.value)
    assert f"cannot write {tmp_path / 'net.h5'}" in message and ".tmp" not in message
    assert "Permission denied" in message


def test_an_unreadable_network_file_is_a_permission_error(tmp_path, monkeypatch):
    target = write_network(_spec(1.0), tmp_path / "net.h5")
    monkeypatch.setattr(format_io.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="permission denied") as info:
        read_network(target)
    assert str(target) in str(info.value) and "truncated" not in str(info.value)


def test_export_to_an_empty_path_is_a_value_error():
    pytest.importorskip("torch")
    import converters
    from snntorch_egru import EGRU

    with pytest.raises(ValueError, match="empty path"):
        converters.export(EGRU(2, 3), "")
