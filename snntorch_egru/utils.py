"""Reset helpers that know the EGRU neurons (``snntorch.utils.reset`` does not)."""

from __future__ import annotations

from torch import nn

__all__ = ["reset", "detach_hidden"]


def reset(net: nn.Module) -> nn.Module:
    """Zero the hidden state of every EGRU cell in ``net`` and of snnTorch's built-in neurons.

    Works on a single cell, an ``nn.Sequential`` or any module tree. Returns ``net``.
    """
    from snntorch import utils as snn_utils

    for module in net.modules():
        reset_hidden = getattr(module, "reset_hidden", None)
        if callable(reset_hidden) and getattr(module, "_egru_neuron", False):
            reset_hidden()
    snn_utils.reset(net)
    return net


def detach_hidden(net: nn.Module) -> nn.Module:
    """Detach the stored state of every EGRU cell in ``net`` from the graph (truncated BPTT)."""
    for module in net.modules():
        if getattr(module, "_egru_neuron", False):
            module.detach_hidden()
    return net
