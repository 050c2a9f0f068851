"""argparse ``type=`` functions and the error reporting shared by the ``egru`` command and
``python -m egru.train_lm``.

Each one parses one command-line value and raises :class:`argparse.ArgumentTypeError`
(:class:`OneLineParser` then prints the single line ``egru: error: argument --x: ...`` and
exits with code 2) for a value that makes no sense: the wrong kind of number, NaN/Inf, a count
below its minimum, a fraction outside its range. Every numeric option of both command
lines uses one of these; nothing is silently accepted. :func:`output_file` checks a path to
write to. A failure while running is one line too (:func:`error_text`; a full disk or a
read-only file system: :data:`WRITE_ERRNOS`), and Ctrl-C ends with
:data:`INTERRUPTED_EXIT_CODE` after the line ``egru: interrupted``.

    >>> positive_int("3"), nonnegative_int("0"), positive_float("1e-3"), fraction("0.5"), boolean("yes")
    (3, 0, 0.001, 0.5, True)
    >>> positive_int("-3")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a positive integer (>= 1), got '-3'
"""

from __future__ import annotations

import argparse
import errno
import math
import os
from pathlib import Path

from egru_format.atomic import NO_SPACE_ERRNOS

__all__ = ["OneLineParser", "positive_int", "token_count", "nonnegative_int", "finite_float", "positive_float", "nonnegative_float",
           "fraction", "unit_interval", "beta_coefficient", "boolean", "existing_file", "existing_path", "output_file", "TRUE_WORDS",
           "FALSE_WORDS", "INTERRUPTED_EXIT_CODE", "WRITE_ERRNOS", "error_text"]

#: Exit code after Ctrl-C (128 + SIGINT, as a shell reports a process that SIGINT ended).
INTERRUPTED_EXIT_CODE = 130
#: errno values of a write that the environment refused: a full disk or quota, a read-only file system.
WRITE_ERRNOS = NO_SPACE_ERRNOS + (errno.EROFS,)


def error_text(exc: BaseException) -> str:
    """``exc`` as the text of an ``egru: error:`` line: an ``OSError(errno, message)`` without ``[Errno N]``."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is None:
        return exc.strerror
    return str(exc)

class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line, ``egru: error: <what> (see <prog> --help)``,
    with exit code 2: the form every error of the command line takes. Subparsers inherit it."""

    def error(self, message: str):
        self.exit(2, f"egru: error: {message} (see `{self.prog} --help`)\n")


#: The spellings a boolean option accepts (case-insensitive); anything else is an error.
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes"), ("false", "0", "no")


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count that must be at least 1 (epochs, units, batch size, tokens)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (>= 1), got {text!r}")
    return value


def token_count(text: str) -> int:
    """A number of tokens of a language-model split: at least 2 (one input and one target)."""
    value = _integer(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2 (an input and a target token), got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """A count or seed where 0 is meaningful (the option's help says what 0 means)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (>= 0), got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (NaN and Inf rejected)."""
    return _float(text)


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, thresholds, surrogate parameters)."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 where 0 is meaningful (weight decay, clipping off, lr scale 0 = frozen)."""
    value = _float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A fraction in [0, 1): dropout probabilities, sparsities (1 would remove everything)."""
    value = _float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def unit_interval(text: str) -> float:
    """A fraction in [0, 1], both ends meaningful (e.g. the cosine-decay fraction of the training)."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def beta_coefficient(text: str) -> float:
    """An Adam beta in [0, 1)."""
    return fraction(text)


def boolean(text: str) -> bool:
    """``true``/``false``, ``1``/``0`` or ``yes``/``no`` (any case); anything else is an error."""
    value = text.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (or 1/0, yes/no), got {text!r}")


def existing_file(text: str) -> Path:
    """A path to an existing, readable regular file (a directory or an unreadable file is named as such)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"is a directory, not a file: {text}")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"not a regular file: {text}")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"permission denied: cannot read {text}")
    return path


def existing_path(text: str) -> Path:
    """An existing, readable file or directory (e.g. a run directory of the reference, or its checkpoint).

    >>> existing_path("/no/such/run")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: no such file or directory: /no/such/run
    """
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or directory: {text}")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"permission denied: cannot read {text}")
    return path


def output_file(text: str) -> Path:
    """A file to write: not empty, not a directory (its folder is checked when it is written).

    >>> str(output_file("out/model.h5"))
    'out/model.h5'
    >>> output_file("")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: cannot write to an empty path: give a file name
    """
    if text.strip() == "":
        raise argparse.ArgumentTypeError(f"cannot write to an empty path{f' ({text!r})' if text else ''}: "
                                         f"give a file name")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a directory (give a file name)")
    return path
