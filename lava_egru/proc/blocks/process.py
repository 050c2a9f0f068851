r"""Hierarchical layer Processes (blocks): synapses wired around a neuron.

Like lava-dl netx's blocks, each block has an ``inp`` and an ``out`` port, a
``shape`` (its output size) and ``output_message_bits`` (0: unary spikes, 24:
graded messages, Lava's convention). Like Lava's own hierarchical Processes, the
SubProcessModels in :mod:`lava_egru.proc.blocks.models` build the children and
alias the block's Vars to theirs, so ``block.threshold.get()`` reads the neuron's
value during a run and the initial value before one.

- :class:`InputBlock`: the network input. ``"vector"``: an :class:`Identity`
  neuron passes float vectors through (graded); ``"tokens"``: a :class:`OneHot`
  neuron turns token ids into unary spikes.
- :class:`DenseBlock`: synapse + :class:`Identity` neuron, :math:`y_t = W x_t + b`.
- :class:`EGRUBlock`: input synapse :math:`W` and recurrent synapse :math:`U`
  around an :class:`EGRUNeuron`::

      inp ──> synapse_ih (W) ──a_in_x──> EGRUNeuron ──s_out──┬──> out
                                            ^                │
                                            └──a_in_h── synapse_hh (U) <──┘

Fixed point (docs/fixed-point.md): given the integer parameters (the Lava weights
``2k``, integer biases and thresholds) and the formats (``frac_input`` of the
input block, ``weight_exp`` of a dense block, ``weight_exp_ih``/``weight_exp_hh``,
``frac_preact``, ``frac_state`` of an EGRU block), each synapse is a Lava
``Dense``/``Sparse`` with ``weight_exp``, ``num_weight_bits=8`` (graded synapses
``num_message_bits=24``), which run in ``fixed_pt`` with Lava's own bit-accurate
models; the neurons' ``fixed_pt`` models do the rest. Each block then has an
``overflow`` Var (aliasing its neuron's saturation counters). A block built
without these is a floating-point block.

A weight given as a numpy array becomes a Lava ``Dense``; a ``scipy.sparse``
matrix (a pruned weight) becomes a Lava ``Sparse`` with exactly its stored entries.

Timing (time steps count from 1). Every Dense/Sparse synapse sends at step
:math:`s` the accumulation of what it received at step :math:`s - 1`: one step of
delay per synapse; neurons add none. If a block's ``inp`` carries sequence element
:math:`t` at step :math:`t + k`, its neuron receives :math:`W x_t` at step
:math:`t + k + 1`; set ``first_step = k + 1``. Then:

- the neuron computes step :math:`t` of the layer at step :math:`t + \text{first\_step}`
  and sends :math:`y_t` on ``out`` in that same step;
- the recurrent synapse delivers :math:`U y_t` one step later, exactly when the
  neuron computes step :math:`t + 1`: the loop neuron -> synapse -> neuron sees
  :math:`y_{t-1}`, as the equations require;
- before ``first_step`` the neurons keep the zero state and send zeros, so the
  empty synapse buffers of the first steps do not enter the state.

A block therefore adds one step of latency (its input synapse). In a network of
blocks ``0 .. n-1`` fed from step 1 (the input block has no synapse,
``first_step = 1``), block :math:`k` has ``first_step = k + 1`` and emits element
:math:`t` at step :math:`t + 1 + k`.

Example (a two-unit EGRU layer fed by a source; compare with the equations)::

    >>> import numpy as np
    >>> from lava.magma.core.run_conditions import RunSteps
    >>> from lava.magma.core.run_configs import Loihi2SimCfg
    >>> from lava.proc.io.sink import RingBuffer as Sink
    >>> from lava.proc.io.source import RingBuffer as Source
    >>> from lava_egru.proc.blocks.process import EGRUBlock
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((3, 5))                      # [I, T]: Lava's time-last
    >>> layer = EGRUBlock(weight_ih=rng.standard_normal((6, 3)), weight_hh=rng.standard_normal((6, 2)),
    ...                   threshold=np.full(2, 0.1))          # first_step=2: source -> block
    >>> source, sink = Source(data=x), Sink(shape=(2,), buffer=5)
    >>> source.s_out.connect(layer.inp)
    >>> layer.out.connect(sink.a_in)
    >>> try:
    ...     layer.run(RunSteps(5), Loihi2SimCfg(select_tag="floating_pt"))
    ...     y = sink.data.get().T                             # [steps, H]
    ... finally:
    ...     layer.stop()
    >>> y[0].tolist()                                         # step 1: the synapse is still empty
    [0.0, 0.0]
"""

from __future__ import annotations

import typing as ty

import numpy as np
import scipy.sparse
from egru_format.arithmetic import check_polarity
from egru_format.constants import INPUT_ENCODINGS, WEIGHT_EXP_MAX, WEIGHT_EXP_MIN
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

from lava_egru.proc.checks import (checked_first_step, checked_frac, checked_reset, checked_size,
                                   optional_int, real_vector)

#: Payload bits of a graded message (Lava's convention for graded spikes).
GRADED_MESSAGE_BITS = 24

Weight = ty.Union[np.ndarray, scipy.sparse.spmatrix]


class InputBlock(AbstractProcess):
    """The network input: ``size`` features per step.

    ``encoding="vector"``: ``inp`` (size) carries floats, ``out`` sends them on
    unchanged as graded messages. ``encoding="tokens"``: ``inp`` (1) carries a token
    id in ``[0, size)`` (negative: none), ``out`` (size) sends its one-hot as unary
    spikes. No synapse, so no delay: ``out`` sends element :math:`t` in the step
    ``inp`` receives it. ``frac_input`` (fixed point, vector input): the float
    inputs are quantised to ``sat24(round_half_away(x * 2**frac_input))``; the
    ``overflow`` Var (vector input only) counts the saturated entries.
    """

    layer_type = "input"

    def __init__(
        self,
        *,
        size: int,
        encoding: str = "vector",
        frac_input: ty.Optional[int] = None,
        name: ty.Optional[str] = None,
        log_config: ty.Optional[LogConfig] = None,
    ) -> None:
        size = checked_size("size", size)
        if encoding not in INPUT_ENCODINGS:
            raise ValueError(f"encoding must be one of {INPUT_ENCODINGS}, got {encoding!r}")
        super().__init__(shape=(size,), encoding=encoding, frac_input=checked_frac("frac_input", frac_input),
                         name=name, log_config=log_config)
        self.inp = InPort(shape=(1,) if encoding == "tokens" else (size,))
        self.out = OutPort(shape=(size,))
        if encoding == "vector":
            self.overflow = Var(shape=(1,), init=np.zeros(1, np.int64))
        self.output_message_bits = 0 if encoding == "tokens" else GRADED_MESSAGE_BITS

    @property
    def shape(self) -> ty.Tuple[int]:
        """``(size,)``: the output size."""
        return self.proc_params["shape"]

    @property
    def encoding(self) -> str:
        """``"vector"`` or ``"tokens"``."""
        return self.proc_params["encoding"]


class DenseBlock(AbstractProcess):
    """A graded linear layer :math:`y_t = W x_t + b`: Dense/Sparse synapse + Identity neuron.

    Parameters
    ----------
    weight : numpy.ndarray or scipy.sparse matrix
        :math:`W`, ``[out, in]``; sparse -> Lava ``Sparse``, else ``Dense``.
    bias : float or numpy.ndarray, optional
        :math:`b`, broadcast to ``(out,)``. Default 0.
    first_step : int, optional
        Step at which the neuron receives element 0 (module docstring). Default 2.
    input_message_bits : int, optional
        What ``inp`` carries: 0 unary spikes, > 0 graded. Default 24.
    weight_exp : int, optional
        Fixed point: the synapse's ``weight_exp`` (``weight``, ``bias`` are integers).

    Vars: ``weight`` (aliases the synapse's ``weights``), ``bias``, ``overflow`` (1).
    """

    layer_type = "dense"

    def __init__(
        self,
        *,
        weight: Weight,
        bias: ty.Union[float, np.ndarray] = 0,
        first_step: int = 2,
        input_message_bits: int = GRADED_MESSAGE_BITS,
        weight_exp: ty.Optional[int] = None,
        name: ty.Optional[str] = None,
        log_config: ty.Optional[LogConfig] = None,
    ) -> None:
        weight = _validate_weight("weight", weight)
        out_size, in_size = weight.shape
        bias = real_vector("bias", bias, (out_size,))
        super().__init__(
            shape=(out_size,),
            first_step=checked_first_step(first_step),
            input_message_bits=_checked_message_bits(input_message_bits),
            weight_exp=optional_int("weight_exp", weight_exp, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX),
            name=name,
            log_config=log_config,
        )
        self.inp = InPort(shape=(in_size,))
        self.out = OutPort(shape=(out_size,))
        self.weight = Var(shape=weight.shape, init=weight)
        self.bias = Var(shape=(out_size,), init=bias)
        self.overflow = Var(shape=(1,), init=np.zeros(1, np.int64))
        self.output_message_bits = GRADED_MESSAGE_BITS

    @property
    def shape(self) -> ty.Tuple[int]:
        """``(out,)``."""
        return self.proc_params["shape"]


class EGRUBlock(AbstractProcess):
    """One EGRU layer: synapses :math:`W` (input) and :math:`U` (recurrent) around an EGRU neuron.

    Parameters
    ----------
    weight_ih : numpy.ndarray or scipy.sparse matrix
        :math:`W`, ``[3H, I]``, gate order r, z, n. Sparse -> Lava ``Sparse``.
    weight_hh : numpy.ndarray or scipy.sparse matrix
        :math:`U`, ``[3H, H]``. Sparse -> Lava ``Sparse``.
    threshold : float or numpy.ndarray
        Per-unit thresholds :math:`\\vartheta > 0`, broadcast to ``(H,)``.
    bias_ih, bias_hh : float or numpy.ndarray, optional
        :math:`b_W`, :math:`b_U`, broadcast to ``(3H,)``. Default 0.
    reset_mechanism : str, optional
        ``"subtract"`` (default), ``"zero"`` or ``"none"``.
    polarity : str, optional
        ``"positive"`` (default) or ``"signed"`` (:class:`~lava_egru.proc.egru.process.EGRUNeuron`).
    events : bool, optional
        False: plain GRU. Default True.
    first_step : int, optional
        Step at which the neuron receives element 0 (module docstring). Default 2.
    input_message_bits : int, optional
        What ``inp`` carries: 0 unary spikes, > 0 graded. Default 24.
    weight_exp_ih, weight_exp_hh, frac_preact, frac_state : int, optional
        Fixed point: the synapses' ``weight_exp`` and the neuron's formats F_a, F_c
        (weights, biases, thresholds are then integers).

    Ports: ``inp`` (I), ``out`` (H, graded events :math:`y_t`). Vars (aliases of the
    children's): ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, ``threshold``,
    ``c``, ``y``, ``overflow`` (3: ``preact``, ``candidate``, ``state``).
    """

    layer_type = "egru"

    def __init__(
        self,
        *,
        weight_ih: Weight,
        weight_hh: Weight,
        threshold: ty.Union[float, np.ndarray],
        bias_ih: ty.Union[float, np.ndarray] = 0,
        bias_hh: ty.Union[float, np.ndarray] = 0,
        reset_mechanism: str = "subtract",
        polarity: str = "positive",
        events: bool = True,
        first_step: int = 2,
        input_message_bits: int = GRADED_MESSAGE_BITS,
        weight_exp_ih: ty.Optional[int] = None,
        weight_exp_hh: ty.Optional[int] = None,
        frac_preact: ty.Optional[int] = None,
        frac_state: ty.Optional[int] = None,
        name: ty.Optional[str] = None,
        log_config: ty.Optional[LogConfig] = None,
    ) -> None:
        weight_hh = _validate_weight("weight_hh", weight_hh)
        hidden = weight_hh.shape[1]
        if weight_hh.shape[0] != 3 * hidden:
            raise ValueError(f"weight_hh must be [3H, H] (gate order r, z, n), got shape {weight_hh.shape}")
        weight_ih = _validate_weight("weight_ih", weight_ih)
        if weight_ih.shape[0] != 3 * hidden:
            raise ValueError(f"weight_ih has {weight_ih.shape[0]} rows but weight_hh says 3H = {3 * hidden}")
        threshold = real_vector("threshold", threshold, (hidden,))
        reset_mechanism, events = checked_reset(reset_mechanism, events, threshold)
        super().__init__(
            shape=(hidden,),
            reset_mechanism=reset_mechanism,
            polarity=check_polarity(polarity),
            events=events,
            first_step=checked_first_step(first_step),
            input_message_bits=_checked_message_bits(input_message_bits),
            weight_exp_ih=optional_int("weight_exp_ih", weight_exp_ih, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX),
            weight_exp_hh=optional_int("weight_exp_hh", weight_exp_hh, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX),
            frac_preact=checked_frac("frac_preact", frac_preact, 1),
            frac_state=checked_frac("frac_state", frac_state),
            name=name,
            log_config=log_config,
        )
        self.inp = InPort(shape=(weight_ih.shape[1],))
        self.out = OutPort(shape=(hidden,))
        self.weight_ih = Var(shape=weight_ih.shape, init=weight_ih)
        self.weight_hh = Var(shape=weight_hh.shape, init=weight_hh)
        self.bias_ih = Var(shape=(3 * hidden,), init=real_vector("bias_ih", bias_ih, (3 * hidden,)))
        self.bias_hh = Var(shape=(3 * hidden,), init=real_vector("bias_hh", bias_hh, (3 * hidden,)))
        self.threshold = Var(shape=(hidden,), init=threshold)
        self.c = Var(shape=(hidden,), init=np.zeros(hidden))
        self.y = Var(shape=(hidden,), init=np.zeros(hidden))
        self.overflow = Var(shape=(3,), init=np.zeros(3, np.int64))
        self.output_message_bits = GRADED_MESSAGE_BITS

    @property
    def shape(self) -> ty.Tuple[int]:
        """``(H,)``."""
        return self.proc_params["shape"]


def _validate_weight(name: str, weight) -> Weight:
    if scipy.sparse.issparse(weight):
        weight = scipy.sparse.csr_matrix(weight)
        values = weight.data
    elif isinstance(weight, np.ndarray):
        values = weight
    else:
        raise TypeError(f"{name} must be a numpy array or a scipy.sparse matrix, got {type(weight).__name__}")
    if weight.ndim != 2 or min(weight.shape) < 1:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {weight.shape}")
    if not np.issubdtype(values.dtype, np.floating) and not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must hold real numbers, got dtype {values.dtype}")
    if not bool(np.all(np.isfinite(values))):
        raise ValueError(f"{name} contains NaN or Inf")
    return weight


def _checked_message_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 0 <= bits <= 32:
        raise ValueError(f"input_message_bits must be an integer in [0, 32] (0: unary spikes), got {bits!r}")
    return int(bits)
