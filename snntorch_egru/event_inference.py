r"""Event-driven batch-1 streaming inference on the CPU: work only for nonzero inputs and weights.

:class:`EventDrivenEGRU` runs a trained :class:`~snntorch_egru.EGRU` or
:class:`~snntorch_egru.EGRULanguageModel` one input (a vector or a token id) per call.
Every weight matrix is stored column-compressed (CSC: for each input column, the row
indices and values of its nonzero weights), so a matmul :math:`W u` costs

.. math::

    \sum_{j : u_j \ne 0} \mathrm{nnz}(W_{:,j})

multiply-accumulates: for ``weight_hh_l{k}`` only the columns of units that fired at
the previous step (:math:`y^{(k)}_{t-1} \ne 0`), for ``weight_ih_l{k}`` of layer
:math:`k > 0` only the columns of units of layer :math:`k-1` that fired now, for the
readout only those of the last layer, and for layer 0 the nonzero entries of the input
(all of them for a dense input; the embedding row for a language model). In each
column only the nonzero (unpruned) weights are touched. The actual MACs are counted
(``last_macs``, ``macs``) and equal :func:`snntorch_egru.opcount.count_operations`'s
effective MACs (embedding lookup = 0 MACs). The gates, state update, events and reset
are element-wise over all H units (every unit's state decays every step).

Event polarity: both neurons of :mod:`snntorch_egru.functional` run, the reference
``polarity="positive"`` one (:math:`e = H(\tilde c - \vartheta)`) and the signed one
(``EGRU(..., polarity="signed")``), which fires where the state's magnitude crosses the
threshold and sends the state with its sign:

.. math::

    e_t = H(|\tilde c_t| - \vartheta), \quad
    y_t = \tilde c_t \odot e_t, \quad
    c_t = \tilde c_t - e_t \odot \operatorname{sign}(\tilde c_t) \odot \vartheta
    \quad \text{(reset by subtraction; "zero" and "none" as for the positive neuron)}.

A negative event is a nonzero input of the next matmuls like a positive one: the columns
read are those with :math:`y \ne 0` (never :math:`y > 0`), so the MAC formula above holds
for both neurons. The C kernel takes the polarity as a flag of each layer's mode.

Numerics: the same equations as :mod:`snntorch_egru.functional` (strict threshold
:math:`H(0) = 0`, the model's reset mechanism and event polarity, thresholds after the
positivity clamp), in the model's dtype (float32 or float64); sums run in a different order than the dense
matmul, so results agree with the dense forward to float rounding (an event can flip only
if a unit lands within rounding of its threshold).

Storage: values in the model's dtype; row (column) indices as uint16 when every matrix
dimension is below 65536, else int32. Layer 0's ``weight_ih`` is also kept row-wise (CSR),
used when every input entry is nonzero (a dense input: the same MACs, a faster loop), and,
when it has no zero weight at all (unpruned), dense: then a dense input is multiplied with
torch's BLAS matrix-vector product, which performs exactly the counted MACs.

Backends: ``"c"``, a small C kernel (the whole network step in one call; the package file
``snntorch_egru/event_step.c``, read through :mod:`importlib.resources`) compiled on first
use with the system C compiler (``$CC`` or ``cc``) into a cache directory
(``$SNNTORCH_EGRU_CACHE`` or ``~/.cache/snntorch_egru``), loaded with ``ctypes``;
``"numpy"``, the same algorithm with vectorised gathers and the format's numpy EGRU step
(:func:`egru_format.arithmetic.egru_step_float`, the one the Lava float model runs;
slower: each step costs a few dozen numpy calls); ``"auto"`` (default) takes ``"c"`` when it builds, else ``"numpy"``.
``SNNTORCH_EGRU_BACKEND=numpy`` forces numpy for ``"auto"``.

The state (``y``, ``c`` per layer) starts at zero and is carried across calls (the
layer's own convention; :meth:`EventDrivenEGRU.reset` restarts it or sets it).

Example::

    >>> import torch
    >>> from snntorch_egru import EGRU
    >>> from snntorch_egru.event_inference import EventDrivenEGRU
    >>> from snntorch_egru.opcount import count_operations
    >>> from snntorch_egru.pruning import Pruner
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> rnn = EGRU(8, 32, num_layers=2, threshold=0.2)
    >>> Pruner(rnn, ["input", "recurrent"], scope="matrix").prune(0.9)
    >>> x = torch.randn(100, 8)
    >>> engine = EventDrivenEGRU.from_model(rnn)
    >>> ys = engine.run(x)                                  # one step per input, state carried
    >>> dense, _ = rnn(x)
    >>> bool(abs(ys - dense.detach().numpy()).max() < 1e-5)
    True
    >>> engine.macs == round(count_operations(rnn, x).effective * 100)
    True
    >>> y = engine.step(torch.randn(8))                     # streaming: one input per call
    >>> y.shape
    (32,)

The signed neuron, on the same input: events of both signs, the same checks::

    >>> signed = EGRU(8, 32, num_layers=2, threshold=0.2, polarity="signed")
    >>> engine = EventDrivenEGRU.from_model(signed)
    >>> ys = engine.run(x)
    >>> bool((ys < 0).any()) and bool((ys > 0).any())      # negative and positive events
    True
    >>> bool(abs(ys - signed(x)[0].detach().numpy()).max() < 1e-5)
    True
    >>> engine.macs == round(count_operations(signed, x).effective * 100)
    True
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from egru_format.arithmetic import egru_step_float

from ._sequence import RESET_CODES
from .language_model import EGRULanguageModel
from .layer import EGRU

__all__ = ["EventDrivenEGRU", "CSCMatrix", "c_backend_available"]

_NO_EVENTS = 3  # the kernel's modes (event_step.c): RESET_CODES (0 subtract, 1 zero, 2 none), 3 no events
_GX_READY = 16  # mode flag: gx already holds b_ih + W_ih u (computed with BLAS)
_SIGNED_EVENTS = 32  # mode flag: the signed neuron (events where |c~| > theta, with their sign)

# --------------------------------------------------------------------------- C kernel

#: The kernel's instantiations: (REAL, IDX, SUFFIX, EXP, TANH_OF(A)). float32:
#: tanh(a) = 2 / (1 + exp(-2a)) - 1 with expf (absolute error ~1e-7, several times cheaper
#: than tanhf); float64: libm's tanh. Index arrays are uint16 when every dimension fits
#: (less memory traffic), else int32.
_KERNEL_INSTANCES = (
    ("float", "int32_t", "f32_i32", "expf", "(2.0f / (1.0f + expf(-2.0f * (A))) - 1.0f)"),
    ("float", "uint16_t", "f32_u16", "expf", "(2.0f / (1.0f + expf(-2.0f * (A))) - 1.0f)"),
    ("double", "int32_t", "f64_i32", "exp", "tanh(A)"),
    ("double", "uint16_t", "f64_u16", "exp", "tanh(A)"),
)
#: The kernel source, a file of this package (shipped as package data).
KERNEL_FILE = "event_step.c"


def kernel_source_text() -> str:
    """The text of the C kernel file ``event_step.c``, read through :mod:`importlib.resources`."""
    return resources.files(__package__).joinpath(KERNEL_FILE).read_text(encoding="utf-8")


def _c_source() -> str:
    kernel = kernel_source_text()
    parts = []
    for real, index, suffix, exp, tanh in _KERNEL_INSTANCES:
        defines = (f"#define REAL {real}\n#define IDX {index}\n#define SUFFIX {suffix}\n#define EXP {exp}\n"
                   f"#define TANH_OF(A) {tanh}\n")
        parts.append(defines + kernel)
    return "\n".join(parts)


_LIB = None
_LIB_ERROR: Optional[str] = None
_LIB_LOCK = threading.Lock()


def _cache_dir() -> Path:
    override = os.environ.get("SNNTORCH_EGRU_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "snntorch_egru"


def _build_library():
    source = _c_source()
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        raise RuntimeError("no C compiler found (set $CC or install cc)")
    flags = os.environ.get("SNNTORCH_EGRU_CFLAGS", "-O3").split() + ["-std=c99", "-fPIC", "-shared"]
    key_text = "\0".join([source, compiler, *flags, platform.machine(), sys.platform])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    directory = _cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    library = directory / f"event_kernel_{key}.so"
    if not library.exists():
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            src = Path(tmp) / "event_kernel.c"
            src.write_text(source)
            out = Path(tmp) / library.name
            result = subprocess.run([compiler, *flags, "-o", str(out), str(src), "-lm"],
                                    capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise RuntimeError(f"compiling the event kernel failed: {result.stderr.strip()[:2000]}")
            os.replace(out, library)  # atomic: concurrent builders do not see half a file
    lib = ctypes.CDLL(str(library))
    i64, ptr, i32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int32
    for suffix in ("f32_i32", "f32_u16", "f64_i32", "f64_u16"):
        step = getattr(lib, f"egru_layer_step_{suffix}")
        step.argtypes = [i64, i64] + [ptr] * 17 + [i32, ptr]
        step.restype = i64
        linear = getattr(lib, f"sparse_linear_{suffix}")
        linear.argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr]
        linear.restype = i64
        network = getattr(lib, f"network_step_{suffix}")
        network.argtypes = [ptr, i64, ptr]
        network.restype = i64
    return lib


class _LayerArgs(ctypes.Structure):
    _fields_ = [("H", ctypes.c_int64), ("I", ctypes.c_int64)] + [
        (name, ctypes.c_void_p) for name in ("ih_ptr", "ih_rows", "ih_vals", "csr_ptr", "csr_cols", "csr_vals",
                                             "hh_ptr", "hh_rows", "hh_vals", "b_ih", "b_hh", "theta",
                                             "u", "y", "c", "gx", "gh")] + [("mode", ctypes.c_int64),
                                                                              ("totals", ctypes.c_void_p)]


class _LinearArgs(ctypes.Structure):
    _fields_ = [("R", ctypes.c_int64), ("C", ctypes.c_int64)] + [
        (name, ctypes.c_void_p) for name in ("ptr", "rows", "vals", "bias", "u", "out", "totals")]


def _library():
    global _LIB, _LIB_ERROR
    with _LIB_LOCK:
        if _LIB is None and _LIB_ERROR is None:
            try:
                _LIB = _build_library()
            except Exception as exc:  # noqa: BLE001  # any build or load failure means: no C backend
                _LIB_ERROR = f"{type(exc).__name__}: {exc}"
        return _LIB


def c_backend_available() -> bool:
    """True when the C kernel builds and loads on this machine (built once, then cached)."""
    return _library() is not None


# --------------------------------------------------------------------------- storage


class CSCMatrix:
    """A weight matrix [R, C] in compressed sparse column form (only nonzero entries).

    ``indptr`` [C+1] int64, ``rows`` [nnz] ``index_dtype`` (sorted within a column), ``values``
    [nnz]; column ``j``'s nonzeros are ``rows[indptr[j]:indptr[j+1]]`` with
    ``values[indptr[j]:indptr[j+1]]``. ``col_nnz`` [C]: nonzeros per column.
    """

    def __init__(self, dense, dtype=None, index_dtype=np.int32):
        matrix = dense.detach().cpu().numpy() if isinstance(dense, torch.Tensor) else np.asarray(dense)
        if matrix.ndim != 2:
            raise ValueError(f"CSCMatrix needs a 2-D matrix, got shape {matrix.shape}")
        matrix = matrix.astype(dtype or matrix.dtype, copy=False)
        self.shape = matrix.shape
        transposed = np.ascontiguousarray(matrix.T)           # [C, R]: row j = column j of W
        nonzero = transposed != 0
        self.col_nnz = nonzero.sum(axis=1).astype(np.int64)
        self.indptr = np.zeros(matrix.shape[1] + 1, dtype=np.int64)
        np.cumsum(self.col_nnz, out=self.indptr[1:])
        self.rows = np.nonzero(nonzero)[1].astype(index_dtype)  # row-major over [C, R]: column by column
        self.values = np.ascontiguousarray(transposed[nonzero])
        self._rows_intp = self.rows.astype(np.intp)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.values.dtype)
        cols = np.repeat(np.arange(self.shape[1]), self.col_nnz)
        out[self.rows, cols] = self.values
        return out

    def matvec_into(self, u: np.ndarray, out: np.ndarray) -> int:
        """``out += W u`` over the nonzero entries of ``u`` (numpy); returns the MACs."""
        active = np.flatnonzero(u)
        if active.size == 0:
            return 0
        starts = self.indptr[active]
        lengths = self.col_nnz[active]
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if ends.size else 0
        if total == 0:
            return 0
        positions = np.arange(total) + np.repeat(starts - (ends - lengths), lengths)
        contributions = self.values[positions] * np.repeat(u[active], lengths)
        out += np.bincount(self._rows_intp[positions], contributions, minlength=self.shape[0]).astype(out.dtype)
        return total


def _pointer(array: Optional[np.ndarray]):
    return None if array is None else array.ctypes.data


def _csr(weight: torch.Tensor, dtype, index_dtype) -> tuple:
    """``(indptr [R+1] int64, cols [nnz] index_dtype, values [nnz])`` of the nonzeros, row by row."""
    matrix = np.ascontiguousarray(weight.detach().cpu().numpy().astype(dtype))
    nonzero = matrix != 0
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(nonzero.sum(axis=1), out=indptr[1:])
    return indptr, np.nonzero(nonzero)[1].astype(index_dtype), np.ascontiguousarray(matrix[nonzero])


class _Layer:
    def __init__(self, rnn: EGRU, k: int, dtype, index_dtype):
        params = rnn.layer_parameters(k)
        hidden = params.weight_hh.shape[1]
        self.hidden, self.inputs = hidden, params.weight_ih.shape[1]
        self.ih = CSCMatrix(params.weight_ih, dtype, index_dtype)
        # layer 0 reads a dense input (every entry nonzero as a rule): a row-wise copy of W_ih
        # lets the C kernel run that product as a CSR gather, with the same MACs
        self.ih_csr = _csr(params.weight_ih, dtype, index_dtype) if k == 0 else (None, None, None)
        # an unpruned W_ih on layer 0 (no zero weight): with a dense input every weight is a
        # MAC, so a BLAS matrix-vector product does exactly the counted work, faster
        self.ih_dense = None
        if k == 0 and self.ih.nnz == self.ih.shape[0] * self.ih.shape[1]:
            self.ih_dense = np.ascontiguousarray(params.weight_ih.detach().cpu().numpy().astype(dtype))
        self.hh = CSCMatrix(params.weight_hh, dtype, index_dtype)

        def vector(t):
            return np.zeros(3 * hidden, dtype) if t is None else t.detach().cpu().numpy().astype(dtype).copy()

        self.b_ih, self.b_hh = vector(params.bias_ih), vector(params.bias_hh)
        self.theta = params.threshold.detach().cpu().numpy().astype(dtype).copy()
        self.reset_mechanism, self.events, self.polarity = rnn.reset_mechanism, bool(rnn.events), rnn.polarity
        self.mode = RESET_CODES[rnn.reset_mechanism] if rnn.events else _NO_EVENTS
        if rnn.events and rnn.polarity == "signed":
            self.mode |= _SIGNED_EVENTS
        self.y = np.zeros(hidden, dtype)
        self.c = np.zeros(hidden, dtype)
        self.gx = np.zeros(3 * hidden, dtype)
        self.gh = np.zeros(3 * hidden, dtype)

    def c_args(self, u: np.ndarray, totals: np.ndarray) -> tuple:
        """Arguments of the C layer step; ``totals``: this layer's two MAC counters."""
        return (self.hidden, self.inputs,
                _pointer(self.ih.indptr), _pointer(self.ih.rows), _pointer(self.ih.values),
                *(_pointer(a) for a in self.ih_csr),
                _pointer(self.hh.indptr), _pointer(self.hh.rows), _pointer(self.hh.values),
                _pointer(self.b_ih), _pointer(self.b_hh), _pointer(self.theta),
                _pointer(u), _pointer(self.y), _pointer(self.c), _pointer(self.gx), _pointer(self.gh),
                self.mode, _pointer(totals))

    def numpy_step(self, u: np.ndarray, totals: np.ndarray) -> int:
        gx, gh = self.gx, self.gh
        gx[:] = self.b_ih
        gh[:] = self.b_hh
        m_ih = self.ih.matvec_into(u, gx)
        m_hh = self.hh.matvec_into(self.y, gh)
        totals[0] += m_ih
        totals[1] += m_hh
        egru_step_float(gx, gh, self.y, self.c, self.theta, self.reset_mechanism, self.events, self.polarity)
        return m_ih + m_hh


class EventDrivenEGRU:
    """Batch-1 streaming inference of an EGRU or EGRU language model, event-driven.

    Build with :meth:`from_model`. Each :meth:`step` takes one input (a vector [I] for an
    ``EGRU``, a token id for a language model) and returns the last layer's graded
    output [H] or the logits [V] (a new numpy array). Weights are a snapshot taken at
    construction (the model is not referenced afterwards).

    Attributes:
        backend: ``"c"`` or ``"numpy"``.
        last_macs: MACs of the last step (all matmuls).
        macs: MACs since construction or the last :meth:`reset` (``macs_by_matmul``:
            the same per matrix, named as in :func:`snntorch_egru.opcount.count_operations`).
        steps: steps since construction or the last :meth:`reset`.
    """

    def __init__(self, layers: List[_Layer], names: List[str], dtype, backend: str,
                 embedding: Optional[np.ndarray] = None, readout: Optional[CSCMatrix] = None,
                 readout_bias: Optional[np.ndarray] = None):
        self.layers = layers
        self.dtype = np.dtype(dtype)
        self.embedding = embedding
        self.readout = readout
        self.readout_bias = readout_bias
        self.backend = backend
        self._names = names
        self._x = np.zeros(layers[0].inputs, self.dtype)
        self._logits = np.zeros(readout.shape[0], self.dtype) if readout is not None else None
        self._totals = np.zeros(len(names), np.int64)  # MACs per matmul, accumulated in place
        if backend == "c":
            lib = _library()
            suffix = ("f32" if self.dtype == np.float32 else "f64") + (
                "_u16" if layers[0].hh.rows.dtype == np.uint16 else "_i32")
            inputs = [self._x] + [layer.y for layer in layers[:-1]]
            self._layer_structs = (_LayerArgs * len(layers))(*[
                _LayerArgs(*layer.c_args(u, self._totals[2 * k:])) for k, (layer, u) in enumerate(zip(layers, inputs))])
            self._readout_struct = None
            if readout is not None:
                self._readout_struct = _LinearArgs(
                    readout.shape[0], readout.shape[1], _pointer(readout.indptr), _pointer(readout.rows),
                    _pointer(readout.values), _pointer(readout_bias), _pointer(layers[-1].y),
                    _pointer(self._logits), _pointer(self._totals[-1:]))
            first = layers[0]
            self._blas_first = first.ih_dense is not None
            if self._blas_first:
                # torch's matrix-vector product on views of our arrays (torch's thread pool: a
                # second BLAS pool, numpy's, would fight torch's threads for the cores)
                self._blas_views = (torch.from_numpy(first.ih_dense), torch.from_numpy(self._x),
                                    torch.from_numpy(first.b_ih), torch.from_numpy(first.gx))
            self._first_struct, self._first_mode = self._layer_structs[0], first.mode
            # one C call per step; the arguments point at arrays this object owns
            self._network_call = (getattr(lib, f"network_step_{suffix}"),
                                  (ctypes.addressof(self._layer_structs), len(layers),
                                   ctypes.addressof(self._readout_struct) if readout is not None else None))
        self._output = self._logits if readout is not None else layers[-1].y
        self.reset()

    @classmethod
    def from_model(cls, model, backend: str = "auto") -> "EventDrivenEGRU":
        """Snapshot an :class:`EGRU` or :class:`EGRULanguageModel` (float32 or float64, CPU)."""
        if backend not in ("auto", "c", "numpy"):
            raise ValueError(f"backend must be 'auto', 'c' or 'numpy', got {backend!r}")
        is_lm = isinstance(model, EGRULanguageModel)
        rnn = model.rnn if is_lm else model
        if not isinstance(rnn, EGRU):
            raise TypeError(f"EventDrivenEGRU supports EGRU and EGRULanguageModel, got {type(model).__name__}")
        dtype = rnn.weight_ih_l0.dtype
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"EventDrivenEGRU needs float32 or float64 weights, got {dtype}")
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        if backend == "auto":
            forced = os.environ.get("SNNTORCH_EGRU_BACKEND", "").strip().lower()
            backend = "numpy" if forced == "numpy" or not c_backend_available() else "c"
        elif backend == "c" and not c_backend_available():
            raise RuntimeError(f"the C backend is not available: {_LIB_ERROR}")
        prefix = "rnn." if is_lm else ""
        names = []
        for k in range(rnn.num_layers):
            names += [f"{prefix}weight_ih_l{k}", f"{prefix}weight_hh_l{k}"]
        with torch.no_grad():
            # uint16 indices when every matrix dimension fits (less memory traffic per MAC)
            dims = [rnn.input_size] + [3 * h for h in rnn.hidden_sizes] + ([model.vocab_size] if is_lm else [])
            index_dtype = np.uint16 if max(dims) <= np.iinfo(np.uint16).max else np.int32
            layers = [_Layer(rnn, k, np_dtype, index_dtype) for k in range(rnn.num_layers)]
            embedding = readout = bias = None
            if is_lm:
                embedding = model.embedding.weight.detach().cpu().numpy().astype(np_dtype).copy()
                readout = CSCMatrix(model.readout.weight, np_dtype, index_dtype)
                bias = (np.zeros(readout.shape[0], np_dtype) if model.readout.bias is None
                        else model.readout.bias.detach().cpu().numpy().astype(np_dtype).copy())
                names.append("readout.weight")
        return cls(layers, names, np_dtype, backend, embedding, readout, bias)

    # ------------------------------------------------------------------ state

    def reset(self, state=None) -> None:
        """Zero the state (``state=None``) or set it from ``(ys, cs)``, one [H_k] array per
        layer (numpy or torch); also zeroes the MAC counters."""
        for k, layer in enumerate(self.layers):
            if state is None:
                layer.y[:] = 0
                layer.c[:] = 0
            else:
                layer.y[:] = np.asarray(state[0][k], dtype=self.dtype).reshape(-1)
                layer.c[:] = np.asarray(state[1][k], dtype=self.dtype).reshape(-1)
        self.steps = 0
        self.last_macs = 0
        self._totals[:] = 0

    @property
    def state(self):
        """``(ys, cs)``: copies of each layer's graded output and internal state."""
        return [layer.y.copy() for layer in self.layers], [layer.c.copy() for layer in self.layers]

    @property
    def macs(self) -> int:
        return int(self._totals.sum())

    @property
    def macs_by_matmul(self) -> Dict[str, int]:
        return {name: int(v) for name, v in zip(self._names, self._totals)}

    # ------------------------------------------------------------------ stepping

    def _load_input(self, x) -> None:
        if self.embedding is not None:
            token = int(x)
            if not 0 <= token < self.embedding.shape[0]:
                raise ValueError(f"token id {token} out of range [0, {self.embedding.shape[0]})")
            self._x[:] = self.embedding[token]
            return
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        elif not isinstance(x, np.ndarray):
            x = np.asarray(x)
        if x.shape != self._x.shape:
            raise ValueError(f"one step takes an input of shape {self._x.shape}, got {x.shape}")
        self._x[:] = x

    def step(self, x) -> np.ndarray:
        """Advance one step on input ``x``; return the output (last layer's y, or logits)."""
        self._load_input(x)
        macs = 0
        if self.backend == "c":
            if self._blas_first:
                if self._x.all():
                    weight, x_view, bias, gx = self._blas_views
                    torch.addmv(bias, weight, x_view, out=gx)
                    self._first_struct.mode = self._first_mode | _GX_READY
                else:
                    self._first_struct.mode = self._first_mode
            fn, args = self._network_call
            macs = fn(*args)
        else:
            u, totals = self._x, self._totals
            for k, layer in enumerate(self.layers):
                macs += layer.numpy_step(u, totals[2 * k: 2 * k + 2])
                u = layer.y
            if self.readout is not None:
                self._logits[:] = self.readout_bias
                readout_macs = self.readout.matvec_into(u, self._logits)
                totals[-1] += readout_macs
                macs += readout_macs
        self.last_macs = macs
        self.steps += 1
        return self._output.copy()

    def run(self, inputs, return_macs: bool = False):
        """Step through ``inputs`` ([T, I] vectors or [T] token ids); returns the outputs
        [T, H] or [T, V] (and, with ``return_macs``, the MACs of every step [T])."""
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.detach().cpu().numpy()
        outputs, macs = [], []
        for x in inputs:
            outputs.append(self.step(x))
            macs.append(self.last_macs)
        result = np.stack(outputs) if outputs else np.zeros((0,), self.dtype)
        return (result, np.asarray(macs, dtype=np.int64)) if return_macs else result
