"""Compatibility re-export of :mod:`egru_format`, the network format's own package.

The format used to live here; it is now the leaf package ``egru_format`` (numpy + h5py,
importing no sibling), so that the Lava side can read files without importing the
converters. Existing code that imports ``converters.format`` keeps working: every public
name of :mod:`egru_format` is available here under the same name. New code should
import :mod:`egru_format`.

    >>> import converters.format, egru_format
    >>> converters.format.read_network is egru_format.read_network
    True
"""

from __future__ import annotations

import egru_format
from egru_format import *  # noqa: F401,F403  (the documented re-export)
from egru_format import __all__  # noqa: F401


def __getattr__(name: str):
    if name == "MODEL_CLASSES":   # deprecated in the format for one release; egru_format warns
        return egru_format.MODEL_CLASSES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
