r"""AWD-LSTM-style regularisation of a language model during training.

:class:`RegularizedLM` wraps a language model, an :class:`EGRULanguageModel` or the dense
baseline :class:`~snntorch_egru.baselines.RNNLanguageModel` (as its submodule ``lm``, the
parameters are the model's own) and computes, in training mode, the forward pass of the
reference recipe, the same for both:

- **embedding (word) dropout** ``dropout_words``: whole rows of the embedding matrix are
  dropped (one Bernoulli draw per vocabulary word per forward pass, survivors scaled by
  ``1/(1-p)``), so every occurrence of a dropped word in the batch reads a zero vector.
  Only the lookup uses the masked matrix; a tied readout uses the raw matrix (as AWD-LSTM's
  ``embedded_dropout``).
- **variational (locked) dropout**: one mask per sequence (per batch column), shared over all
  time steps of the forward pass, on the embedding outputs (``lm.dropout_embedding``),
  between layers (``lm.dropout_between``) and on the last layer's outputs (graded events
  of an EGRU) before the readout (``lm.dropout_output``). With ``locked=False`` these are
  ordinary per-element dropout.
- **DropConnect** ``dropconnect`` on the recurrent matrices (AWD-LSTM's ``WeightDrop``):
  per forward pass a fresh mask multiplies the raw weight, ``U' = U * m / (1-p)``; the
  product is differentiable, so gradients reach the raw Parameter (zero where dropped),
  and the Parameter itself is never modified. For an EGRU these are ``weight_hh_l{k}``;
  for an LSTM/GRU stack every layer's ``weight_hh_l0``.

Design choice: neither :mod:`snntorch_egru.layer` nor the torch modules are changed. The
wrapper runs the stack layer by layer itself, so it can place locked masks between layers
and substitute the dropped-connect recurrent matrix: an EGRU layer with
:meth:`EGRU.layer_parameters` and the layer's own sequence kernel, a ``torch.nn.LSTM`` /
``torch.nn.GRU`` layer through :func:`torch.func.functional_call` with the dropped
``weight_hh_l0`` in place of the Parameter (torch refreshes the module's flattened weight
list at its next forward, so the raw Parameter is used again afterwards). In evaluation
mode (``wrapper.eval()``) it simply calls ``lm(tokens, state)``: the raw weights, no
dropout. The trained model stays a plain language model (its ``state_dict`` has no extra
keys), and the wrapper is a module, so it can be wrapped by ``DistributedDataParallel``.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRULanguageModel
    >>> from snntorch_egru.regularization import RegularizedLM
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> lm = EGRULanguageModel(50, 8, [16, 8], tie_weights=True, dropout_between=0.25)
    >>> reg = RegularizedLM(lm, dropout_words=0.1, dropconnect=0.5)
    >>> logits, state = reg(torch.randint(0, 50, (6, 3)))
    >>> logits.shape
    torch.Size([6, 3, 50])
    >>> logits.sum().backward()
    >>> lm.rnn.weight_hh_l0.grad is not None              # gradients reach the raw weights
    True

    The dense LSTM/GRU baseline takes the same regularisers:

    >>> from snntorch_egru import RNNLanguageModel
    >>> reg = RegularizedLM(RNNLanguageModel(50, 8, [16, 8], cell="lstm", dropout_between=0.25), dropconnect=0.5)
    >>> reg(torch.randint(0, 50, (6, 3)))[0].sum().backward()
    >>> reg.lm.rnn.layers[0].weight_hh_l0.grad is not None
    True
"""

from __future__ import annotations

from typing import Union

import torch
from torch import nn
from torch.func import functional_call

from .baselines import RNNLanguageModel
from .language_model import EGRULanguageModel

__all__ = ["RegularizedLM", "locked_dropout", "embedding_dropout", "drop_connect"]


def _check_p(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p}")
    return p


def locked_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout on ``x`` [T, B, F] with one mask per (batch, feature), shared over time."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty((1,) + tuple(x.shape[1:])).bernoulli_(1.0 - p) / (1.0 - p)
    return x * mask


def embedding_dropout(weight: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """The embedding matrix [V, E] with whole rows (words) dropped, survivors scaled by ``1/(1-p)``."""
    if not training or p == 0.0:
        return weight
    mask = weight.new_empty((weight.shape[0], 1)).bernoulli_(1.0 - p) / (1.0 - p)
    return weight * mask


def drop_connect(weight: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``weight * mask / (1-p)`` with an element-wise Bernoulli mask (differentiable in ``weight``)."""
    if not training or p == 0.0:
        return weight
    mask = weight.new_empty(weight.shape).bernoulli_(1.0 - p) / (1.0 - p)
    return weight * mask


class RegularizedLM(nn.Module):
    """Training-time forward of a language model with the reference regularisers.

    Args:
        lm: the language model, :class:`EGRULanguageModel` or
            :class:`~snntorch_egru.baselines.RNNLanguageModel` (its dropout rates
            ``dropout_embedding``, ``dropout_between`` and ``dropout_output`` are used, as
            locked dropout when ``locked``).
        dropout_words: embedding dropout (whole rows of the embedding matrix).
        dropconnect: DropConnect rate on every recurrent matrix (``weight_hh_l*``).
        locked: variational (time-shared) masks instead of per-element dropout.

    ``forward(tokens, state=None) -> (logits, state)`` like the model's. In eval mode it is
    exactly ``lm(tokens, state)``. ``lm.rnn.last_events`` is set in both modes, so
    ``lm.activity()`` works after either.
    """

    def __init__(self, lm: Union[EGRULanguageModel, RNNLanguageModel], dropout_words: float = 0.0,
                 dropconnect: float = 0.0, locked: bool = True):
        super().__init__()
        if not isinstance(lm, (EGRULanguageModel, RNNLanguageModel)):
            raise TypeError(f"RegularizedLM wraps an EGRULanguageModel or an RNNLanguageModel, "
                            f"got {type(lm).__name__}")
        self.lm = lm
        self.dropout_words = _check_p("dropout_words", dropout_words)
        self.dropconnect = _check_p("dropconnect", dropconnect)
        self.locked = bool(locked)

    def _dropout(self, x: torch.Tensor, p: float) -> torch.Tensor:
        if p == 0.0:
            return x
        if self.locked:
            return locked_dropout(x, p, True)
        return nn.functional.dropout(x, p, training=True)

    def forward(self, tokens: torch.Tensor, state=None):
        lm = self.lm
        if not self.training:
            return lm(tokens, state)
        lm._check_tokens(tokens)
        weight = embedding_dropout(lm.embedding.weight, self.dropout_words, True)
        x = nn.functional.embedding(tokens, weight)
        x = self._dropout(x, lm.dropout_embedding)
        if isinstance(lm, RNNLanguageModel):
            layer_input, new_state = self._torch_stack(lm.rnn, x, state)
        else:
            layer_input, new_state = self._egru_stack(lm.rnn, x, state)
        y = self._dropout(lm.readout_input_of(layer_input), lm.dropout_output)
        return lm.readout(y), new_state

    def _egru_stack(self, rnn, x: torch.Tensor, state):
        """The EGRU layers with DropConnect and the between-layer dropout; (last y, state)."""
        if rnn.batch_first:
            raise ValueError("RegularizedLM expects a time-first EGRU (batch_first=False)")
        y0s, c0s, stacked = rnn._initial_state(state, x.shape[1], False, x)
        layer_input = x.contiguous()
        y_n, c_n, events, candidates = [], [], [], []
        for k in range(rnn.num_layers):
            params = rnn.layer_parameters(k)
            params = params._replace(weight_hh=drop_connect(params.weight_hh, self.dropconnect, True))
            ys, es, c_last, *c_tildes = rnn._run_layer(layer_input, y0s[k], c0s[k], params)
            candidates.extend(c_tildes)
            y_n.append(ys[-1])
            c_n.append(c_last)
            events.append(es)
            layer_input = ys
            if k < rnn.num_layers - 1:
                layer_input = self._dropout(layer_input, rnn.dropout)
        rnn.last_events = events
        rnn.last_candidates = candidates
        new_state = (torch.stack(y_n), torch.stack(c_n)) if stacked else (tuple(y_n), tuple(c_n))
        return layer_input, new_state

    def _torch_stack(self, rnn, x: torch.Tensor, state):
        """The ``nn.LSTM``/``nn.GRU`` layers, each run with a dropped-connect ``weight_hh_l0``."""
        states = rnn.layer_states(state)
        layer_input, outputs, new_state = x, [], []
        for k, layer in enumerate(rnn.layers):
            if self.dropconnect:
                dropped = {"weight_hh_l0": drop_connect(layer.weight_hh_l0, self.dropconnect, True)}
                y, s = functional_call(layer, dropped, (layer_input, states[k]))
            else:
                y, s = layer(layer_input, states[k])
            outputs.append(y)
            new_state.append(s)
            layer_input = y
            if k < rnn.num_layers - 1:
                layer_input = self._dropout(layer_input, rnn.dropout)
        rnn.last_events = outputs
        return layer_input, tuple(new_state)

    def extra_repr(self) -> str:
        return f"dropout_words={self.dropout_words}, dropconnect={self.dropconnect}, locked={self.locked}"
