"""One atomic writer for every file the project writes: network files, arrays, models,
checkpoints, JSON results, tables, plots.

:func:`atomic_write` fills a hidden temporary file beside the target, fsyncs it and moves
it over the target with ``os.replace``: a reader sees the old file or the complete new
one, never a torn file, and a failed or interrupted write leaves the target as it was and
no temporary file behind. Three helpers cover what the project writes:

- :func:`atomic_write_bytes` (``bytes`` already in memory: a network file's HDF5 image),
- :func:`atomic_write_text` (JSON, tables, logs),
- :func:`atomic_write_stream` (a library writing to a binary stream: ``torch.save``,
  ``np.save``, matplotlib's ``savefig``).

A full disk is one error, whatever the writer: ``OSError`` with ``errno.ENOSPC`` and the
message ``cannot write NAME: no space left on device (PATH)``. The bytes and stream helpers
write with ordinary ``os.write`` calls, which report ``ENOSPC`` as such; a stream writer
that turns the failure into another exception (``torch.save`` raises ``RuntimeError``)
is reported by the ``OSError`` of the write that failed.

    >>> import numpy as np, os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> atomic_write_text(os.path.join(folder, "notes.txt"), "done").read_text()
    'done'
    >>> path = atomic_write_stream(os.path.join(folder, "x.npy"), lambda f: np.save(f, np.arange(3)))
    >>> np.load(path)
    array([0, 1, 2])
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, Union

from .signals import Interrupted, SignalGuard

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_write_stream",
           "remove_stale_temporaries", "target_path", "NO_SPACE_ERRNOS", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]

#: The errno values of a full file system (no space; quota exhausted where the platform has EDQUOT).
NO_SPACE_ERRNOS = tuple(getattr(errno, name) for name in ("ENOSPC", "EDQUOT") if hasattr(errno, name))


def _fsync_path(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


#: ``.{name}.{pid}-{12 hex}.tmp``: the temporary file of a write of ``name`` by process ``pid``
#: (``.{name}.{12 hex}.tmp``: by an earlier version of this module, which did not record the pid).
_TMP_PATTERN = r"\.{name}\.(?:(?P<pid>\d+)-)?[0-9a-f]{{12}}\.tmp"
#: The temporary files this process is writing now (never removed as stale).
_ACTIVE_TMP: set = set()


def target_path(path: PathLike) -> Path:
    """``path`` as a ``Path`` for writing: ValueError for an empty path, IsADirectoryError for a directory."""
    text = os.fspath(path)
    if not isinstance(text, str) or text.strip() == "":
        raise ValueError(f"cannot write to an empty path ({path!r}): give a file name")
    target = Path(text)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write {target}: it is a directory")
    return target


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):      # another user's live process, or no way to tell
        return True
    return True


def remove_stale_temporaries(path: PathLike) -> list:
    """Remove the temporary files that killed writers of ``path`` left beside it; return them.

    Only files of ``path``'s own pattern ``.{name}.{pid}-{hex}.tmp`` (and the pid-less
    ``.{name}.{hex}.tmp`` of earlier versions) are candidates, never another target's; a
    file whose writing process is still alive (this process's current writes included)
    is kept.
    """
    path = Path(os.fspath(path))
    pattern = re.compile(_TMP_PATTERN.format(name=re.escape(path.name)))
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        candidate = Path(entry.path)
        if candidate in _ACTIVE_TMP:
            continue
        pid = match.group("pid")
        if pid is not None and _pid_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(candidate)
            removed.append(candidate)
    return removed


def _fail(path: Path, exc: OSError):
    """The same kind of OSError as ``exc``, naming the target ``path`` instead of the temporary file."""
    return type(exc)(exc.errno, f"cannot write {path}: {exc.strerror or exc}")


def _no_space(path: Path, exc: BaseException):
    """The ENOSPC error naming ``path`` when ``exc`` is a full file system's failure, else None."""
    if isinstance(exc, OSError):
        full = exc.errno in NO_SPACE_ERRNOS
    elif isinstance(exc, Exception):
        try:
            full = os.statvfs(path.parent).f_bavail == 0
        except (AttributeError, OSError):   # no statvfs (Windows), or no answer
            full = False
    else:                                   # KeyboardInterrupt, SystemExit, a guarded signal
        full = False
    if not full:
        return None
    return OSError(errno.ENOSPC, f"cannot write {path.name}: no space left on device ({path})")


def atomic_write(path: PathLike, write: Callable[[Path], None], *, parents: bool = False) -> Path:
    """Create ``path`` atomically: ``write(tmp)`` fills a temporary file, which then replaces ``path``.

    The temporary file ``.{name}.{pid}-{random}.tmp`` is created (exclusively, with the
    umask's permissions) in ``path``'s directory, which must exist
    (``FileNotFoundError`` otherwise; ``parents=True`` creates it first, as ``mkdir -p``). After ``write`` returns, the file is fsynced and
    moved over ``path`` with ``os.replace``, then the directory is fsynced. Any exception,
    ``KeyboardInterrupt`` included, removes the temporary file and leaves an existing
    ``path`` untouched. Returns ``path`` as a ``Path``.

    Errors name ``path``, not the temporary file: ``ValueError`` for an empty path,
    ``IsADirectoryError`` when ``path`` is a directory, ``PermissionError`` (and other
    ``OSError``) when the directory is not writable. A full file system, wherever the
    write meets it (creating, writing, syncing the temporary file), is ``OSError`` with
    ``errno.ENOSPC`` and the message ``cannot write NAME: no space left on device (PATH)``;
    so is an exception of another type raised by ``write`` while the file system has no
    free block left (h5py and ``torch.save`` writing to a path raise ``RuntimeError`` there).

    Interrupts: in the main thread, SIGINT and SIGTERM with their default handling are
    caught for the duration of the write: the temporary file is removed, the previous
    handlers are restored, and the signal then takes effect as it would have
    (``KeyboardInterrupt`` for SIGINT, even when a library such as h5py swallowed it
    during the write; the process ends by SIGTERM). A writer killed outright (SIGKILL,
    power loss) leaves its temporary file; the next write of the same ``path`` removes
    it (:func:`remove_stale_temporaries`). ``path`` itself is only ever replaced by a
    complete file.

        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
        >>> atomic_write(target, lambda tmp: tmp.write_text("done")).read_text()
        'done'
    """
    path = target_path(path)
    directory = path.parent
    if parents:
        directory.mkdir(parents=True, exist_ok=True)
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"cannot write {path}: directory {directory} does not exist")
    remove_stale_temporaries(path)
    tmp = directory / f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp"
    guard = SignalGuard()
    try:
        with guard:
            try:
                try:
                    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
                except OSError as exc:
                    raise _fail(path, exc) from None
                _ACTIVE_TMP.add(tmp)
                os.close(fd)
                write(tmp)
                guard.check()          # a signal whose exception the writer swallowed
                _fsync_path(tmp)
                guard.check()
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    raise _fail(path, exc) from None
            except BaseException as exc:
                full = _no_space(path, exc)     # asked before the temporary file frees its blocks
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                if full is not None:
                    raise full from (None if isinstance(exc, OSError) else exc)
                raise
            finally:
                guard.active = False
    except Interrupted as exc:
        if exc.guard is not guard:     # an enclosing write's signal: that write handles it
            raise
    except BaseException:
        if guard.pending is None:
            raise
    finally:
        _ACTIVE_TMP.discard(tmp)
    if guard.pending is not None:
        guard.redeliver()              # the write is undone (or complete, if the signal came during os.replace)
    _fsync_directory(directory)
    return path


class _Sink(io.RawIOBase):
    """The temporary file as an unbuffered binary stream that keeps the ``OSError`` of a failed write.

    Not a ``FileIO`` (no ``fileno``): numpy then writes through :meth:`write` instead of
    ``ndarray.tofile``, whose failures carry no errno.
    """

    def __init__(self, fd: int):
        super().__init__()
        self._fd, self._position = fd, 0
        self.error = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                done += os.write(self._fd, view[done:])
        except OSError as exc:
            self.error = exc
            raise
        finally:
            self._position += done
        return done

    def tell(self) -> int:
        return self._position


def atomic_write_stream(path: PathLike, write: Callable[[BinaryIO], None], *, parents: bool = False) -> Path:
    """Create ``path`` atomically from ``write(stream)``, which writes the content to a binary stream.

    For libraries that write to file objects: ``torch.save(obj, stream)``,
    ``np.save(stream, array)``, ``figure.savefig(stream, format="png")``. The stream is
    the temporary file of :func:`atomic_write` (same guarantees, same errors), written
    with ``os.write`` and without buffering; it has ``write`` and ``tell``, no ``seek``.
    When a write fails (a full disk) and ``write`` turns that ``OSError`` into another
    exception, that ``OSError`` is raised instead (the ENOSPC error naming ``path``).

        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "blob.bin")
        >>> atomic_write_stream(target, lambda stream: stream.write(b"abc")).read_bytes()
        b'abc'
    """
    def fill(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        sink = _Sink(fd)
        try:
            write(sink)
        except Exception as exc:
            if sink.error is not None and exc is not sink.error:
                raise sink.error from exc
            raise
        finally:
            os.close(fd)
        if sink.error is not None:          # the writer swallowed its failure
            raise sink.error

    return atomic_write(path, fill, parents=parents)


def atomic_write_bytes(path: PathLike, data, *, parents: bool = False) -> Path:
    """Create ``path`` atomically holding ``data`` (``bytes`` or any contiguous buffer); return the path.

        >>> import os, tempfile
        >>> atomic_write_bytes(os.path.join(tempfile.mkdtemp(), "b.bin"), b"\\x00\\x01").read_bytes()
        b'\\x00\\x01'
    """
    return atomic_write_stream(path, lambda stream: stream.write(data), parents=parents)


def atomic_write_text(path: PathLike, text: str, *, encoding: str = "utf-8", parents: bool = False) -> Path:
    """Create ``path`` atomically holding ``text`` (UTF-8 unless ``encoding`` says otherwise); return the path.

        >>> import os, tempfile
        >>> atomic_write_text(os.path.join(tempfile.mkdtemp(), "r.json"), '{"ok": true}').read_text()
        '{"ok": true}'
    """
    return atomic_write_bytes(path, text.encode(encoding), parents=parents)
