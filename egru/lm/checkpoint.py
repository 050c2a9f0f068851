"""Atomic training checkpoints and random-number-generator state capture.

:func:`save_checkpoint` writes through the project's one atomic writer
(:func:`egru_format.atomic_write_stream`): to a temporary file in the target's directory,
moved over the target with :func:`os.replace` (atomic on POSIX and Windows), so a run
killed while saving leaves either the previous checkpoint or the new one, never a torn
file, and a full disk is an ``OSError`` (ENOSPC) naming the checkpoint.

Example::

    >>> import os, tempfile, torch
    >>> from egru.lm.checkpoint import save_checkpoint, load_checkpoint, rng_state, set_rng_state
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
    >>> save_checkpoint(path, {"step": 3, "rng": rng_state()})
    >>> a = torch.rand(2)
    >>> checkpoint = load_checkpoint(path)
    >>> set_rng_state(checkpoint["rng"])      # rewind every generator
    >>> torch.equal(torch.rand(2), a), checkpoint["step"]
    (True, 3)
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Optional, Union

import torch

from egru_format import atomic_write_stream, atomic_write_text

try:  # numpy is optional for this module
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "rng_state", "set_rng_state"]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded (truncated, corrupt, not a checkpoint); names the file."""


def save_checkpoint(path: Union[str, Path], payload: dict) -> None:
    """``torch.save(payload)`` to ``path`` atomically (its directory created if needed)."""
    atomic_write_stream(path, lambda stream: torch.save(payload, stream), parents=True)


def _write_text_atomic(path: Union[str, Path], text: str) -> Path:
    return atomic_write_text(path, text, parents=True)


def __getattr__(name: str):
    if name == "write_text_atomic":   # deprecated: the hub's writer is the project's one writer
        warnings.warn("egru.lm.checkpoint.write_text_atomic is deprecated; use "
                      "egru_format.atomic_write_text(path, text, parents=True)", DeprecationWarning, stacklevel=2)
        return _write_text_atomic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_checkpoint(path: Union[str, Path], map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (a trusted file of this project).

    Raises ``FileNotFoundError`` / ``IsADirectoryError`` / ``PermissionError`` naming the
    path, and :class:`CheckpointError` (a ``ValueError``) naming the file for one that
    cannot be unpickled (truncated, corrupt, not written by ``torch.save``) or that does
    not hold a dict.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except PermissionError as exc:
        raise PermissionError(exc.errno, f"cannot read the checkpoint {path}: {exc.strerror}") from None
    except Exception as exc:  # noqa: BLE001  # unpickling a damaged file raises anything
        raise CheckpointError(f"cannot load the checkpoint {path} (truncated or corrupt?): "
                              f"{type(exc).__name__}: {exc}") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} is not a training checkpoint: it holds a {type(checkpoint).__name__}, "
                              f"not a dict")
    return checkpoint


def rng_state(generator: Optional[torch.Generator] = None) -> dict:
    """States of torch's global CPU (and CUDA, if initialised) RNG, Python's ``random``, numpy's
    global RNG and an optional extra ``generator``."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if _np is not None:
        state["numpy"] = _np.random.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: Optional[torch.Generator] = None) -> None:
    """Restore what :func:`rng_state` captured (the extra ``generator`` too, when given)."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if _np is not None and "numpy" in state:
        _np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
