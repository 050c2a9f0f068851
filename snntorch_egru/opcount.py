r"""Operation accounting for EGRU models at inference: how activity and weight sparsity compose.

For one matmul :math:`W \in \mathbb{R}^{R \times C}` applied to an input :math:`u_t \in
\mathbb{R}^C` at step :math:`t`, three multiply-accumulate (MAC) counts are reported:

.. math::

    \text{dense} = R C, \qquad
    \text{activity} = R \, |\{j : u_{t,j} \ne 0\}|, \qquad
    \text{effective} = \sum_{j : u_{t,j} \ne 0} \mathrm{nnz}(W_{:,j}).

*dense* is a GRU of the same size (every column, every weight); *activity* is the EGRU
touching only the columns of nonzero inputs but every weight in them; *effective* is
the EGRU with pruning: nonzero inputs times nonzero weights only. With input density
:math:`a` and weight density :math:`d` (independent), effective / dense
:math:`\approx a d`: the two sparsities multiply. The counts are averaged per token
(per step and sequence; the reference evaluates at batch size 1, where this is per
step).

Matmuls counted, per EGRU layer :math:`k` and step :math:`t`:

- ``weight_ih_l{k}`` [3H, I] on the layer input: :math:`x_t` for layer 0 (a dense input
  counts all its nonzero entries, so usually every column), :math:`y^{(k-1)}_t` for
  :math:`k > 0`;
- ``weight_hh_l{k}`` [3H, H] on the layer's own graded events :math:`y^{(k)}_{t-1}`
  (at :math:`t = 0` the initial state's :math:`y_0`, zero by default);
- for :class:`~snntorch_egru.EGRULanguageModel`, ``readout.weight`` [V, H] on the last
  layer's :math:`y_t`, and the embedding: ``embedding="lookup"`` (default) counts the
  lookup :math:`E[w_t]` as 0 MACs (a memory read, as NeuroBench does: ``nn.Embedding``
  is not a connection layer there); ``embedding="one_hot"`` counts it as the product of
  :math:`E^\top` [E, V] with a one-hot vector (dense V E, activity E, effective
  :math:`\mathrm{nnz}(E[w_t])`).

A unit's graded output is nonzero exactly when it fires (:math:`\tilde c > \vartheta > 0`).
A model with ``events=False`` (plain GRU) is counted as all units active.

**Dense baselines** (:class:`~snntorch_egru.baselines.RNNLanguageModel`, ``torch.nn.LSTM`` or
``torch.nn.GRU`` layers): the same matmuls (``rnn.layers.{k}.weight_ih_l0`` on the layer
input, ``rnn.layers.{k}.weight_hh_l0`` on :math:`h^{(k)}_{t-1}`, readout, embedding) with
the same three counts, taken from the actual outputs :math:`h_t` (nonzero in practice, so
the input density is ~1). The same convention as for the GRU above: at :math:`t = 0` the
recurrent matmul reads the initial :math:`h_0`, zero by default, so it counts 0 there.
The LSTM has 4 gate blocks (``weight_ih_l0`` [4H, I], ``weight_hh_l0`` [4H, H], rows
i, f, g, o), the GRU 3 (r, z, n).

*dense* stays the reference for every model: the dense **GRU** of the same sizes, 3H rows
per RNN matrix (for an LSTM, ``MatmulCount.dense`` of ``weight_hh_l0`` is 3H x H, not its
own 4H x H), so reductions compare every model with the same GRU: an unpruned LSTM's
RNN layers show a reduction of 3/4 (it does 4/3 of the GRU's MACs). The model's own dense
count (every weight of its own matrices) is ``MatmulCount.model_dense`` /
``OpCounts.model_dense`` (equal to *dense* for the EGRU and the GRU).

**Excluded from the MACs**: biases and every element-wise operation. Their number per
token is reported separately (``OpCounts.elementwise``), per EGRU layer of H units and step
(they do not shrink with activity: every unit's state is updated every step):

- additions: 6H bias adds (``bias_ih``, ``bias_hh``), 3H sums of the input and recurrent
  gate parts, H for :math:`1 - z`, H for :math:`z c + (1 - z) n`, H for the reset
  :math:`c - e \vartheta` (12H; a plain GRU has no reset: 11H);
- multiplications: :math:`r \odot (U_n y + b)`, :math:`z \odot c`, :math:`(1-z) \odot n`,
  :math:`y = \tilde c \odot e` (4H; GRU 3H);
- nonlinearities: 2H sigmoids and H tanh (3H);
- comparisons: H threshold tests (GRU: none);
- readout: V bias adds.

An LSTM layer (``"lstm"``): 8H bias adds, 4H sums of the gate parts and H for
:math:`f c + i g` (13H additions), :math:`f \odot c`, :math:`i \odot g`,
:math:`o \odot \tanh c` (3H multiplications), 3H sigmoids and 2H tanh (5H nonlinearities).

Also reported: activity sparsity per layer and pooled (fraction of zero :math:`y`),
connection sparsity (fraction of zero weights) per matrix and overall (over the weights
of the counted matmuls, biases excluded), and the parameter footprint (parameters,
nonzeros, bytes as dense float32 and with every matrix in CSR: 4-byte values and column
indices plus 4-byte row pointers; vectors dense; mask buffers excluded).

:class:`NeuroBenchView` rebuilds a model from ``nn.Linear`` modules (sharing its weights)
so that NeuroBench's hook-based metrics see every matmul; ``tests/snntorch_egru/test_neurobench_crosscheck.py``
checks that its ``SynapticOperations``, ``ActivationSparsity`` and ``ConnectionSparsity``
agree with :func:`count_operations`.

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.opcount import count_operations
    >>> from snntorch_egru.pruning import Pruner
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(16, 32, num_layers=2, threshold=0.3)
    >>> Pruner(rnn, ["input", "recurrent"]).prune(0.8)
    >>> counts = count_operations(rnn, torch.randn(200, 16))     # batch 1, 200 steps
    >>> counts.dense                     # MACs per token of the dense GRU: 3H(I + H) + 3H(H + H)
    10752.0
    >>> counts.effective < counts.activity < counts.dense
    True
    >>> round(counts.connection_sparsity["overall"], 2)
    0.8
    >>> print(counts.table())            # doctest: +ELLIPSIS
    matmul ...
    total ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from .baselines import GATES, RNNLanguageModel, RNNStack
from .functional import egru_gates, egru_reset, event_argument
from .language_model import EGRULanguageModel
from .layer import EGRU

__all__ = ["MatmulCount", "OpCounts", "count_operations", "NeuroBenchView", "EGRUEventOutput", "RNNOutput",
           "elementwise_operations", "parameter_footprint"]

EMBEDDING_MODES = ("lookup", "one_hot")


@dataclass
class MatmulCount:
    """MACs of one matmul per token (see the module docstring for the three counts).

    ``per_step``: effective MACs of every step [T, B] (int64), e.g. to compare with an
    event-driven run step by step. ``dense`` is the reference GRU's count;
    ``model_dense`` the counted model's own (rows x columns of its matrix; the same
    except for an LSTM's 4H-row matrices).
    """

    name: str
    layer: str
    input: str
    shape: tuple
    dense: float
    activity: float
    effective: float
    input_density: float
    weight_density: float
    per_step: np.ndarray = field(repr=False)
    model_dense: Optional[float] = None

    def __post_init__(self):
        if self.model_dense is None:
            self.model_dense = self.dense

    @property
    def reduction(self) -> float:
        """dense / effective (inf when no effective MACs)."""
        return self.dense / self.effective if self.effective else math.inf


@dataclass
class OpCounts:
    """Result of :func:`count_operations`. MACs are per token (step of one sequence).

    Attributes:
        tokens: steps x sequences counted.
        matmuls: one :class:`MatmulCount` per counted matmul.
        activity_sparsity: fraction of zero graded outputs per layer (``"layer0"``, ...)
            and ``"pooled"`` (over all layers' entries).
        connection_sparsity: fraction of zero weights per counted matrix and ``"overall"``.
        footprint: from :func:`parameter_footprint`.
        elementwise: element-wise operations per token per layer, for the EGRU and a
            dense GRU of the same size (see :func:`elementwise_operations`).
        embedding: how the embedding was counted (``"lookup"``, ``"one_hot"`` or None).
        cell: the counted model's recurrent cell: ``"egru"``, ``"gru"`` (an EGRU with
            ``events=False`` or a GRU baseline) or ``"lstm"``.
    """

    tokens: int
    matmuls: List[MatmulCount]
    activity_sparsity: Dict[str, float]
    connection_sparsity: Dict[str, float]
    footprint: dict
    elementwise: Dict[str, dict]
    embedding: Optional[str] = None
    cell: str = "egru"

    @property
    def dense(self) -> float:
        """MACs per token of the dense GRU of the same sizes (the reference of every reduction)."""
        return float(sum(m.dense for m in self.matmuls))

    @property
    def model_dense(self) -> float:
        """MACs per token of the counted model itself, dense (every weight of its matrices)."""
        return float(sum(m.model_dense for m in self.matmuls))

    @property
    def activity(self) -> float:
        return float(sum(m.activity for m in self.matmuls))

    @property
    def effective(self) -> float:
        return float(sum(m.effective for m in self.matmuls))

    @property
    def reduction_activity(self) -> float:
        """dense / activity-only MACs: the saving of activity sparsity alone."""
        return self.dense / self.activity if self.activity else math.inf

    @property
    def reduction_effective(self) -> float:
        """dense / effective MACs: activity and weight sparsity together."""
        return self.dense / self.effective if self.effective else math.inf

    @property
    def per_step(self) -> np.ndarray:
        """Effective MACs of every step, all matmuls together [T, B]."""
        return sum(m.per_step for m in self.matmuls)

    def layers(self) -> Dict[str, dict]:
        """MACs per token grouped by layer (``"layer0"``, ..., ``"readout"``, ``"embedding"``)."""
        out: Dict[str, dict] = {}
        for m in self.matmuls:
            entry = out.setdefault(m.layer, {"dense": 0.0, "model_dense": 0.0, "activity": 0.0, "effective": 0.0})
            for key in ("dense", "model_dense", "activity", "effective"):
                entry[key] += getattr(m, key)
        for entry in out.values():
            entry["reduction_activity"] = entry["dense"] / entry["activity"] if entry["activity"] else math.inf
            entry["reduction_effective"] = entry["dense"] / entry["effective"] if entry["effective"] else math.inf
        return out

    def as_dict(self) -> dict:
        return {
            "tokens": self.tokens, "embedding": self.embedding, "cell": self.cell,
            "dense": self.dense, "model_dense": self.model_dense, "activity": self.activity,
            "effective": self.effective,
            "reduction_activity": self.reduction_activity, "reduction_effective": self.reduction_effective,
            "matmuls": [{k: v for k, v in m.__dict__.items() if k != "per_step"} for m in self.matmuls],
            "layers": self.layers(), "activity_sparsity": dict(self.activity_sparsity),
            "connection_sparsity": dict(self.connection_sparsity), "footprint": self.footprint,
            "elementwise": self.elementwise,
        }

    def table(self) -> str:
        """A readable report: MACs per token per matmul, layer and total, then the sparsities."""
        cell = self.cell.upper()
        head = (f"{'matmul':<28}{'shape':>13}{'in.dens':>8}{'w.dens':>8}{'dense GRU':>12}"
                f"{cell + ' act.':>12}{cell + '+prune':>12}{'x act.':>8}{'x total':>9}")
        lines = [head, "-" * len(head)]

        def row(label, shape, ind, wd, d, a, e):
            ra = f"{d / a:.1f}" if a else "inf"
            re_ = f"{d / e:.1f}" if e else "inf"
            return (f"{label:<28}{shape:>13}{ind:>8}{wd:>8}{d:>12.0f}{a:>12.0f}{e:>12.0f}{ra:>8}{re_:>9}")

        for m in self.matmuls:
            lines.append(row(m.name, f"{m.shape[0]}x{m.shape[1]}", f"{m.input_density:.3f}",
                             f"{m.weight_density:.3f}", m.dense, m.activity, m.effective))
        lines.append("-" * len(head))
        for name, entry in self.layers().items():
            lines.append(row(name, "", "", "", entry["dense"], entry["activity"], entry["effective"]))
        lines.append(row("total", "", "", "", self.dense, self.activity, self.effective))
        lines.append("")
        emb = {"lookup": "embedding lookup counted as 0 MACs",
               "one_hot": "embedding counted as a one-hot matmul", None: "no embedding"}[self.embedding]
        lines.append(f"MACs per token, {self.tokens} tokens; biases and element-wise ops excluded; {emb}.")
        if self.model_dense != self.dense:
            lines.append(f"dense {cell} (its own matrices, every weight): {self.model_dense:.0f} MACs per token.")
        lines.append("activity sparsity (zero y): " + ", ".join(
            f"{k} {v:.3f}" for k, v in self.activity_sparsity.items()))
        lines.append("connection sparsity (zero weights): " + ", ".join(
            f"{k} {v:.3f}" for k, v in self.connection_sparsity.items()))
        fp = self.footprint["total"]
        lines.append(f"parameters {fp['parameters']}, nonzero {fp['nonzeros']}, "
                     f"{fp['bytes_dense'] / 1e6:.3f} MB dense float32, "
                     f"{fp['bytes_csr'] / 1e6:.3f} MB with CSR matrices")
        ew = self.elementwise["total"]
        lines.append("element-wise ops per token (not in the MACs): " + "; ".join(
            kind.upper() + " " + ", ".join(f"{k} {v}" for k, v in ops.items()) for kind, ops in ew.items()))
        return "\n".join(lines)


def elementwise_operations(hidden: int, bias: bool = True) -> dict:
    """Element-wise operations per step of one layer of ``hidden`` units (EGRU, GRU and LSTM)."""
    h = int(hidden)
    bias_adds = 6 * h if bias else 0
    return {
        "egru": {"additions": bias_adds + 3 * h + 3 * h, "multiplications": 4 * h,
                 "nonlinearities": 3 * h, "comparisons": h},
        "gru": {"additions": bias_adds + 3 * h + 2 * h, "multiplications": 3 * h,
                "nonlinearities": 3 * h, "comparisons": 0},
        "lstm": {"additions": (8 * h if bias else 0) + 4 * h + h, "multiplications": 3 * h,
                 "nonlinearities": 5 * h, "comparisons": 0},
    }


def parameter_footprint(model: nn.Module) -> dict:
    """Per parameter and ``"total"``: ``parameters``, ``nonzeros``, ``bytes_dense`` (numel x
    element size) and ``bytes_csr`` (matrices as CSR with 4-byte indices: nnz x (element
    size + 4) + (rows + 1) x 4; vectors dense). Tied parameters count once."""
    out, total = {}, {"parameters": 0, "nonzeros": 0, "bytes_dense": 0, "bytes_csr": 0}
    for name, p in model.named_parameters():
        numel, nnz, size = p.numel(), int(torch.count_nonzero(p)), p.element_size()
        csr = nnz * (size + 4) + (p.shape[0] + 1) * 4 if p.dim() == 2 else numel * size
        entry = {"parameters": numel, "nonzeros": nnz, "bytes_dense": numel * size, "bytes_csr": csr}
        out[name] = entry
        for key in total:
            total[key] += entry[key]
    out["total"] = total
    return out


def _count_matmul(name, layer, input_desc, weight: torch.Tensor, active: torch.Tensor,
                  reference_rows: Optional[int] = None) -> MatmulCount:
    """``active``: [T, B, C] bool (nonzero input columns per step); ``reference_rows``: rows
    of the reference GRU's matrix (default: the matrix's own)."""
    rows, cols = weight.shape
    reference_rows = rows if reference_rows is None else reference_rows
    col_nnz = (weight.detach() != 0).sum(0).to(torch.float64)  # [C]
    steps, batch = active.shape[:2]
    tokens = steps * batch
    act = active.reshape(tokens, cols)
    per_step = (act.to(torch.float64) @ col_nnz).round().to(torch.int64).reshape(steps, batch)
    n_active = act.sum().item()
    return MatmulCount(
        name=name, layer=layer, input=input_desc, shape=(rows, cols),
        dense=float(reference_rows * cols), activity=rows * n_active / tokens,
        effective=float(per_step.sum().item()) / tokens,
        input_density=n_active / (tokens * cols),
        weight_density=float(col_nnz.sum().item()) / (rows * cols),
        per_step=per_step.numpy(), model_dense=float(rows * cols),
    )


def _initial_y(state, rnn, batch: int) -> List[torch.Tensor]:
    """Per-layer y0 (EGRU) or h0 (LSTM/GRU stack) [B, H] from a state as the forward accepts it."""
    if state is None:
        return [torch.zeros(batch, h) for h in rnn.hidden_sizes]
    if isinstance(rnn, RNNStack):
        parts = [s[0] if rnn.cell == "lstm" else s for s in rnn.layer_states(state)]
    else:
        y0 = state[0]
        parts = list(y0.unbind(0)) if isinstance(y0, torch.Tensor) else list(y0)
    return [p.detach().reshape(batch, -1) for p in parts]


def _run(model, inputs, state):
    """Forward in eval mode; returns (rnn, layer-0 input [T, B, I], per-layer activity masks
    of the outputs [T, B, H], initial-output masks [B, H], tokens [T, B] or None)."""
    is_lm = isinstance(model, (EGRULanguageModel, RNNLanguageModel))
    rnn = model.rnn if is_lm else model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if is_lm:
                tokens = inputs.unsqueeze(1) if inputs.dim() == 1 else inputs
                model(tokens, state)
                x = model.embedding(tokens)
            else:
                tokens = None
                model(inputs, state)
                unbatched = inputs.dim() == 2
                x = inputs.unsqueeze(1) if unbatched else (inputs.transpose(0, 1) if rnn.batch_first else inputs)
            steps, batch = x.shape[:2]
            if getattr(rnn, "events", True):  # EGRU events, or the outputs h of an LSTM/GRU stack
                masks = [e.reshape(steps, batch, -1) != 0 for e in rnn.last_events]
            else:
                masks = [torch.ones(steps, batch, h, dtype=torch.bool) for h in rnn.hidden_sizes]
            y0 = [y != 0 for y in _initial_y(state, rnn, batch)]
    finally:
        model.train(was_training)
    return rnn, x, masks, y0, tokens


def _run_packed(rnn: EGRU, packed: PackedSequence, state):
    """:func:`_run` for a ``PackedSequence``: every mask is ``[N, 1, C]`` over the N real steps in
    the packed rows' order, and the recurrent input of a row is its own sequence's previous row."""
    was_training = rnn.training
    rnn.eval()
    try:
        with torch.no_grad():
            rnn(packed, state)
            sizes = [int(b) for b in packed.batch_sizes]
            offsets = np.concatenate([[0], np.cumsum(sizes)])
            # packed row of (step t, sorted sequence b) is offsets[t] + b; its previous row offsets[t-1] + b
            previous_row = np.concatenate([offsets[t - 1] + np.arange(n) for t, n in enumerate(sizes) if t] or
                                          [np.zeros(0, np.int64)]).astype(np.int64)
            first = sizes[0]
            masks = [e.reshape(len(packed.data), 1, -1) != 0 for e in rnn.last_events]
            y0 = _initial_y(state, rnn, first)
            if packed.sorted_indices is not None:
                y0 = [y.index_select(0, packed.sorted_indices) for y in y0]
            previous = [torch.cat([y != 0, m[torch.as_tensor(previous_row), 0]]).unsqueeze(1)
                        for y, m in zip(y0, masks)]
    finally:
        rnn.train(was_training)
    return rnn, packed.data.unsqueeze(1), masks, previous, None


def _cell(model) -> str:
    if isinstance(model, RNNLanguageModel):
        return model.cell
    rnn = model.rnn if isinstance(model, EGRULanguageModel) else model
    return "egru" if rnn.events else "gru"


def _rnn_matrices(rnn, k: int):
    """(weight_ih, weight_hh, their name stem) of layer ``k`` of an EGRU or an LSTM/GRU stack."""
    if isinstance(rnn, RNNStack):
        layer = rnn.layers[k]
        return layer.weight_ih_l0, layer.weight_hh_l0, f"layers.{k}.", "_l0"
    return getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}"), "", f"_l{k}"


def count_operations(model: nn.Module, inputs: torch.Tensor, state=None, *, embedding: str = "lookup",
                     prefix: Optional[str] = None) -> OpCounts:
    """Count MACs per token of ``model`` on ``inputs``: an :class:`EGRU`, an
    :class:`EGRULanguageModel` or a dense :class:`~snntorch_egru.baselines.RNNLanguageModel`.

    Runs the model's forward (eval mode, no grad) and counts from its outputs (graded
    events of an EGRU, :math:`h_t` of an LSTM/GRU). ``dense`` is always the dense GRU of
    the same sizes (see the module docstring).

    Args:
        model: ``EGRU``, ``EGRULanguageModel`` or ``RNNLanguageModel``.
        inputs: what the model's forward takes: ``[T, I]`` / ``[T, B, I]`` or a
            ``PackedSequence`` for an EGRU (only real steps are counted; ``per_step`` is then
            ``[N, 1]`` in the packed data's row order), token ids ``[T]`` / ``[T, B]`` for a
            language model. Batch 1 is the reference
            setting; with B > 1 the counts are averaged over the T x B tokens.
        state: initial state as the forward accepts it (None: zeros).
        embedding: ``"lookup"`` (0 MACs) or ``"one_hot"`` (see the module docstring);
            language models only.
        prefix: prefix of the matmul names (default ``"rnn."`` for a language model).
    """
    if not isinstance(model, (EGRU, EGRULanguageModel, RNNLanguageModel)):
        raise TypeError(f"count_operations supports EGRU, EGRULanguageModel and RNNLanguageModel, "
                        f"got {type(model).__name__}")
    if embedding not in EMBEDDING_MODES:
        raise ValueError(f"embedding must be one of {EMBEDDING_MODES}, got {embedding!r}")
    is_lm = isinstance(model, (EGRULanguageModel, RNNLanguageModel))
    cell = _cell(model)
    if isinstance(inputs, PackedSequence):
        if not isinstance(model, EGRU):
            raise TypeError(f"count_operations takes a PackedSequence for an EGRU only, got {type(model).__name__}")
        rnn, x, masks, previous, tokens = _run_packed(model, inputs, state)
    else:
        rnn, x, masks, y0, tokens = _run(model, inputs, state)
        previous = [torch.cat([y0[k].unsqueeze(0), masks[k][:-1]], dim=0) for k in range(len(masks))]
    prefix = ("rnn." if is_lm else "") if prefix is None else prefix
    steps, batch = x.shape[:2]
    matmuls: List[MatmulCount] = []
    if is_lm and embedding == "one_hot":
        one_hot = torch.nn.functional.one_hot(tokens, model.vocab_size).bool()
        matmuls.append(_count_matmul("embedding.weight.T", "embedding", "one-hot token",
                                     model.embedding.weight.t(), one_hot))
    output = "h" if isinstance(rnn, RNNStack) else "y"
    layer_input, input_desc = x != 0, "embedding output" if is_lm else "x"
    for k, hidden in enumerate(rnn.hidden_sizes):
        w_ih, w_hh, stem, suffix = _rnn_matrices(rnn, k)
        reference_rows = GATES["gru"] * hidden
        matmuls.append(_count_matmul(f"{prefix}{stem}weight_ih{suffix}", f"layer{k}", input_desc, w_ih,
                                     layer_input, reference_rows))
        matmuls.append(_count_matmul(f"{prefix}{stem}weight_hh{suffix}", f"layer{k}", f"{output}_l{k} (t-1)",
                                     w_hh, previous[k], reference_rows))
        layer_input, input_desc = masks[k], f"{output}_l{k}"
    if is_lm:
        if getattr(model, "readout_input", "events") == "candidates":   # a dense readout of c~ (diagnostic)
            readout_mask, input_desc = torch.ones_like(masks[-1]), f"c~_l{len(masks) - 1} (dense)"
        else:
            readout_mask = masks[-1]
        matmuls.append(_count_matmul("readout.weight", "readout", input_desc, model.readout.weight, readout_mask))
    activity = {}
    zeros = entries = 0
    for k, mask in enumerate(masks):
        z = int((~mask).sum())
        activity[f"layer{k}"] = z / mask.numel()
        zeros, entries = zeros + z, entries + mask.numel()
    activity["pooled"] = zeros / entries
    connection = {}
    zeros = entries = 0
    for m in matmuls:
        w = m.shape[0] * m.shape[1]
        connection[m.name] = 1.0 - m.weight_density
        zeros += round((1.0 - m.weight_density) * w)
        entries += w
    connection["overall"] = zeros / entries
    if isinstance(rnn, RNNStack):  # the model's own cell, and the reference GRU
        kinds, bias = ((cell, "gru") if cell != "gru" else ("gru",)), rnn.layers[0].bias
    else:
        kinds, bias = ("egru", "gru"), rnn.bias
    elementwise: Dict[str, dict] = {}
    for k, h in enumerate(rnn.hidden_sizes):
        ops = elementwise_operations(h, bias)
        elementwise[f"layer{k}"] = {kind: ops[kind] for kind in kinds}
    total = {kind: {} for kind in kinds}
    for entry in elementwise.values():
        for kind in total:
            for key, value in entry[kind].items():
                total[kind][key] = total[kind].get(key, 0) + value
    if is_lm:
        elementwise["readout"] = {kind: {"additions": model.vocab_size} for kind in kinds}
        for kind in total:
            total[kind]["additions"] += model.vocab_size
    elementwise["total"] = total
    return OpCounts(
        tokens=steps * batch, matmuls=matmuls, activity_sparsity=activity, connection_sparsity=connection,
        footprint=parameter_footprint(model), elementwise=elementwise,
        embedding=embedding if is_lm else None, cell=cell,
    )


# --------------------------------------------------------------------------- NeuroBench view


class EGRUEventOutput(nn.Module):
    """The event nonlinearity as a module, :math:`y = \\tilde c \\, H(\\tilde c - \\vartheta)`
    (signed events: :math:`H(|\\tilde c| - \\vartheta)`), so that hook-based tools (NeuroBench's
    activation hooks) record the graded outputs."""

    def __init__(self, threshold: torch.Tensor, spike_fn, polarity: str = "positive"):
        super().__init__()
        self.register_buffer("threshold", threshold.detach().clone())
        self.spike_fn = spike_fn
        self.polarity = polarity

    def forward(self, c_tilde: torch.Tensor) -> torch.Tensor:
        return c_tilde * self.spike_fn(event_argument(c_tilde, self.threshold, self.polarity))


class RNNOutput(nn.Module):
    """The identity on a dense LSTM/GRU layer's output :math:`h_t`, so that hook-based tools
    (NeuroBench's activation hooks, ``TorchModel.add_activation_module(RNNOutput)``) record it."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h


class NeuroBenchView(nn.Module):
    """A NeuroBench-visible copy of an :class:`EGRU`, :class:`EGRULanguageModel` or
    :class:`~snntorch_egru.baselines.RNNLanguageModel`.

    NeuroBench (``neurobench.models.TorchModel``) finds connection layers by module type
    (``nn.Linear``, convolutions, ``nn.RNNBase``, ``nn.RNNCellBase``) and records their
    inputs through forward pre-hooks. The native ``EGRU`` holds its weights as plain
    parameters, so NeuroBench sees none of its matmuls (only a language model's
    ``readout``), and ``nn.GRUCell`` cannot stand in (its state update uses h, the EGRU's
    uses c while the matmul reads y). This view runs the reference step's equations
    (:func:`~snntorch_egru.functional.egru_gates`, :func:`~snntorch_egru.functional.egru_reset`)
    step by step with one ``nn.Linear`` per matmul (``ih_l{k}``: ``weight_ih_l{k}`` + ``bias_ih_l{k}``,
    ``hh_l{k}``: ``weight_hh_l{k}`` + ``bias_hh_l{k}``, ``readout``), sharing the model's
    parameters, and one :class:`EGRUEventOutput` per layer (register it with
    ``TorchModel.add_activation_module(EGRUEventOutput)``). Thresholds are copied when
    the view is built. The embedding is the model's ``nn.Embedding`` (invisible to
    NeuroBench, matching ``embedding="lookup"``) or, with ``embedding="one_hot"``, an
    ``nn.Linear(V, E)`` holding a copy of ``embedding.weight.T`` fed one-hot vectors.

    Input is batch first, as NeuroBench passes it: ``[B, T, I]`` or token ids ``[B, T]``;
    the state starts at zero. Output ``[B, T, H]`` (last layer's y) or logits ``[B, T, V]``.
    The view computes in a different operation order than the fused kernel, so outputs
    agree to float rounding (events agree unless a unit sits within rounding of its
    threshold).

    For an ``RNNLanguageModel`` NeuroBench cannot count the ``nn.LSTM`` / ``nn.GRU``
    modules themselves (2.3.0 raises for ``nn.RNNBase`` layers), so the view runs torch's
    LSTM or GRU equations (see :mod:`snntorch_egru.baselines`) the same way, with
    ``ih_l{k}`` / ``hh_l{k}`` sharing ``rnn.layers.{k}.weight_ih_l0`` / ``weight_hh_l0``
    and their biases, and one :class:`RNNOutput` per layer (``outputs_l{k}``) on
    :math:`h_t`; gate nonlinearities are functions, not modules, so NeuroBench's default
    activation modules (``nn.Sigmoid``) see nothing.
    """

    def __init__(self, model: nn.Module, embedding: str = "lookup"):
        super().__init__()
        if embedding not in EMBEDDING_MODES:
            raise ValueError(f"embedding must be one of {EMBEDDING_MODES}, got {embedding!r}")
        self.is_lm = isinstance(model, (EGRULanguageModel, RNNLanguageModel))
        rnn = model.rnn if self.is_lm else model
        if not isinstance(rnn, (EGRU, RNNStack)):
            raise TypeError(f"NeuroBenchView supports EGRU, EGRULanguageModel and RNNLanguageModel, "
                            f"got {type(model).__name__}")
        if getattr(model, "readout_input", "events") != "events":
            raise NotImplementedError(
                f"NeuroBenchView models a readout of the graded events only; this model's readout reads "
                f"readout_input={model.readout_input!r}")
        self.embedding_mode = embedding
        self.hidden_sizes = list(rnn.hidden_sizes)
        self.cell = rnn.cell if isinstance(rnn, RNNStack) else "egru"
        self.reset_mechanism = getattr(rnn, "reset_mechanism", None)
        self.events = getattr(rnn, "events", False)
        if self.is_lm:
            if embedding == "lookup":
                self.embedding = model.embedding
            else:
                weight = model.embedding.weight
                self.embedding = nn.Linear(weight.shape[0], weight.shape[1], bias=False)
                with torch.no_grad():
                    self.embedding.weight.copy_(weight.t())
        for k, hidden in enumerate(self.hidden_sizes):
            if isinstance(rnn, RNNStack):
                layer = rnn.layers[k]
                pairs = (("ih", layer.weight_ih_l0, getattr(layer, "bias_ih_l0", None)),
                         ("hh", layer.weight_hh_l0, getattr(layer, "bias_hh_l0", None)))
            else:
                params = rnn.layer_parameters(k)
                pairs = (("ih", params.weight_ih, params.bias_ih), ("hh", params.weight_hh, params.bias_hh))
            for kind, weight, bias in pairs:
                linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
                linear.weight = weight
                if bias is not None:
                    linear.bias = bias
                setattr(self, f"{kind}_l{k}", linear)
            if isinstance(rnn, RNNStack):
                setattr(self, f"outputs_l{k}", RNNOutput())
            else:
                setattr(self, f"events_l{k}", EGRUEventOutput(params.threshold, rnn.spike_grad, rnn.polarity))
        if self.is_lm:
            readout = nn.Linear(model.readout.in_features, model.readout.out_features)
            readout.weight, readout.bias = model.readout.weight, model.readout.bias
            self.readout = readout

    def _layer_step(self, k: int, u: torch.Tensor, y: torch.Tensor, c: torch.Tensor):
        """One step of layer ``k``: (output, cell state) from its input ``u`` and previous (y, c)."""
        gates_x = getattr(self, f"ih_l{k}")(u)
        gates_h = getattr(self, f"hh_l{k}")(y)
        if self.cell == "lstm":
            i, f, g, o = (gates_x + gates_h).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return getattr(self, f"outputs_l{k}")(torch.sigmoid(o) * torch.tanh(c)), c
        c_tilde = egru_gates(gates_x, gates_h, c).c_tilde
        if self.cell == "gru":
            h = getattr(self, f"outputs_l{k}")(c_tilde)
            return h, h
        if not self.events:
            return c_tilde, c_tilde
        layer = getattr(self, f"events_l{k}")
        y = layer(c_tilde)
        fired = (y != 0).to(c_tilde.dtype)
        return y, egru_reset(c_tilde, fired, layer.threshold, self.reset_mechanism, layer.polarity)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.is_lm:
            if self.embedding_mode == "one_hot":
                x = torch.nn.functional.one_hot(inputs, self.embedding.in_features).to(self.embedding.weight.dtype)
            else:
                x = inputs
        else:
            x = inputs
        batch, steps = inputs.shape[:2]
        ys = [None] * len(self.hidden_sizes)
        cs = [None] * len(self.hidden_sizes)
        outputs = []
        for t in range(steps):
            u = self.embedding(x[:, t]) if self.is_lm else x[:, t]
            for k, hidden in enumerate(self.hidden_sizes):
                if ys[k] is None:
                    ys[k] = u.new_zeros(batch, hidden)
                    cs[k] = u.new_zeros(batch, hidden)
                ys[k], cs[k] = self._layer_step(k, u, ys[k], cs[k])
                u = ys[k]
            outputs.append(self.readout(u) if self.is_lm else u)
        return torch.stack(outputs, dim=1)
