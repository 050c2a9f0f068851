"""Reset helpers that know the EGRU neurons (``snntorch.utils.reset`` does not)."""

from __future__ import annotations

from torch import nn

__all__ = ["reset", "detach_hidden"]


def reset(net: nn.Module) -> nn.Module:
    """Zero the hidden state of every EGRU cell and every snnTorch neuron anywhere in ``net``.

    What ``snntorch.utils.reset(net)`` does for snnTorch's neurons, for EGRU cells too and
    at any depth of the module tree (snnTorch's own call looks at ``net``'s direct children
    only, and does not know EGRU cells). Works on a single cell, an ``nn.Sequential`` or any
    module tree. Returns ``net``.

    Example::

        >>> import torch, snntorch as snn
        >>> from torch import nn
        >>> import snntorch_egru
        >>> net = nn.Sequential(nn.Linear(4, 8), snntorch_egru.EGRUCell(8, 16, init_hidden=True),
        ...                     nn.Sequential(nn.Linear(16, 2), snn.Leaky(beta=0.9, init_hidden=True)))
        >>> x = torch.randn(20, 3, 4)
        >>> _ = snntorch_egru.reset(net); a = torch.stack([net(x_t) for x_t in x])
        >>> _ = snntorch_egru.reset(net); b = torch.stack([net(x_t) for x_t in x])
        >>> torch.equal(a, b)
        True
    """
    from snntorch import SpikingNeuron
    from snntorch import utils as snn_utils

    snn_neurons = []
    for module in net.modules():
        if getattr(module, "_egru_neuron", False):
            module.reset_hidden()
        elif isinstance(module, SpikingNeuron):
            snn_neurons.append(module)
    if snn_neurons:
        # snnTorch resets by class, from the direct children of the module it is given:
        # hand it every neuron of the tree as a direct child of a throw-away container.
        snn_utils.reset(nn.ModuleList(snn_neurons))
    return net


def detach_hidden(net: nn.Module) -> nn.Module:
    """Detach the stored state of every EGRU cell in ``net`` from the graph (truncated BPTT)."""
    for module in net.modules():
        if getattr(module, "_egru_neuron", False):
            module.detach_hidden()
    return net
