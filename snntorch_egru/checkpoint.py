"""Deprecated alias of :mod:`egru.lm.checkpoint`: the training checkpoints moved to the application.

The alias goes in the next release. Reading any attribute of this module warns
(``DeprecationWarning``) and returns the one of :mod:`egru.lm.checkpoint`. It is a deprecation
shim: ``DEPRECATION_SHIMS`` in tests/test_architecture.py lets it, and only it, import
its new home, and checks that it holds nothing but the shim.
"""

import importlib
import warnings


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn(f"{__name__} is deprecated and goes in the next release: import {name} from egru.lm.checkpoint",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module("egru.lm.checkpoint"), name)
