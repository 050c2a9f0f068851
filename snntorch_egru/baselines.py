r"""Dense LSTM and GRU language-model baselines of the :class:`EGRULanguageModel` layout.

:class:`RNNLanguageModel` is embedding -> a stack of single-layer ``torch.nn.LSTM`` or
``torch.nn.GRU`` modules (one per layer, so sizes can differ; time first) -> dense readout
(``nn.Linear`` with bias), with the same interface as :class:`EGRULanguageModel`, so the
same trainer (the application's :mod:`egru.lm.trainer`), regularisers
(:class:`~snntorch_egru.regularization.RegularizedLM`), pruning targets and operation
counts (:mod:`snntorch_egru.opcount`) apply. Layer :math:`k` maps its input :math:`x_t`
(the embedding :math:`E[w_t]` for :math:`k = 0`, else layer :math:`k-1`'s :math:`h_t`) as
torch does, gate blocks stacked in torch's order.

LSTM (``cell="lstm"``; ``weight_ih_l0`` [4H, I], ``weight_hh_l0`` [4H, H], rows i, f, g, o):

.. math::

    \begin{aligned}
    i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}), &
    f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}), \\
    g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}), &
    o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}), \\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t, &
    h_t &= o_t \odot \tanh(c_t).
    \end{aligned}

GRU (``cell="gru"``; ``weight_ih_l0`` [3H, I], ``weight_hh_l0`` [3H, H], rows r, z, n):

.. math::

    \begin{aligned}
    r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}), &
    z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}), \\
    n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})), &
    h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}.
    \end{aligned}

Logits are :math:`W_{out} h^{(L)}_t + b_{out}`; with ``tie_weights=True`` the readout
weight *is* the embedding matrix (needs ``hidden_sizes[-1] == embedding_size``).
Initialisation as :class:`EGRULanguageModel`: embedding (and an untied readout weight)
``U(-0.1, 0.1)``, readout bias zero, RNN weights torch's default.

Parameter names end in ``weight_ih_l0`` / ``weight_hh_l0`` (``rnn.layers.{k}.weight_hh_l0``
for layer :math:`k`), so the pruning groups ``"input"`` and ``"recurrent"`` select exactly
the LSTM/GRU matrices of every layer (:mod:`snntorch_egru.pruning`).

State: a tuple with one entry per layer, ``(h, c)`` (each ``[1, B, H]``) for an LSTM,
``h`` (``[1, B, H]``) for a GRU; None starts from zeros.

Example::

    >>> import torch
    >>> from snntorch_egru import RNNLanguageModel
    >>> from snntorch_egru.pruning import Pruner
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> lm = RNNLanguageModel(vocab_size=100, embedding_size=16, hidden_sizes=[32, 16], cell="lstm",
    ...                       tie_weights=True)
    >>> tokens = torch.randint(0, 100, (20, 4))         # [T, B] token ids
    >>> logits, state = lm(tokens)
    >>> logits.shape, len(state), state[0][1].shape     # per layer (h, c)
    (torch.Size([20, 4, 100]), 2, torch.Size([1, 4, 32]))
    >>> logits, state = lm(tokens, state)              # carry the state to the next segment
    >>> round(lm.activity().pooled, 2)                  # dense: every output nonzero
    1.0
    >>> sorted(Pruner(lm, ["recurrent"]).parameters)
    ['rnn.layers.0.weight_hh_l0', 'rnn.layers.1.weight_hh_l0']
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

from .activity import ActivityStats, activity_statistics
from .language_model import TokenLanguageModel, _sizes

__all__ = ["RNNLanguageModel", "RNNStack", "CELLS"]

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
#: Gate blocks per cell: rows of ``weight_ih_l0`` / ``weight_hh_l0`` are ``GATES[cell] * H``.
GATES = {"lstm": 4, "gru": 3}


class RNNStack(nn.Module):
    """A stack of single-layer ``nn.LSTM`` / ``nn.GRU`` modules (time first), ``layers[k]``.

    ``forward(x [T, B, I], state=None) -> (h of the last layer [T, B, H], state)`` with
    ``state`` a tuple per layer (see the module docstring). Dropout ``dropout`` on each
    layer's output except the last (training only). ``last_events``: every layer's outputs
    ``[T, B, H]`` of the last forward (named as the EGRU's, for the trainer and the
    activity statistics).
    """

    def __init__(self, input_size: int, hidden_sizes: Sequence[int], cell: str = "lstm", dropout: float = 0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.cell = cell
        self.input_size = int(input_size)
        self.hidden_sizes = list(hidden_sizes)
        self.dropout = float(dropout)
        sizes = [self.input_size] + self.hidden_sizes
        self.layers = nn.ModuleList(CELLS[cell](sizes[k], sizes[k + 1]) for k in range(len(self.hidden_sizes)))
        self.last_events = None

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def gates(self) -> int:
        """Gate blocks per layer (LSTM 4, GRU 3)."""
        return GATES[self.cell]

    def layer_states(self, state) -> list:
        """The per-layer states of ``state`` (None: a list of None, i.e. zeros)."""
        if state is None:
            return [None] * self.num_layers
        if not isinstance(state, (tuple, list)) or len(state) != self.num_layers:
            raise ValueError(f"state must be a tuple with one entry per layer ({self.num_layers}), "
                             f"as returned by forward; got {type(state).__name__}")
        return list(state)

    def forward(self, x: torch.Tensor, state=None):
        states = self.layer_states(state)
        outputs, new_state = [], []
        layer_input = x
        for k, layer in enumerate(self.layers):
            y, s = layer(layer_input, states[k])
            outputs.append(y)
            new_state.append(s)
            layer_input = y
            if self.dropout and self.training and k < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
        self.last_events = outputs
        return outputs[-1], tuple(new_state)

    def activity(self) -> ActivityStats:
        """Fraction of nonzero outputs per layer and pooled, over the last forward pass."""
        if self.last_events is None:
            raise RuntimeError("activity() needs a forward pass first")
        return activity_statistics(self.last_events)

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, dropout={self.dropout}"


class RNNLanguageModel(TokenLanguageModel):
    r"""Embedding -> LSTM/GRU stack -> dense readout, the dense baseline of :class:`EGRULanguageModel`.

    Args:
        vocab_size: number of tokens V.
        embedding_size: embedding dimension E (the first layer's input size).
        hidden_sizes: units per layer (a list of ints, or one int for one layer).
        cell: ``"lstm"`` (``torch.nn.LSTM`` layers) or ``"gru"`` (``torch.nn.GRU``).
        tie_weights: share the readout weight with the embedding (needs
            ``hidden_sizes[-1] == embedding_size``).
        dropout_embedding: dropout on the embedding outputs (training only).
        dropout_between: dropout between layers.
        dropout_output: dropout on the last layer's outputs before the readout.

    Modules: ``embedding`` (``nn.Embedding(V, E)``), ``rnn`` (:class:`RNNStack`),
    ``readout`` (``nn.Linear(hidden_sizes[-1], V)``).

    ``forward(tokens, state=None)``: ``tokens`` int64 (or int32) ``[T, B]`` with ids in
    ``[0, V)`` (checked as :class:`EGRULanguageModel` does); ``state`` as returned by a
    previous call or None. Returns ``(logits [T, B, V], state)``.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_sizes: Union[int, Sequence[int]],
        cell: str = "lstm",
        tie_weights: bool = False,
        dropout_embedding: float = 0.0,
        dropout_between: float = 0.0,
        dropout_output: float = 0.0,
    ):
        super().__init__(
            vocab_size, embedding_size, hidden_sizes, tie_weights=tie_weights,
            dropout_embedding=dropout_embedding, dropout_output=dropout_output,
            build_rnn=lambda size, sizes: RNNStack(size, sizes, cell=cell, dropout=dropout_between))

    @property
    def cell(self) -> str:
        return self.rnn.cell

    def _reset_rnn(self) -> None:
        """torch's default initialisation of every LSTM/GRU layer."""
        for layer in self.rnn.layers:
            layer.reset_parameters()

    def activity(self) -> ActivityStats:
        """Fraction of nonzero outputs per layer and pooled, over the last forward pass (~1: dense)."""
        return self.rnn.activity()

    def _repr_extra(self) -> str:
        return f", cell={self.cell!r}"
