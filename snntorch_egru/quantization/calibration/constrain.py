r"""Calibration, phase 2: turn the observations into bounds and difference constraints on the formats.

Every fractional-bit count is a variable: ``"input"`` (F_in), per EGRU layer
``"<name>.frac_preact"`` (F_a) and ``"<name>.frac_state"`` (F_c), per dense layer
``"<name>.frac_state"``. Each gets

- an upper bound: the largest :math:`F \le` ``max_frac`` with (observed magnitude)
  :math:`\cdot 2^F <` :data:`~snntorch_egru.quantization.HEADROOM` = :math:`2^{22}`
  (:func:`frac_upper`), where the magnitude also covers the biases (F_a, dense F), the
  largest threshold (F_c) and every embedding weight;
- a lower bound, with the reason it exists: F >= 0; F_a >= 1 (``tanh_q``); F_in = 0 for
  tokens; F_c large enough for the smallest threshold to quantise to >= 1.

Every Dense connection (weights on :math:`2^s`) from ``src`` to ``dst`` is an edge: its
``weight_exp`` :math:`= s - F_{src} + F_{dst} - 1` must lie in [-8, 7], two difference
constraints that :mod:`.solve` satisfies.

    >>> frac_upper(3.0, 16)          # 3 * 2**F < 2**22
    16
    >>> frac_upper(100.0, 16)
    15
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch

from egru_format import FRAC_LIMIT, QuantizationError

from ...language_model import EGRULanguageModel
from ..formats import HEADROOM
from ..layout import dense_tensors, layer_plan, recurrent_stack
from ..primitives import weight_scale_exponent
from .observe import Observations

__all__ = ["Edge", "Constraints", "frac_upper", "constraints"]

#: ``(source variable, destination variable, scale exponent s, label)`` of one Dense connection.
Edge = Tuple[str, str, int, str]


@dataclass
class Constraints:
    """The calibration problem: variables with bounds, edges, and the weight scales ``scale[name]``.

    ``scale[name]`` is ``s`` of a dense layer or ``(s_ih, s_hh)`` of an EGRU layer;
    ``why_low[var]`` says why ``lower[var]`` exists (used in the error when nothing fits);
    ``max_frac`` is the cap the upper bounds were taken under.
    """

    max_frac: int
    variables: List[str] = field(default_factory=list)
    upper: Dict[str, int] = field(default_factory=dict)
    lower: Dict[str, int] = field(default_factory=dict)
    why_low: Dict[str, str] = field(default_factory=dict)
    edges: List[Edge] = field(default_factory=list)
    scale: Dict[str, object] = field(default_factory=dict)

    def add(self, var: str, upper: int, lower: int, why_low: str) -> None:
        self.variables.append(var)
        self.upper[var], self.lower[var], self.why_low[var] = upper, lower, why_low


def frac_upper(max_abs: float, max_frac: int) -> int:
    """Largest F <= max_frac with ``max_abs * 2**F < HEADROOM`` (may be -1: not representable)."""
    frac = max_frac
    while frac >= 0 and max_abs * 2.0**frac >= HEADROOM:
        frac -= 1
    return frac


def _add_input(problem: Constraints, model, seen: Observations) -> None:
    upper = 0 if isinstance(model, EGRULanguageModel) else frac_upper(seen.max_input, problem.max_frac)
    if upper < 0:
        raise QuantizationError(f"input: max |x| = {seen.max_input:g} does not fit 24 bits with one bit of headroom")
    problem.add("input", upper, 0, "an input format has at least 0 fractional bits")


def _add_dense(problem: Constraints, model, name: str, source: str, seen: Observations) -> str:
    weight, bias = dense_tensors(model, name)
    s = weight_scale_exponent(weight)
    problem.scale[name] = s
    magnitude = float(weight.abs().max()) if name == "embedding" else seen.layers[name]["output"]
    if bias is not None:
        magnitude = max(magnitude, float(bias.abs().max()))
    var = f"{name}.frac_state"
    upper = frac_upper(magnitude, problem.max_frac)
    if upper < 0:
        raise QuantizationError(f"{name}: max |output| = {magnitude:g} does not fit 24 bits")
    problem.add(var, upper, 0, "a format has at least 0 fractional bits")
    problem.edges.append((source, var, s, f"{name}.weight"))
    return var


def _threshold_bound(theta_min: float) -> int:
    """The least F_c with ``theta_min * 2**F_c >= 1/2`` (the threshold quantises to >= 1)."""
    need = 0
    while theta_min * 2.0**need < 0.5 and need <= FRAC_LIMIT:
        need += 1
    return need


def _add_egru(problem: Constraints, rnn, name: str, index: int, source: str, seen: Observations) -> str:
    p = rnn.layer_parameters(index)
    s_ih, s_hh = weight_scale_exponent(p.weight_ih), weight_scale_exponent(p.weight_hh)
    problem.scale[name] = (s_ih, s_hh)
    pre = seen.layers[name]["preact"]
    for b in (p.bias_ih, p.bias_hh):
        if b is not None:
            pre = max(pre, float(b.abs().max()))
    state = seen.layers[name]["state"]
    if rnn.events:
        state = max(state, float(p.threshold.max()))
    va, vc = f"{name}.frac_preact", f"{name}.frac_state"
    upper_a, upper_c = frac_upper(pre, problem.max_frac), frac_upper(state, problem.max_frac)
    if upper_a < 1:
        raise QuantizationError(f"{name}: max |pre-activation| = {pre:g} does not fit 24 bits "
                                f"with frac_preact >= 1")
    if upper_c < 0:
        raise QuantizationError(f"{name}: max |c~| = {state:g} does not fit 24 bits")
    problem.add(va, upper_a, 1, "tanh_q needs frac_preact >= 1")
    if rnn.events:
        theta_min = float(p.threshold.double().min())
        need = _threshold_bound(theta_min)
        problem.add(vc, upper_c, need,
                    f"the smallest threshold {theta_min:g} needs frac_state >= {need} to quantise to >= 1")
    else:
        problem.add(vc, upper_c, 0, "a format has at least 0 fractional bits")
    problem.edges.append((source, va, s_ih, f"{name}.weight_ih"))
    problem.edges.append((vc, va, s_hh, f"{name}.weight_hh"))
    return vc


def constraints(model, seen: Observations, max_frac: int) -> Constraints:
    """The bounds and edges of ``model``'s formats, from what :func:`~.observe.observe` recorded."""
    problem = Constraints(max_frac)
    _add_input(problem, model, seen)
    rnn = recurrent_stack(model)
    source = "input"
    with torch.no_grad():
        for name, kind, index in layer_plan(model):
            if kind == "dense":
                source = _add_dense(problem, model, name, source, seen)
            else:
                source = _add_egru(problem, rnn, name, index, source, seen)
    return problem
