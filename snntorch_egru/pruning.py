r"""Unstructured magnitude pruning of EGRU weight matrices, one-shot, gradual or iterative.

Weight sparsity and activity sparsity compose multiplicatively: a matmul whose input
columns are active with probability :math:`a` and whose weights are nonzero with
probability :math:`d` costs about :math:`a \cdot d` of the dense work (see
:mod:`snntorch_egru.opcount`). This module sets the weight side.

**Magnitude pruning.** For the chosen matrices :math:`W_1, \dots, W_m` and a sparsity
:math:`s \in [0, 1]`, pruning zeroes the :math:`k = \mathrm{round}(s N)` entries of
smallest magnitude :math:`|w|` and keeps the others, where

- ``scope="global"``: :math:`N = \sum_j |W_j|` and one magnitude threshold is shared by
  all chosen matrices (matrices with small weights lose more);
- ``scope="matrix"``: each matrix separately, :math:`k_j = \mathrm{round}(s |W_j|)`.

Ties at the threshold are broken by position (first entries in memory order first), so
exactly :math:`k` entries are pruned. Already-zero entries (magnitude 0) go first, so a
rising sparsity never revives a pruned weight.

**Masks.** Each chosen parameter ``name`` gets a boolean buffer ``name_mask`` on the
module that owns it (``weight_hh_l0`` -> ``weight_hh_l0_mask``, ``embedding.weight`` ->
``embedding.weight_mask``): masks are in ``model.state_dict()`` and survive checkpoints.
Parameters keep their names and hold the zeros themselves (``model.weight_hh_l0`` *is*
the pruned matrix, so the exporter and every other reader see the zeros): there is no
``weight_orig`` reparametrisation as in ``torch.nn.utils.prune``. The optimizer still
updates masked entries, so :meth:`Pruner.apply` must run after every optimizer step:
:meth:`Pruner.attach` registers it as an optimizer step hook. A tied embedding/readout
is one parameter and gets one mask (on the embedding).

To resume from a checkpoint, create the model, then the :class:`Pruner` (it registers
all-ones masks, or keeps masks already there), then ``model.load_state_dict(...)``
(restores the masks) and ``pruner.load_state_dict(...)`` (restores the schedule step).

**Gradual pruning** (Zhu & Gupta 2017, "To prune, or not to prune"): from step
:math:`t_0`, every :math:`\Delta t` steps for :math:`n` updates, the target sparsity is

.. math::

    s_t = s_f + (s_i - s_f) \left(1 - \frac{t - t_0}{n \Delta t}\right)^3,
    \qquad t \in \{t_0, t_0 + \Delta t, \dots, t_0 + n \Delta t\},

rising fast at first and slowly near the final sparsity :math:`s_f` (reached at
:math:`t_0 + n\Delta t` and kept after). See :class:`CubicSchedule`.

**Iterative prune-and-finetune**: :func:`prune_and_finetune` runs rounds of pruning and
fine-tuning (a user function, e.g. a trainer run), the masks held throughout: each round
prunes one-shot to a sparsity before its fine-tuning, or follows a :class:`CubicSchedule`
during it.

Groups for ``targets`` (besides ``fnmatch`` patterns on parameter names such as
``"rnn.weight_hh_l*"``): ``"input"`` (every ``weight_ih_l{k}``), ``"recurrent"``
(every ``weight_hh_l{k}``), ``"embedding"`` (``nn.Embedding`` weights), ``"readout"``
(``nn.Linear`` weights), ``"all"`` (all four).

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.pruning import CubicSchedule, Pruner
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(4, 16, num_layers=2)
    >>> pruner = Pruner(rnn, targets=["recurrent", "input"], scope="global")
    >>> pruner.prune(0.9)                         # one-shot: 90% of the chosen weights
    >>> round(pruner.sparsity()["total"], 3)
    0.9
    >>> float((rnn.weight_hh_l0 == 0).float().mean()) > 0.5   # zeros live in the parameter
    True
    >>> sorted(k for k in rnn.state_dict() if k.endswith("_mask"))
    ['weight_hh_l0_mask', 'weight_hh_l1_mask', 'weight_ih_l0_mask', 'weight_ih_l1_mask']

    Gradual pruning during training, masks re-applied after every optimizer step:

    >>> rnn = EGRU(4, 16)
    >>> schedule = CubicSchedule(final_sparsity=0.8, begin_step=2, frequency=2, n_updates=3)
    >>> [round(schedule.sparsity_at(t), 3) for t in range(0, 10)]
    [0.0, 0.0, 0.0, 0.0, 0.563, 0.563, 0.77, 0.77, 0.8, 0.8]
    >>> pruner = Pruner(rnn, targets="recurrent", scope="matrix", schedule=schedule)
    >>> optimizer = torch.optim.SGD(rnn.parameters(), lr=0.1)
    >>> pruner.attach(optimizer)                  # apply() after every optimizer.step()
    >>> for t in range(10):
    ...     y, _ = rnn(torch.randn(5, 2, 4))
    ...     optimizer.zero_grad(); y.sum().backward(); optimizer.step()
    ...     _ = pruner.step()                     # advances the schedule, re-prunes on update steps
    >>> round(pruner.sparsity()["weight_hh_l0"], 2)   # round(0.8 * 768) = 614 of 768 entries
    0.8
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import torch
from torch import nn

__all__ = [
    "GROUPS", "PRUNE_TARGETS", "CubicSchedule", "Pruner", "PrunerGroup", "select_parameters", "magnitude_masks",
    "prune_and_finetune", "weight_sparsity", "load_pruned_state_dict", "MASK_SUFFIX",
]

MASK_SUFFIX = "_mask"
GROUPS = ("input", "recurrent", "embedding", "readout", "all")
#: The default targets: every recurrent layer's input and recurrent matrices (W_ih, W_hh); an
#: embedding and a readout stay dense.
PRUNE_TARGETS = ("input", "recurrent")
_INPUT = re.compile(r"(^|\.)weight_ih_l\d+$")
_RECURRENT = re.compile(r"(^|\.)weight_hh_l\d+$")


def _owner(model: nn.Module, name: str):
    """(module, attribute) owning the dotted parameter ``name``."""
    module_name, _, attr = name.rpartition(".")
    return (model.get_submodule(module_name) if module_name else model), attr


def _group_members(model: nn.Module, group: str) -> List[str]:
    named = list(model.named_parameters())  # a tied parameter appears once, under its first name
    names = []
    if group in ("input", "all"):
        names += [n for n, _ in named if _INPUT.search(n)]
    if group in ("recurrent", "all"):
        names += [n for n, _ in named if _RECURRENT.search(n)]
    # embedding and readout by module type, matched by identity (a readout tied to the
    # embedding is not listed under its own name)
    for kind, group_name in ((nn.Embedding, "embedding"), (nn.Linear, "readout")):
        if group not in (group_name, "all"):
            continue
        for module in model.modules():
            if isinstance(module, kind) and isinstance(module.weight, nn.Parameter):
                names += [n for n, p in named if p is module.weight and n not in names]
    return names


def select_parameters(model: nn.Module, targets: Union[str, Sequence[str]] = PRUNE_TARGETS,
                      exclude: Union[str, Sequence[str], None] = None) -> Dict[str, nn.Parameter]:
    """The parameters chosen by ``targets`` (group names or ``fnmatch`` patterns), minus ``exclude``.

    Names are ``model.named_parameters()`` names (a tied parameter appears once, under its
    first name). Only matrices (2-D parameters) can be chosen. Raises ``ValueError`` when a
    target matches nothing.
    """
    targets = [targets] if isinstance(targets, str) else list(targets)
    excludes = [exclude] if isinstance(exclude, str) else list(exclude or [])
    params = dict(model.named_parameters())
    chosen: List[str] = []
    for target in targets:
        members = _group_members(model, target) if target in GROUPS else fnmatch.filter(params, target)
        if not members:
            raise ValueError(f"pruning target {target!r} matches no parameter of {type(model).__name__} "
                             f"(groups: {GROUPS}; parameters: {sorted(params)})")
        chosen.extend(m for m in members if m not in chosen)
    result = {}
    for name in chosen:
        if any(fnmatch.fnmatch(name, pattern) for pattern in excludes):
            continue
        if params[name].dim() != 2:
            raise ValueError(f"only weight matrices can be pruned; {name} has shape {tuple(params[name].shape)}")
        result[name] = params[name]
    if not result:
        raise ValueError(f"targets {targets} minus exclude {excludes} leave no parameter to prune")
    return result


def _prune_count(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean keep-mask of a flat score vector with exactly its ``k`` smallest entries pruned."""
    keep = torch.ones_like(scores, dtype=torch.bool)
    if k <= 0:
        return keep
    if k >= scores.numel():
        return torch.zeros_like(keep)
    threshold = torch.kthvalue(scores, k).values
    below = scores < threshold
    keep &= ~below
    remaining = k - int(below.sum())
    if remaining > 0:  # ties at the threshold: prune the first ones in memory order
        tied = torch.nonzero(scores == threshold).flatten()[:remaining]
        keep[tied] = False
    return keep


def magnitude_masks(weights: Dict[str, torch.Tensor], sparsity: float,
                    scope: str = "global") -> Dict[str, torch.Tensor]:
    """Keep-masks (True = kept) pruning ``round(sparsity * N)`` smallest-magnitude entries.

    ``scope="global"``: one threshold across all matrices (N = all their entries);
    ``scope="matrix"``: each matrix on its own.
    """
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    if scope not in ("global", "matrix"):
        raise ValueError(f"scope must be 'global' or 'matrix', got {scope!r}")
    with torch.no_grad():
        if scope == "matrix":
            return {name: _prune_count(w.detach().abs().flatten().float(), round(sparsity * w.numel())).view_as(w)
                    for name, w in weights.items()}
        flat = torch.cat([w.detach().abs().flatten().float() for w in weights.values()])
        keep = _prune_count(flat, round(sparsity * flat.numel()))
        masks, start = {}, 0
        for name, w in weights.items():
            masks[name] = keep[start: start + w.numel()].view_as(w).clone()
            start += w.numel()
        return masks


@dataclass(frozen=True)
class CubicSchedule:
    r"""Zhu & Gupta's gradual pruning schedule.

    ``sparsity_at(t)``: 0 before ``begin_step`` (no pruning yet), then
    :math:`s_f + (s_i - s_f)(1 - (t' - t_0)/(n \Delta t))^3` with :math:`t'` the last
    update step :math:`\le t` (updates every ``frequency`` steps, ``n_updates`` of them
    after the first), and ``final_sparsity`` from :math:`t_0 + n \Delta t` on.

    Args:
        final_sparsity: :math:`s_f`.
        initial_sparsity: :math:`s_i` (applied at ``begin_step``), default 0.
        begin_step: :math:`t_0`.
        frequency: :math:`\Delta t` (steps between mask updates).
        n_updates: :math:`n`.
    """

    final_sparsity: float
    initial_sparsity: float = 0.0
    begin_step: int = 0
    frequency: int = 100
    n_updates: int = 10

    @classmethod
    def one_shot(cls, sparsity: float) -> "CubicSchedule":
        """Prune to ``sparsity`` at step 0 and hold it (initial = final, one update).

        >>> CubicSchedule.one_shot(0.8).sparsity_at(0), CubicSchedule.one_shot(0.8).sparsity_at(99)
        (0.8, 0.8)
        """
        return cls(final_sparsity=sparsity, initial_sparsity=sparsity, begin_step=0, frequency=1, n_updates=1)

    def __post_init__(self):
        for name in ("final_sparsity", "initial_sparsity"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.frequency < 1 or self.n_updates < 1 or self.begin_step < 0:
            raise ValueError("frequency and n_updates must be >= 1 and begin_step >= 0")

    @property
    def end_step(self) -> int:
        return self.begin_step + self.n_updates * self.frequency

    def is_update_step(self, t: int) -> bool:
        """True at :math:`t_0, t_0 + \\Delta t, \\dots, t_0 + n \\Delta t`."""
        return self.begin_step <= t <= self.end_step and (t - self.begin_step) % self.frequency == 0

    def sparsity_at(self, t: int) -> float:
        if t < self.begin_step:
            return 0.0
        t = min(t, self.end_step)
        t = self.begin_step + (t - self.begin_step) // self.frequency * self.frequency
        progress = (t - self.begin_step) / (self.n_updates * self.frequency)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress) ** 3


def _mask_name(name: str) -> str:
    return name + MASK_SUFFIX


class Pruner:
    """Magnitude pruning of chosen matrices with persistent masks (see the module docstring).

    Args:
        model: any ``nn.Module`` (``EGRU``, ``EGRULanguageModel``, ...).
        targets: groups (``"input"``, ``"recurrent"``, ``"embedding"``, ``"readout"``,
            ``"all"``) and/or ``fnmatch`` patterns on parameter names.
        exclude: patterns of parameter names to leave dense.
        scope: ``"global"`` (one threshold) or ``"matrix"`` (same sparsity per matrix).
        schedule: a :class:`CubicSchedule` driven by :meth:`step`, or None (prune with
            :meth:`prune` yourself).

    Masks already present (e.g. created before ``load_state_dict``) are kept.
    """

    def __init__(self, model: nn.Module, targets: Union[str, Sequence[str]] = PRUNE_TARGETS,
                 exclude: Union[str, Sequence[str], None] = None, scope: str = "global",
                 schedule: Optional[CubicSchedule] = None):
        if scope not in ("global", "matrix"):
            raise ValueError(f"scope must be 'global' or 'matrix', got {scope!r}")
        self.model = model
        self.scope = scope
        self.schedule = schedule
        self.parameters = select_parameters(model, targets, exclude)
        self.step_count = 0
        self._hooks: list = []
        for name, param in self.parameters.items():
            module, attr = _owner(model, name)
            mask_attr = _mask_name(attr)
            existing = getattr(module, mask_attr, None)
            if isinstance(existing, torch.Tensor):
                if existing.shape != param.shape:
                    raise ValueError(f"existing mask {name}{MASK_SUFFIX} has shape {tuple(existing.shape)}, "
                                     f"parameter has {tuple(param.shape)}")
                continue
            if hasattr(module, mask_attr):
                raise ValueError(f"{type(module).__name__} already has an attribute {mask_attr!r}")
            module.register_buffer(mask_attr, torch.ones_like(param, dtype=torch.bool))

    def masks(self) -> Dict[str, torch.Tensor]:
        """The current masks (True = kept), by parameter name."""
        out = {}
        for name in self.parameters:
            module, attr = _owner(self.model, name)
            out[name] = getattr(module, _mask_name(attr))
        return out

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the masked entries of every chosen parameter (in place, names unchanged)."""
        for name, mask in self.masks().items():
            self.parameters[name].masked_fill_(~mask, 0.0)

    @torch.no_grad()
    def prune(self, sparsity: float) -> None:
        """Recompute the masks at ``sparsity`` from the current magnitudes and apply them.

        Entries pruned before are zero (after :meth:`apply`), so they stay pruned while the
        sparsity does not decrease.
        """
        self.apply()
        new = magnitude_masks(self.parameters, sparsity, self.scope)
        for name, keep in new.items():
            module, attr = _owner(self.model, name)
            getattr(module, _mask_name(attr)).copy_(keep)
        self.apply()

    def step(self) -> Optional[float]:
        """Advance the schedule by one training step; re-prune on update steps. Returns the
        sparsity applied at this step (None when no update happened). Call it once per
        optimizer step (after it)."""
        if self.schedule is None:
            raise RuntimeError("Pruner.step() needs a schedule; use prune(sparsity) for one-shot pruning")
        t = self.step_count
        self.step_count += 1
        if self.schedule.is_update_step(t):
            sparsity = self.schedule.sparsity_at(t)
            self.prune(sparsity)
            return sparsity
        self.apply()
        return None

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        """Re-apply the masks after every ``optimizer.step()`` (an optimizer step post-hook)."""
        self._hooks.append(optimizer.register_step_post_hook(lambda *_: self.apply()))

    def detach(self) -> None:
        """Remove the optimizer hooks added by :meth:`attach`."""
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()

    def remove(self) -> None:
        """Apply the masks one last time and delete the mask buffers (the zeros stay in the weights)."""
        self.apply()
        self.detach()
        for name in self.parameters:
            module, attr = _owner(self.model, name)
            delattr(module, _mask_name(attr))

    def sparsity(self) -> Dict[str, float]:
        """Fraction of zero entries per chosen parameter and ``"total"`` over all of them."""
        return weight_sparsity(self.parameters)

    def state_dict(self) -> dict:
        """The schedule position (the masks themselves are in the model's ``state_dict``)."""
        return {"step_count": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])


class PrunerGroup:
    """Several :class:`Pruner` objects on one model, each with its own targets, scope and
    schedule, driven as one (what ``train_language_model(pruner=...)`` accepts).

    Example: keep the EGRU matrices' existing masks and prune the (tied) readout to 80%::

        >>> import torch
        >>> from snntorch_egru import EGRULanguageModel
        >>> lm = EGRULanguageModel(50, 8, [16, 8], tie_weights=True)
        >>> rnn = Pruner(lm, targets=["input", "recurrent"])          # no schedule: holds its masks
        >>> rnn.prune(0.9)
        >>> readout = Pruner(lm, targets=["readout"], schedule=CubicSchedule.one_shot(0.8))
        >>> group = PrunerGroup(rnn, readout)
        >>> _ = group.step()                                          # the readout's one-shot update
        >>> s = group.sparsity()
        >>> round(s["embedding.weight"], 2), round(rnn.sparsity()["total"], 2)
        (0.8, 0.9)
    """

    def __init__(self, *pruners: "Pruner"):
        if not pruners or not all(isinstance(p, Pruner) for p in pruners):
            raise TypeError("PrunerGroup takes one or more Pruner objects")
        if len({id(p.model) for p in pruners}) != 1:
            raise ValueError("the pruners of a PrunerGroup must prune the same model")
        seen: Dict[str, int] = {}
        for k, pruner in enumerate(pruners):
            for name in pruner.parameters:
                if name in seen:
                    raise ValueError(f"{name} is chosen by pruner {seen[name]} and pruner {k}: each matrix "
                                     f"must belong to one pruner")
                seen[name] = k
        self.pruners = list(pruners)
        self.model = pruners[0].model

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        for pruner in self.pruners:
            pruner.attach(optimizer)

    def detach(self) -> None:
        for pruner in self.pruners:
            pruner.detach()

    def apply(self) -> None:
        for pruner in self.pruners:
            pruner.apply()

    def step(self) -> list:
        """Advance the schedule of every pruner that has one (the others hold their masks)."""
        return [pruner.step() if pruner.schedule is not None else None for pruner in self.pruners]

    def masks(self) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = {}
        for pruner in self.pruners:
            out.update(pruner.masks())
        return out

    def sparsity(self) -> Dict[str, float]:
        """Fraction of zero entries per chosen parameter and ``"total"`` over all of them."""
        chosen: Dict[str, torch.Tensor] = {}
        for pruner in self.pruners:
            chosen.update(pruner.parameters)
        return weight_sparsity(chosen)

    def state_dict(self) -> dict:
        return {"pruners": [pruner.state_dict() for pruner in self.pruners]}

    def load_state_dict(self, state: dict) -> None:
        states = state["pruners"]
        if len(states) != len(self.pruners):
            raise ValueError(f"state holds {len(states)} pruners, this group has {len(self.pruners)}")
        for pruner, sub in zip(self.pruners, states):
            pruner.load_state_dict(sub)


def weight_sparsity(weights: Union[nn.Module, Dict[str, torch.Tensor]]) -> Dict[str, float]:
    """Fraction of exact zeros per matrix and ``"total"`` (a module: all its 2-D parameters)."""
    if isinstance(weights, nn.Module):
        weights = {n: p for n, p in weights.named_parameters() if p.dim() == 2}
    out, zeros, total = {}, 0, 0
    for name, w in weights.items():
        z = int((w == 0).sum())
        out[name] = z / w.numel()
        zeros += z
        total += w.numel()
    out["total"] = zeros / total if total else 0.0
    return out


def load_pruned_state_dict(model: nn.Module, state_dict: dict, strict: bool = True):
    """``model.load_state_dict`` for a checkpoint that holds ``*_mask`` buffers the model
    lacks: registers them (on the owning modules), loads, and zeroes the masked weights.
    Returns the ``load_state_dict`` result."""
    params = dict(model.named_parameters())
    for key, value in state_dict.items():
        if not key.endswith(MASK_SUFFIX):
            continue
        name = key[: -len(MASK_SUFFIX)]
        if name not in params:
            continue
        module, attr = _owner(model, name)
        if not isinstance(getattr(module, _mask_name(attr), None), torch.Tensor):
            module.register_buffer(_mask_name(attr), torch.ones_like(params[name], dtype=torch.bool))
    result = model.load_state_dict(state_dict, strict=strict)
    with torch.no_grad():
        for name, param in params.items():
            module, attr = _owner(model, name)
            mask = getattr(module, _mask_name(attr), None)
            if isinstance(mask, torch.Tensor):
                param.masked_fill_(~mask.bool(), 0.0)
    return result


def prune_and_finetune(pruner: Pruner, sparsities: Iterable[Union[float, CubicSchedule]],
                       finetune: Callable[[nn.Module, float], object],
                       optimizer: Optional[torch.optim.Optimizer] = None) -> List[dict]:
    """Iterative pruning: rounds of pruning and fine-tuning, each from the previous round's masks.

    Each entry of ``sparsities`` is one round, in non-decreasing order of sparsity:

    - a float :math:`s`: one-shot, :meth:`Pruner.prune` to :math:`s`, then ``finetune``
      with the masks held;
    - a :class:`CubicSchedule`: the pruner takes it (from step 0) and ``finetune`` advances
      it, calling ``pruner.step()`` after each optimizer step (as
      ``egru.lm.trainer.train_language_model(pruner=...)`` does):
      ``CubicSchedule.one_shot(s)`` prunes to :math:`s` after the first step, a gradual
      schedule prunes during the fine-tuning. Afterwards the masks are set to the
      schedule's final sparsity (:meth:`Pruner.prune`: nothing changes when the schedule
      reached its last update; the fine-tuning may have stopped before).

    ``finetune(model, sparsity)`` trains ``pruner.model`` (``sparsity``: the round's target,
    the schedule's final one); its return value (a history, a validation loss) is recorded.
    With ``optimizer`` given, the masks are re-applied after each of its steps during
    fine-tuning (:meth:`Pruner.attach`); without, the fine-tuning holds them itself
    (``pruner.apply()`` or ``pruner.step()`` after each optimizer step). The masks are applied
    once more after each round. Returns one dict per round:
    ``{"sparsity", "achieved", "result"}``.

    Example::

        >>> import torch
        >>> from snntorch_egru import EGRU
        >>> from snntorch_egru.pruning import CubicSchedule, Pruner, prune_and_finetune
        >>> rnn = EGRU(3, 8)
        >>> opt = torch.optim.SGD(rnn.parameters(), lr=0.01)
        >>> def finetune(model, sparsity):
        ...     for _ in range(2):
        ...         y, _ = model(torch.randn(4, 1, 3))
        ...         opt.zero_grad(); y.pow(2).sum().backward(); opt.step()
        ...         if pruner.schedule is not None:
        ...             _ = pruner.step()              # a schedule round: advance it
        ...     return sparsity
        >>> pruner = Pruner(rnn, "all")
        >>> history = prune_and_finetune(pruner, [0.5, 0.75, CubicSchedule.one_shot(0.9)], finetune, opt)
        >>> [round(h["achieved"], 2) for h in history]
        [0.5, 0.75, 0.9]
    """
    history = []
    previous = -math.inf
    attached = False
    if optimizer is not None:
        pruner.attach(optimizer)
        attached = True
    try:
        for entry in sparsities:
            schedule = entry if isinstance(entry, CubicSchedule) else None
            target = float(entry.final_sparsity if schedule else entry)
            lowest = min(schedule.initial_sparsity, target) if schedule else target
            if lowest < previous:
                raise ValueError(f"sparsities must not decrease, got {lowest} after {previous}")
            previous = target
            if schedule is None:
                pruner.prune(target)
            else:
                pruner.schedule, pruner.step_count = schedule, 0
            result = finetune(pruner.model, target)
            if schedule is not None:
                pruner.prune(target)
            pruner.apply()
            history.append({"sparsity": target, "achieved": pruner.sparsity()["total"], "result": result})
    finally:
        if attached:
            pruner.detach()
    return history
