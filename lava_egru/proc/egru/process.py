r"""The EGRU neuron Process: gates, internal state, threshold and reset of one layer.

The neuron receives the two gate pre-activations from its synapses and does the
rest of the layer's step. With :math:`H` units, ``a_in_x`` carries :math:`W x_t`
and ``a_in_h`` carries :math:`U y_{t-1}` (each :math:`3H`, gate order r, z, n as
``torch.nn.GRU``):

.. math::

    r_t &= \sigma(W_r x_t + b_{Wr} + U_r y_{t-1} + b_{Ur}) \\
    z_t &= \sigma(W_z x_t + b_{Wz} + U_z y_{t-1} + b_{Uz}) \\
    n_t &= \tanh(W_n x_t + b_{Wn} + r_t \odot (U_n y_{t-1} + b_{Un})) \\
    \tilde c_t &= z_t \odot c_{t-1} + (1 - z_t) \odot n_t \\
    e_t &= H(\tilde c_t - \vartheta), \quad H(0) = 0 \\
    y_t &= \tilde c_t \odot e_t \qquad \text{(sent on s_out)} \\
    c_t &= \tilde c_t - e_t \odot \vartheta \quad \text{("subtract"; "zero": }
           \tilde c_t (1 - e_t)\text{; "none": } \tilde c_t)

With ``polarity="signed"`` a unit fires where :math:`|\tilde c_t| > \vartheta`, its
event :math:`y_t = \tilde c_t` keeps its sign, and the subtractive reset is
:math:`c_t = \tilde c_t - e_t \odot \mathrm{sign}(\tilde c_t) \odot \vartheta` (in fixed
point: :math:`e = (\tilde c > \vartheta) \lor (\tilde c < -\vartheta)`, docs/fixed-point.md).
With ``events=False`` the neuron is a plain GRU: :math:`y_t = c_t = \tilde c_t`.
The state starts at :math:`c = y = 0`.

Timing: a Lava Dense/Sparse connection delivers at time step :math:`s` what it
received at :math:`s - 1`. Before ``first_step`` (the step at which the input for
sequence element 0 arrives) the neuron keeps its zero state and sends zeros, so
the empty synapse buffers of the first steps never enter the state. See
:mod:`lava_egru.proc.blocks` for how a layer wires its synapses around the neuron.

Two models (:mod:`lava_egru.proc.egru.models`): ``floating_pt`` (float64) and
``fixed_pt``/``bit_accurate_loihi``, the exact integer step of docs/fixed-point.md
(section 6; gates of section 7, 24-bit saturation). The fixed-point model needs
``frac_preact`` (F_a) and ``frac_state`` (F_c); its ``threshold``, biases, ``c`` and
``y`` are integers (F_c, F_a, F_c, F_c fractional bits), its ports carry int64
messages (so a fixed-point Dense behind it accumulates exactly), and its
``overflow`` Var counts the entries ``sat24`` changed: ``[preact, candidate,
state]`` (the float model leaves it at zero).

Example (the neuron alone, fed through Lava's float Dense; run on the CPU backend)::

    >>> import numpy as np
    >>> from lava.magma.core.run_conditions import RunSteps
    >>> from lava.magma.core.run_configs import Loihi2SimCfg
    >>> from lava.proc.dense.process import Dense
    >>> from lava.proc.io.source import RingBuffer
    >>> from lava_egru.proc.egru.process import EGRUNeuron
    >>> H = 2
    >>> source = RingBuffer(data=np.ones((1, 3)))          # x_t = 1 at steps 1..3
    >>> gates = np.repeat([0.0, -4.0, 4.0], H)[:, None]    # W = (W_r, W_z, W_n) = (0, -4, 4)
    >>> w_ih = Dense(weights=gates, num_message_bits=24)
    >>> neuron = EGRUNeuron(shape=(H,), threshold=np.full(H, 0.5))
    >>> w_hh = Dense(weights=np.zeros((3 * H, H)), num_message_bits=24)
    >>> source.s_out.connect(w_ih.s_in)
    >>> w_ih.a_out.connect(neuron.a_in_x)
    >>> neuron.s_out.connect(w_hh.s_in)
    >>> w_hh.a_out.connect(neuron.a_in_h)
    >>> try:
    ...     neuron.run(RunSteps(2), Loihi2SimCfg(select_tag="floating_pt"))
    ...     y, c = neuron.y.get(), neuron.c.get()
    ... finally:
    ...     neuron.stop()
    >>> c_tilde = (1 - 1 / (1 + np.exp(4.0))) * np.tanh(4.0)  # step 2 saw x_0 = 1, c_{-1} = 0
    >>> bool(np.allclose(y, c_tilde)), bool(np.allclose(c, c_tilde - 0.5))  # fired, subtracted
    (True, True)
"""

from __future__ import annotations

import typing as ty
import warnings

import numpy as np
from egru_format.arithmetic import check_polarity
from egru_format.constants import EGRU_OVERFLOW_KEYS
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

from lava_egru.proc.checks import (checked_first_step, checked_frac, checked_reset, checked_shape,
                                   real_vector)


def __getattr__(name: str):
    if name == "OVERFLOW_COUNTERS":   # deprecated, kept for one release
        warnings.warn("lava_egru.proc.egru.process.OVERFLOW_COUNTERS is deprecated and will be removed: "
                      "use egru_format.EGRU_OVERFLOW_KEYS", DeprecationWarning, stacklevel=2)
        return EGRU_OVERFLOW_KEYS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class EGRUNeuron(AbstractProcess):
    """EGRU neuron Process of ``shape=(H,)`` units (equations in the module docstring).

    Parameters
    ----------
    shape : tuple(int)
        ``(H,)``: the number of units. No batch dimension.
    threshold : float or numpy.ndarray
        Per-unit thresholds :math:`\\vartheta` (broadcast to ``(H,)``), > 0.
    bias_ih, bias_hh : float or numpy.ndarray, optional
        Biases :math:`b_W`, :math:`b_U` (broadcast to ``(3H,)``). Default 0.
    reset_mechanism : str, optional
        ``"subtract"`` (default), ``"zero"`` or ``"none"``.
    polarity : str, optional
        ``"positive"`` (default; events where :math:`\tilde c > \vartheta`) or
        ``"signed"`` (events where :math:`|\tilde c| > \vartheta`, with their sign).
    events : bool, optional
        False makes the neuron a plain GRU (no threshold, no reset). Default True.
    first_step : int, optional
        Time step (counted from 1) at which ``a_in_x`` carries the input of sequence
        element 0. The neuron keeps its zero state and sends zeros before it.
        Default 2: the neuron sits behind one synapse fed from step 1.
    frac_preact, frac_state : int, optional
        Fixed point only: F_a (>= 1) and F_c of docs/fixed-point.md. The fixed-point
        model raises without them; the float model ignores them.

    Ports: ``a_in_x`` (3H) input projection :math:`W x_t`, ``a_in_h`` (3H) recurrent
    projection :math:`U y_{t-1}`, ``s_out`` (H) graded events :math:`y_t`.
    Vars: ``c`` and ``y`` (state, start at 0), ``threshold``, ``bias_ih``, ``bias_hh``,
    ``overflow`` (3: saturation counts ``preact``, ``candidate``, ``state``; fixed point).
    """

    def __init__(
        self,
        *,
        shape: ty.Tuple[int],
        threshold: ty.Union[float, np.ndarray],
        bias_ih: ty.Union[float, np.ndarray] = 0,
        bias_hh: ty.Union[float, np.ndarray] = 0,
        reset_mechanism: str = "subtract",
        polarity: str = "positive",
        events: bool = True,
        first_step: int = 2,
        frac_preact: ty.Optional[int] = None,
        frac_state: ty.Optional[int] = None,
        name: ty.Optional[str] = None,
        log_config: ty.Optional[LogConfig] = None,
    ) -> None:
        shape = checked_shape(shape, "H")
        hidden = shape[0]
        threshold = real_vector("threshold", threshold, (hidden,))
        bias_ih = real_vector("bias_ih", bias_ih, (3 * hidden,))
        bias_hh = real_vector("bias_hh", bias_hh, (3 * hidden,))
        reset_mechanism, events = checked_reset(reset_mechanism, events, threshold)
        super().__init__(
            shape=shape,
            reset_mechanism=reset_mechanism,
            polarity=check_polarity(polarity),
            events=events,
            first_step=checked_first_step(first_step),
            frac_preact=checked_frac("frac_preact", frac_preact, 1),
            frac_state=checked_frac("frac_state", frac_state),
            name=name,
            log_config=log_config,
        )
        self.a_in_x = InPort(shape=(3 * hidden,))
        self.a_in_h = InPort(shape=(3 * hidden,))
        self.s_out = OutPort(shape=shape)
        self.c = Var(shape=shape, init=np.zeros(shape))
        self.y = Var(shape=shape, init=np.zeros(shape))
        self.threshold = Var(shape=shape, init=threshold)
        self.bias_ih = Var(shape=(3 * hidden,), init=bias_ih)
        self.bias_hh = Var(shape=(3 * hidden,), init=bias_hh)
        self.overflow = Var(shape=(len(EGRU_OVERFLOW_KEYS),), init=np.zeros(len(EGRU_OVERFLOW_KEYS), np.int64))

    @property
    def shape(self) -> ty.Tuple[int]:
        """``(H,)``."""
        return self.proc_params["shape"]
