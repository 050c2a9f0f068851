r"""Calibration, phase 1: run the float model and record the magnitudes each format must hold.

The model runs in float64 from the zero state on every calibration input, step by step
through :func:`snntorch_egru.functional.egru_gates` (the reference step's gates, so the
observed quantities are exactly those of :mod:`snntorch_egru.functional`), with hard
events :math:`e = \tilde c > \vartheta` (:math:`|\tilde c| > \vartheta` for a signed-event
model, ``polarity="signed"``) and the model's reset. Recorded per layer
(docs/fixed-point.md, "Calibration", step 1):

- ``"preact"``: max over steps of :math:`|a_r|, |a_z|, |U_n y + b_{Un}|, |a_n|` (bounds F_a);
- ``"state"``: max :math:`|\tilde c|` over both signs (bounds F_c; it also bounds the
  messages :math:`|y| \le |\tilde c|` and the reset state :math:`|c| \le |\tilde c|`, negative
  ones included);
- ``"output"``: max :math:`|\mathrm{logit}|` of a language model's readout;

and ``max_input``, max :math:`|x|` of vector inputs (bounds F_in).

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> seen = observe(EGRU(3, 8, threshold=0.05), torch.randn(20, 4, 3))
    >>> sorted(seen.layers), seen.max_input > 0, seen.layers["l0"]["state"] < 1
    (['l0'], True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import torch

from ...functional import egru_gates, egru_reset, event_argument
from ...language_model import EGRULanguageModel
from ...layer import EGRU
from ..layout import layer_plan, recurrent_stack

__all__ = ["Observations", "observe", "observe_egru", "calibration_batches"]


@dataclass
class Observations:
    """What :func:`observe` recorded: ``max_input`` and per layer name ``{"preact", "state", "output"}`` maxima."""

    max_input: float
    layers: Dict[str, Dict[str, float]]


def calibration_batches(inputs) -> List[torch.Tensor]:
    """``inputs`` as a list of tensors (one tensor, or a non-empty sequence of tensors)."""
    if isinstance(inputs, torch.Tensor):
        return [inputs]
    items = list(inputs)
    if not items or not all(isinstance(t, torch.Tensor) for t in items):
        raise TypeError("calibration_inputs must be a tensor or a non-empty sequence of tensors")
    return items


def observe_egru(rnn: EGRU, x: torch.Tensor, stats: dict, names: list) -> torch.Tensor:
    """Float64 forward of the EGRU stack on x [T, B, I], raising the maxima in ``stats[names[k]]``.

    Returns the last layer's graded outputs y [T, B, H].
    """
    layer_input = x.to(torch.float64)
    for k in range(rnn.num_layers):
        p = rnn.layer_parameters(k)
        H = rnn.hidden_sizes[k]
        w_ih, w_hh = p.weight_ih.double(), p.weight_hh.double()
        b_ih = p.bias_ih.double() if p.bias_ih is not None else torch.zeros(3 * H, dtype=torch.float64)
        b_hh = p.bias_hh.double() if p.bias_hh is not None else torch.zeros(3 * H, dtype=torch.float64)
        theta = p.threshold.double()
        gates_x = layer_input @ w_ih.t() + b_ih
        y = torch.zeros(x.shape[1], H, dtype=torch.float64)
        c = torch.zeros_like(y)
        ys = []
        s = stats[names[k]]
        for t in range(gates_x.shape[0]):
            g = egru_gates(gates_x[t], y @ w_hh.t() + b_hh, c)
            s["preact"] = max(s["preact"], *(float(v.abs().max()) for v in (g.a_r, g.a_z, g.h_n, g.a_n)))
            s["state"] = max(s["state"], float(g.c_tilde.abs().max()))
            if rnn.events:
                e = (event_argument(g.c_tilde, theta, rnn.polarity) > 0).double()
                y = g.c_tilde * e
                c = egru_reset(g.c_tilde, e, theta, rnn.reset_mechanism, rnn.polarity)
            else:
                y = c = g.c_tilde
            ys.append(y)
        layer_input = torch.stack(ys)
    return layer_input


def observe(model, calibration_inputs) -> Observations:
    """Run ``model`` (float64, no grad) on every calibration input and record the maxima."""
    plan = layer_plan(model)
    rnn = recurrent_stack(model)
    stats = {name: {"preact": 0.0, "state": 0.0, "output": 0.0} for name, _, _ in plan}
    egru_names = [name for name, kind, _ in plan if kind == "egru"]
    max_input = 0.0
    with torch.no_grad():
        for x in calibration_batches(calibration_inputs):
            if isinstance(model, EGRULanguageModel):
                model._check_tokens(x)
                y = observe_egru(rnn, model.embedding.weight.double()[x], stats, egru_names)
                logits = y @ model.readout.weight.double().t() + model.readout.bias.double()
                stats["readout"]["output"] = max(stats["readout"]["output"], float(logits.abs().max()))
                continue
            if x.dim() == 2:
                x = x.unsqueeze(1)
            elif model.batch_first:
                x = x.transpose(0, 1)
            if x.dim() != 3 or x.shape[-1] != model.input_size:
                raise ValueError(f"calibration input must be [T, B, {model.input_size}], got {tuple(x.shape)}")
            max_input = max(max_input, float(x.abs().max()))
            observe_egru(rnn, x, stats, egru_names)
    return Observations(max_input, stats)
