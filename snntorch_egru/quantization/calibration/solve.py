r"""Calibration, phase 3: the largest formats that satisfy every constraint, as a :class:`QuantizationSpec`.

Start every F at its upper bound and lower it, as little as needed, until each edge's
``weight_exp`` :math:`= s - F_{src} + F_{dst} - 1` lies in [-8, 7]: repeat

.. math::

    F_{dst} \leftarrow \min(F_{dst}, F_{src} + 8 - s), \qquad
    F_{src} \leftarrow \min(F_{src}, F_{dst} + s + 7)

over all edges until nothing changes. The constraints are differences, so the feasible
set is closed under the componentwise max and this fixed point is its greatest element
(docs/fixed-point.md, "Calibration", step 4). A variable pushed below its lower bound
raises a :class:`QuantizationError` naming the edge that forced it and the bound.

    >>> from snntorch_egru.quantization.calibration.constrain import Constraints
    >>> problem = Constraints(max_frac=16)
    >>> problem.add("input", 16, 0, "at least 0")
    >>> problem.add("out", 16, 0, "at least 0")
    >>> problem.edges.append(("input", "out", 12, "out.weight"))   # s = 12: F_out <= F_in - 4
    >>> largest_formats(problem)
    {'input': 16, 'out': 12}
"""

from __future__ import annotations

from typing import Dict

from egru_format import WEIGHT_EXP_MAX, WEIGHT_EXP_MIN, DenseQuantization, EGRUQuantization, QuantizationError

from ..formats import QuantizationSpec
from ..layout import layer_plan
from .constrain import Constraints

__all__ = ["largest_formats", "spec_from_formats"]


def largest_formats(problem: Constraints) -> Dict[str, int]:
    """The greatest solution ``{variable: F}`` of ``problem``; raises when a lower bound is violated."""
    frac = dict(problem.upper)
    reason = {v: f"max observed magnitude (cap {problem.max_frac})" for v in problem.variables}
    changed = True
    while changed:
        changed = False
        for src, dst, s, label in problem.edges:
            # weight_exp = s - F_src + F_dst - 1 in [-8, 7]
            if frac[dst] > frac[src] + WEIGHT_EXP_MAX + 1 - s:
                frac[dst] = frac[src] + WEIGHT_EXP_MAX + 1 - s
                reason[dst] = f"{label}: weight_exp <= {WEIGHT_EXP_MAX} with {src} = {frac[src]} (s = {s})"
                changed = True
            if frac[src] > frac[dst] + s - 1 - WEIGHT_EXP_MIN:
                frac[src] = frac[dst] + s - 1 - WEIGHT_EXP_MIN
                reason[src] = f"{label}: weight_exp >= {WEIGHT_EXP_MIN} with {dst} = {frac[dst]} (s = {s})"
                changed = True
    for var in problem.variables:
        if frac[var] < problem.lower[var]:
            raise QuantizationError(
                f"no fixed-point format fits {var}: {reason[var]} forces it down to {frac[var]}, but "
                f"{problem.why_low[var]}")
    return frac


def spec_from_formats(model, problem: Constraints, frac: Dict[str, int]) -> QuantizationSpec:
    """The :class:`QuantizationSpec` of ``model`` with the fractional bits ``frac`` and ``problem``'s scales."""
    layers = []
    for name, kind, _ in layer_plan(model):
        if kind == "dense":
            layers.append(DenseQuantization(frac[f"{name}.frac_state"], problem.scale[name]))
        else:
            s_ih, s_hh = problem.scale[name]
            layers.append(EGRUQuantization(frac[f"{name}.frac_preact"], frac[f"{name}.frac_state"], s_ih, s_hh))
    return QuantizationSpec(frac["input"], tuple(layers))
