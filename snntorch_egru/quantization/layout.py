"""Which layers a quantised model has, in network-file order: the plan every phase walks.

An :class:`~snntorch_egru.EGRU` of L layers is ``[("l0", "egru", 0), ..., ("l{L-1}", "egru", L-1)]``;
an :class:`~snntorch_egru.EGRULanguageModel` is ``[("embedding", "dense", None), ("rnn.l0", "egru", 0),
..., ("readout", "dense", None)]``. A :class:`~snntorch_egru.quantization.QuantizationSpec` has one
format per entry, in this order.

    >>> from snntorch_egru import EGRU
    >>> layer_plan(EGRU(3, 4, num_layers=2))
    [('l0', 'egru', 0), ('l1', 'egru', 1)]
"""

from __future__ import annotations

from ..language_model import EGRULanguageModel
from ..layer import EGRU

__all__ = ["layer_plan", "recurrent_stack", "dense_tensors"]


def layer_plan(model) -> list:
    """``[(name, kind, index)]`` for the layers after the input, in network-file order."""
    if isinstance(model, EGRULanguageModel):
        return ([("embedding", "dense", None)] + [(f"rnn.l{k}", "egru", k) for k in range(model.rnn.num_layers)]
                + [("readout", "dense", None)])
    if isinstance(model, EGRU):
        return [(f"l{k}", "egru", k) for k in range(model.num_layers)]
    raise TypeError(f"expected an snntorch_egru EGRU or EGRULanguageModel, got {type(model).__name__}")


def recurrent_stack(model) -> EGRU:
    """The model's :class:`~snntorch_egru.EGRU` (the model itself, or a language model's ``rnn``).

    Raises NotImplementedError for a language model whose readout reads the dense pre-reset
    state (``readout_input="candidates"``, a diagnostic): the integer models read the events."""
    if isinstance(model, EGRULanguageModel):
        if getattr(model, "readout_input", "events") != "events":
            raise NotImplementedError(
                "fixed-point quantisation computes a readout of the graded events; this model's readout reads "
                f"the dense pre-reset states (readout_input={model.readout_input!r}, a diagnostic)")
        return model.rnn
    return model


def dense_tensors(model, name: str):
    """``(weight [out, in], bias or None)`` of the dense layer ``name`` (``"embedding"`` or ``"readout"``), detached."""
    if name == "embedding":
        return model.embedding.weight.detach().t(), None   # [E, V], no bias
    return model.readout.weight.detach(), model.readout.bias.detach()
