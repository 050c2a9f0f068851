r"""``EGRULanguageModel``: a word-level language model on a stack of EGRU layers.

Token ids ``[T, B]`` go through an embedding (``nn.Embedding``), an :class:`~snntorch_egru.EGRU`
stack and a dense readout (``nn.Linear`` with bias) to logits ``[T, B, V]``:

.. math::

    x_t = E[w_t], \qquad y^{(L)}_t = \mathrm{EGRU}(x_{\le t}), \qquad
    \mathrm{logits}_t = W_{out} y^{(L)}_t + b_{out}.

With ``tie_weights=True`` the readout shares the embedding matrix
(``readout.weight is embedding.weight``, as in the reference recipe); this needs the
last layer's size to equal ``embedding_size``. Dropout (training only) can act on the
embedding outputs, between EGRU layers and on the last layer's graded events.

Initialisation: embedding (and an untied readout weight) ``U(-0.1, 0.1)``, readout
bias zero, EGRU weights as ``torch.nn.GRU``.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRULanguageModel
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> lm = EGRULanguageModel(vocab_size=100, embedding_size=16, hidden_sizes=[32, 16],
    ...                        tie_weights=True)
    >>> tokens = torch.randint(0, 100, (20, 4))         # [T, B] token ids
    >>> logits, state = lm(tokens)
    >>> logits.shape
    torch.Size([20, 4, 100])
    >>> loss = torch.nn.functional.cross_entropy(logits[:-1].reshape(-1, 100), tokens[1:].reshape(-1))
    >>> logits, state = lm(tokens, state)              # carry the state to the next segment
    >>> lm.readout.weight is lm.embedding.weight
    True
"""

from __future__ import annotations

import operator
from typing import Sequence, Union

import torch
from torch import nn

from .activity import ActivityStats
from .layer import EGRU

__all__ = ["EGRULanguageModel", "TokenLanguageModel", "READOUT_INPUTS"]

#: What an :class:`EGRULanguageModel`'s readout reads: the last layer's graded events (the EGRU)
#: or its dense pre-reset states (a diagnostic).
READOUT_INPUTS = ("events", "candidates")


def _sizes(hidden_sizes) -> list:
    """``hidden_sizes`` as a non-empty list of positive ints (numpy ints accepted)."""
    try:
        values = [hidden_sizes] if not isinstance(hidden_sizes, Sequence) else list(hidden_sizes)
        sizes = [operator.index(h) for h in values if not isinstance(h, bool)]
    except TypeError:
        raise TypeError(f"hidden_sizes must be an int or a list of ints, got {hidden_sizes!r}") from None
    if not sizes or len(sizes) != len(values) or min(sizes) < 1:
        raise ValueError(f"hidden_sizes must be a non-empty list of positive ints, got {hidden_sizes!r}")
    return sizes


class TokenLanguageModel(nn.Module):
    r"""Embedding -> recurrent stack ``rnn`` -> dense readout: what every language model here shares.

    :class:`EGRULanguageModel` and :class:`snntorch_egru.baselines.RNNLanguageModel` differ only
    in the stack they build (``build_rnn(embedding_size, sizes)``) and how it is initialised
    (``_reset_rnn``); the argument checks, the token checks, the forward pass with its
    dropouts, weight tying and the embedding/readout initialisation (``U(-0.1, 0.1)``,
    readout bias 0) are defined here once.
    """

    #: how error messages name the stack's layers
    layer_word = "layer"

    def __init__(self, vocab_size: int, embedding_size: int, hidden_sizes, *, tie_weights: bool,
                 dropout_embedding: float, dropout_output: float, build_rnn):
        super().__init__()
        sizes = _sizes(hidden_sizes)
        for name, value in (("vocab_size", vocab_size), ("embedding_size", embedding_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name, value in (("dropout_embedding", dropout_embedding), ("dropout_output", dropout_output)):
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if tie_weights and sizes[-1] != embedding_size:
            raise ValueError(
                f"tie_weights=True needs the last {self.layer_word} to have embedding_size={embedding_size} units "
                f"(the readout weight [V, H] is the embedding [V, E]); got hidden_sizes[-1]={sizes[-1]}"
            )
        self.vocab_size = int(vocab_size)
        self.embedding_size = int(embedding_size)
        self.tie_weights = bool(tie_weights)
        self.dropout_embedding = float(dropout_embedding)
        self.dropout_output = float(dropout_output)
        self.embedding = nn.Embedding(self.vocab_size, self.embedding_size)
        self.rnn = build_rnn(self.embedding_size, sizes)
        self.readout = nn.Linear(sizes[-1], self.vocab_size)
        self.reset_parameters()
        if self.tie_weights:
            self.readout.weight = self.embedding.weight

    @property
    def hidden_sizes(self) -> list:
        return list(self.rnn.hidden_sizes)

    @property
    def dropout_between(self) -> float:
        return self.rnn.dropout

    def _reset_rnn(self) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Embedding (and untied readout weight) ~ U(-0.1, 0.1), readout bias 0, then the stack's own."""
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if not self.tie_weights:
            nn.init.uniform_(self.readout.weight, -0.1, 0.1)
        nn.init.zeros_(self.readout.bias)
        self._reset_rnn()

    def check_tokens(self, tokens) -> None:
        """TypeError/ValueError naming the problem unless ``tokens`` are int ids ``[T, B]`` in ``[0, V)``."""
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a torch.Tensor of token ids, got {type(tokens).__name__}")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(
                f"tokens must be integer token ids (torch.int64), got dtype {tokens.dtype}; "
                f"convert with tokens.long() if they hold whole numbers"
            )
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape [T, B] (time first), got shape {tuple(tokens.shape)}")
        if tokens.shape[0] == 0:
            raise ValueError("tokens has no time steps (T = 0)")
        device = self.embedding.weight.device
        if tokens.device != device:
            raise ValueError(f"tokens are on device {tokens.device} but the model is on {device}")
        if tokens.numel():
            low, high = int(tokens.min()), int(tokens.max())
            if low < 0 or high >= self.vocab_size:
                bad = low if low < 0 else high
                raise ValueError(f"token id {bad} out of range [0, {self.vocab_size}) (vocab_size={self.vocab_size})")

    _check_tokens = check_tokens   # the name the trainer's regulariser has always used

    def forward(self, tokens: torch.Tensor, state=None):
        self.check_tokens(tokens)
        x = self.embedding(tokens)
        if self.dropout_embedding and self.training:
            x = nn.functional.dropout(x, self.dropout_embedding, training=True)
        y, state = self.rnn(x, state)
        y = self.readout_input_of(y)
        if self.dropout_output and self.training:
            y = nn.functional.dropout(y, self.dropout_output, training=True)
        return self.readout(y), state

    def activity(self) -> ActivityStats:
        """Fraction of nonzero outputs per layer and pooled, over the last forward pass."""
        return self.rnn.activity()

    def readout_input_of(self, y: torch.Tensor) -> torch.Tensor:
        """What the readout reads, given the stack's last-layer outputs ``y`` [T, B, H]: ``y`` itself here."""
        return y

    def _repr_extra(self) -> str:
        return ""

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, embedding_size={self.embedding_size}, "
                f"hidden_sizes={self.hidden_sizes}, tie_weights={self.tie_weights}, "
                f"dropout_embedding={self.dropout_embedding}, dropout_output={self.dropout_output}"
                + self._repr_extra())


class EGRULanguageModel(TokenLanguageModel):
    r"""Embedding -> EGRU stack -> dense readout, for next-token prediction.

    Args:
        vocab_size: number of tokens V.
        embedding_size: embedding dimension E (the first EGRU layer's input size).
        hidden_sizes: units per EGRU layer (a list of ints, or one int for one layer).
        tie_weights: share the readout weight with the embedding (needs
            ``hidden_sizes[-1] == embedding_size``).
        threshold: initial per-unit threshold of every EGRU layer (see :class:`EGRU`).
        dropout_embedding: dropout on the embedding outputs (training only).
        dropout_between: dropout between EGRU layers (``EGRU``'s ``dropout``).
        dropout_output: dropout on the last layer's graded events before the readout.
        spike_grad: event function with pseudo-derivative; default ``triangle()``.
        reset_mechanism: ``"subtract"`` (EGRU), ``"zero"`` or ``"none"``.
        learn_threshold: thresholds are trained (Parameters) or fixed (buffers).
        min_threshold: floor of the straight-through threshold clamp.
        polarity: ``"positive"`` (reference neuron) or ``"signed"`` events (see :class:`EGRU`).
        readout_input: ``"events"`` (the readout reads the last layer's graded events y, the
            EGRU) or ``"candidates"`` (it reads the last layer's dense pre-reset state c~: a
            diagnostic of what the readout's sparse view costs; not exportable).

    Modules: ``embedding`` (``nn.Embedding(V, E)``), ``rnn`` (:class:`EGRU`),
    ``readout`` (``nn.Linear(hidden_sizes[-1], V)``).

    ``forward(tokens, state=None)``: ``tokens`` int64 (or int32) ``[T, B]`` with ids in
    ``[0, V)``; ``state`` as returned by a previous call (the EGRU's ``(y, c)``) or None.
    Returns ``(logits [T, B, V], state)``.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_sizes: Union[int, Sequence[int]],
        tie_weights: bool = False,
        threshold=0.1,
        dropout_embedding: float = 0.0,
        dropout_between: float = 0.0,
        dropout_output: float = 0.0,
        spike_grad=None,
        reset_mechanism: str = "subtract",
        learn_threshold: bool = True,
        min_threshold: float = 1e-3,
        polarity: str = "positive",
        readout_input: str = "events",
    ):
        if readout_input not in READOUT_INPUTS:
            raise ValueError(f"readout_input must be one of {READOUT_INPUTS}, got {readout_input!r}")
        super().__init__(
            vocab_size, embedding_size, hidden_sizes, tie_weights=tie_weights,
            dropout_embedding=dropout_embedding, dropout_output=dropout_output,
            build_rnn=lambda size, sizes: EGRU(
                size, sizes, dropout=dropout_between, threshold=threshold, learn_threshold=learn_threshold,
                spike_grad=spike_grad, reset_mechanism=reset_mechanism, min_threshold=min_threshold,
                polarity=polarity))
        self.readout_input = readout_input
        self.rnn.record_candidates = readout_input == "candidates"

    layer_word = "EGRU layer"

    def _reset_rnn(self) -> None:
        """EGRU weights as ``nn.GRU``'s initialisation (thresholds are kept)."""
        self.rnn.reset_parameters()

    def activity(self) -> ActivityStats:
        """Fraction of nonzero graded events per EGRU layer and pooled, over the last forward pass."""
        return self.rnn.activity()

    @property
    def polarity(self) -> str:
        return self.rnn.polarity

    def __setstate__(self, state):
        state.setdefault("readout_input", "events")   # models pickled before the option existed
        super().__setstate__(state)

    def readout_input_of(self, y: torch.Tensor) -> torch.Tensor:
        """The last layer's events ``y``, or its pre-reset states c~ with ``readout_input="candidates"``."""
        if self.readout_input == "candidates":
            return self.rnn.last_candidates[-1]
        return y

    def _repr_extra(self) -> str:
        extra = f", polarity={self.polarity!r}" if self.polarity != "positive" else ""
        if self.readout_input != "events":
            extra += f", readout_input={self.readout_input!r}"
        return extra
