"""The package egru.lm: the docstring examples of its modules run, and their old paths under snntorch_egru
(deprecation shims) warn and forward to them."""

from __future__ import annotations

import doctest
import importlib

import pytest


#: The modules that moved from snntorch_egru to egru.lm: old name -> new home.
MOVED = {"snntorch_egru.train_lm": "egru.lm.trainer", "snntorch_egru.data": "egru.lm.data",
         "snntorch_egru.checkpoint": "egru.lm.checkpoint", "snntorch_egru.progress": "egru.lm.progress"}


@pytest.mark.parametrize("module_name", MOVED.values())
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"


@pytest.mark.parametrize(("old", "new"), MOVED.items())
def test_old_paths_warn_and_forward_to_the_new_homes(old, new):
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    for name in new_module.__all__:
        with pytest.warns(DeprecationWarning, match=f"{old} is deprecated .* import {name} from {new}$"):
            assert getattr(old_module, name) is getattr(new_module, name)
    with pytest.warns(DeprecationWarning), pytest.raises(AttributeError, match="no_such_name"):
        old_module.no_such_name
    assert not hasattr(old_module, "__wrapped__")             # dunders: no warning, no import
