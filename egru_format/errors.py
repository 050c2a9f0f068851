"""The two exceptions of the format: :class:`FormatError` (files and specs) and
:class:`QuantizationError` (fixed-point formats and values that cannot be represented).

    >>> from egru_format.errors import FormatError
    >>> str(FormatError("net.h5", "layer/1/weight_hh", "contains 1 NaN/Inf value(s)"))
    'net.h5: layer/1/weight_hh: contains 1 NaN/Inf value(s)'
"""

from __future__ import annotations

from typing import Optional

__all__ = ["FormatError", "QuantizationError"]


class FormatError(ValueError):
    """A file or spec that breaks the format. The message names the file and the field.

    Attributes: ``source`` (the file, or ``<NetworkSpec>`` for an in-memory spec),
    ``field`` (the HDF5 path of the offending entry, e.g. ``layer/2/weight_ih``),
    ``problem`` (what is wrong).
    """

    def __init__(self, source, field: str, problem: str):
        self.source = str(source)
        self.field = field
        self.problem = problem
        super().__init__(f"{self.source}: {field}: {problem}")


class QuantizationError(ValueError):
    """A fixed-point format, model or value that the arithmetic cannot represent.

    The message names the layer or field and the value. ``field`` (the name of the
    offending entry, e.g. ``frac_gate``, or None) and ``problem`` are kept so that the
    file reader can re-raise it as a :class:`FormatError` at the file's path.
    """

    def __init__(self, message: str, *, field: Optional[str] = None, problem: Optional[str] = None):
        super().__init__(message)
        self.field = field
        self.problem = message if problem is None else problem


# Shown (in tracebacks and reprs) under the package users import them from.
FormatError.__module__ = QuantizationError.__module__ = "egru_format"
