r"""Activity statistics and an activity regulariser.

Activity of a layer is the fraction of nonzero graded outputs :math:`y` (equivalently,
of events :math:`e`, since a unit that fires carries :math:`\tilde c > \vartheta > 0`).
Activity sparsity is one minus it. Pooled activity weights each layer by its number
of entries, i.e. it is the fraction over all units, steps and samples.

The regulariser of the reference classification experiments,

.. math::

    \mathcal{L}_{act} = \sum_l \left(\overline{e_l} - a^\ast\right)^2,

acts on the events, which carry the surrogate gradient, so it trains thresholds and
weights towards a target activity :math:`a^\ast`.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.activity import activity_regularizer
    >>> rnn = EGRU(4, 8, num_layers=2)
    >>> y, _ = rnn(torch.randn(20, 3, 4))
    >>> loss = y.pow(2).mean() + 0.1 * activity_regularizer(rnn.last_events, target=0.05)
    >>> loss.backward()
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

__all__ = ["ActivityStats", "activity_statistics", "activity_regularizer"]


class ActivityStats(NamedTuple):
    """Fraction of nonzero outputs per layer and pooled over all layers (floats in [0, 1])."""

    per_layer: list
    pooled: float

    @property
    def sparsity(self) -> float:
        """Pooled activity sparsity, 1 - pooled activity."""
        return 1.0 - self.pooled


def activity_statistics(outputs: Sequence[torch.Tensor]) -> ActivityStats:
    """Activity of each tensor of graded outputs or events (any shape), and pooled."""
    outputs = list(outputs)
    if not outputs or any(o is None for o in outputs):
        raise ValueError("activity_statistics needs one tensor of outputs or events per layer")
    with torch.no_grad():
        nonzero = [int(torch.count_nonzero(o)) for o in outputs]
    sizes = [o.numel() for o in outputs]
    return ActivityStats([n / s for n, s in zip(nonzero, sizes)], sum(nonzero) / sum(sizes))


def activity_regularizer(events: Sequence[torch.Tensor], target: float) -> torch.Tensor:
    """Sum over layers of (mean event rate - target)^2, differentiable through the events."""
    events = list(events)
    if not events or any(e is None for e in events):
        raise ValueError("activity_regularizer needs the events of every layer (events=True)")
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target activity must be in [0, 1], got {target}")
    return sum((e.mean() - target) ** 2 for e in events)
