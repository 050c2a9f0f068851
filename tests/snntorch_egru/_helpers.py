"""Helpers shared by tests of snntorch_egru and of the application that trains its models."""

from __future__ import annotations

import torch

from snntorch_egru import EGRULanguageModel


def tied_lm(**kw):
    """A small language model with tied weights (vocabulary 20, layers 10 and 6), seeded."""
    torch.manual_seed(0)
    return EGRULanguageModel(20, 6, [10, 6], tie_weights=True, **kw)
