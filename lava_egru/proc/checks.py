"""Argument checks shared by the Processes of :mod:`lava_egru.proc` (neurons and blocks).

Each returns the checked value in the form the Process stores (a Python ``int``, a
``(N,)`` tuple, a copied numpy array) or raises ``ValueError``/``TypeError`` naming
the argument. Bounds are the format's (:mod:`egru_format.constants`).

Bounded integers of a fixed-point format (``weight_exp``, fractional bits) are checked
by the format's own :func:`egru_format.spec.checked_int` (one definition: it raises
:class:`~egru_format.QuantizationError`, a ``ValueError``, naming the field); sizes
(no upper bound, which the format's check does not have) by :func:`checked_size`.

    >>> from lava_egru.proc.checks import checked_size, optional_int, real_vector
    >>> optional_int("weight_exp", -3, -8, 7), real_vector("bias", 0.5, (2,)).tolist()
    (-3, [0.5, 0.5])
    >>> checked_size("vocab_size", 0)
    Traceback (most recent call last):
    ...
    ValueError: vocab_size must be an integer >= 1, got 0
"""

from __future__ import annotations

import typing as ty

import numpy as np
from egru_format.constants import FRAC_LIMIT, RESET_MECHANISMS
from egru_format.spec import checked_int

__all__ = ["checked_size", "optional_int", "checked_frac", "checked_first_step", "checked_shape", "real_vector",
           "checked_reset"]


def checked_size(name: str, value) -> int:
    """``value`` as an int >= 1 (a size: no upper bound); bools are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def optional_int(name: str, value, low: int, high: int) -> ty.Optional[int]:
    """None, or ``value`` in ``[low, high]``, checked by the format's :func:`egru_format.spec.checked_int`
    (:class:`~egru_format.QuantizationError`, a ``ValueError``, naming ``name``)."""
    return None if value is None else checked_int(name, value, low, high)


def checked_frac(name: str, value, low: int = 0) -> ty.Optional[int]:
    """None, or a fractional-bit count in ``[low, FRAC_LIMIT]``."""
    return optional_int(name, value, low, FRAC_LIMIT)


def checked_first_step(first_step) -> int:
    """A time step, >= 1."""
    if isinstance(first_step, (bool, np.bool_)) or not isinstance(first_step, (int, np.integer)) or first_step < 1:
        raise ValueError(f"first_step must be an integer >= 1 (time steps count from 1), got {first_step!r}")
    return int(first_step)


def checked_shape(shape, letter: str = "N") -> ty.Tuple[int]:
    """``(N,)`` with an integer N >= 1 (no batch dimension)."""
    shape = tuple(shape)
    if len(shape) != 1 or isinstance(shape[0], (bool, np.bool_)) or not isinstance(shape[0], (int, np.integer)) \
            or shape[0] < 1:
        raise ValueError(f"shape must be ({letter},) with an integer {letter} >= 1, got {shape!r}")
    return (int(shape[0]),)


def real_vector(name: str, value, shape: ty.Tuple[int]) -> np.ndarray:
    """``value`` (int or float numbers, all finite) broadcast to ``shape`` and copied."""
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    try:
        array = np.broadcast_to(array, shape).copy()
    except ValueError:
        raise ValueError(f"{name} must broadcast to shape {shape}, got shape {array.shape}") from None
    if not bool(np.all(np.isfinite(array))):
        raise ValueError(f"{name} contains NaN or Inf")
    return array


def checked_reset(reset_mechanism: str, events, threshold: np.ndarray) -> ty.Tuple[str, bool]:
    """An EGRU's ``reset_mechanism`` and ``events`` (a bool); with events every threshold must be > 0."""
    if not isinstance(events, (bool, np.bool_)):
        raise TypeError(f"events must be a bool, got {type(events).__name__}")
    if reset_mechanism not in RESET_MECHANISMS:
        raise ValueError(f"reset_mechanism must be one of {RESET_MECHANISMS}, got {reset_mechanism!r}")
    if events and not bool(np.all(threshold > 0)):
        raise ValueError(f"threshold must be > 0 for every unit, got minimum {threshold.min():g}")
    return reset_mechanism, bool(events)
