r"""The EGRU step in numpy, in floating point and in fixed point: the one numpy copy of each.

Both steps start where the synapses stop: ``gate_x`` = :math:`W x_t + b_W` and
``gate_h`` = :math:`U y_{t-1} + b_U` (each :math:`3H`, gate order r, z, n as
``torch.nn.GRU``), and update the layer's state arrays ``y`` and ``c`` [H] in place.
The Lava neuron models (``lava_egru.proc.egru.models``) and the numpy backend of the
snnTorch side's event-driven engine (``snntorch_egru.event_inference``) call them; the
test oracle ``tests/numpy_reference.py`` is a separate, independent transcription.

:func:`egru_step_float` (any float dtype; the arrays' own precision):

.. math::

    r &= \sigma(g^x_r + g^h_r), \quad z = \sigma(g^x_z + g^h_z), \quad
    n = \tanh(g^x_n + r \odot g^h_n), \quad
    \tilde c = z \odot c + (1 - z) \odot n \\
    e &= \tilde c > \vartheta, \quad y = e \, \tilde c, \quad
    c \leftarrow \tilde c - e \vartheta \ (\text{"subtract"}), \ (1 - e) \tilde c \ (\text{"zero"}),
    \ \tilde c \ (\text{"none"})

with :math:`\sigma(a) = 1 / (1 + e^{-a})`; ``events=False`` makes it a GRU
(:math:`y = c = \tilde c`). With ``polarity="signed"`` a unit fires where
:math:`|\tilde c| > \vartheta`, its event :math:`y = \tilde c` keeps its sign, and the
subtractive reset is :math:`c \leftarrow \tilde c - e \, \mathrm{sign}(\tilde c) \vartheta`
(the state moves towards 0 by the threshold, from either side).

:func:`egru_step_fixed` (int64; docs/fixed-point.md, "The EGRU step"; ``rsr`` is
:func:`~egru_format.integer.rshift_round`, ``sat`` :func:`~egru_format.integer.sat24`,
gates on F_g = 12 bits):

.. math::

    a_r &= \mathrm{sat}(g^x_r + g^h_r), \quad a_z = \mathrm{sat}(g^x_z + g^h_z), \quad
    r = \sigma_q(a_r), \quad z = \sigma_q(a_z), \quad h_n = \mathrm{sat}(g^h_n), \\
    a_n &= \mathrm{sat}(g^x_n + \mathrm{rsr}(r h_n, F_g)), \quad
    n_c = \mathrm{rsr}(\tanh_q(a_n), F_g - F_c), \quad
    \tilde c = \mathrm{sat}(n_c + \mathrm{rsr}(z (c - n_c), F_g)) \\
    e &= \tilde c > \vartheta, \quad y = e \, \tilde c, \quad
    c \leftarrow \mathrm{sat}(\tilde c - e \vartheta) \ (\text{"subtract"; "zero", "none" as above})

Signed events in integers (``polarity="signed"``): :math:`e = (\tilde c > \vartheta) \lor
(\tilde c < -\vartheta)`, exact on int64 (no absolute value of :math:`-2^{23}` is needed),
:math:`y = e \, \tilde c` and :math:`c \leftarrow \mathrm{sat}(\tilde c - e \,
\mathrm{sign}(\tilde c) \vartheta)`; with :math:`\vartheta \ge 1` the result stays
between 0 and :math:`\tilde c`, so this saturation never fires (it is counted all the same).

It returns how many entries each saturation changed, in the order of
:data:`~egru_format.constants.EGRU_OVERFLOW_KEYS` (pre-activations, candidate, state).

Example::

    >>> import numpy as np
    >>> from egru_format.arithmetic import egru_step_float, egru_step_fixed
    >>> gate_x = np.array([0.0, -4.0, 4.0])            # H = 1: r, z, n pre-activations
    >>> y, c = np.zeros(1), np.zeros(1)
    >>> egru_step_float(gate_x, np.zeros(3), y, c, np.array([0.5]))
    array([0.98135515])
    >>> c                                              # fired: the threshold was subtracted
    array([0.48135515])
    >>> y, c = np.zeros(1, np.int64), np.zeros(1, np.int64)
    >>> egru_step_fixed(gate_x.astype(np.int64) << 12, np.zeros(3, np.int64), y, c, np.array([2048]),
    ...                 frac_preact=12, frac_state=12).tolist()
    [0, 0, 0]
    >>> y.tolist(), c.tolist()                         # PLAN gates: 0.96875 = 3968 / 4096
    ([3968], [1920])
    >>> y, c = np.zeros(1), np.zeros(1)                # a negative candidate fires a signed event
    >>> egru_step_float(np.array([0.0, -4.0, -4.0]), np.zeros(3), y, c, np.array([0.5]), polarity="signed")
    array([-0.98135515])
    >>> c
    array([-0.48135515])
"""

from __future__ import annotations

import numpy as np

from .constants import EGRU_OVERFLOW_KEYS, FRAC_GATE, POLARITIES
from .integer import rshift_round, sat24, sigmoid_q, tanh_q

__all__ = ["egru_step_float", "egru_step_fixed", "check_polarity"]


def check_polarity(polarity: str) -> str:
    """``polarity`` if it is one of :data:`~egru_format.constants.POLARITIES`, else a ValueError."""
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    return polarity


def egru_step_float(gate_x: np.ndarray, gate_h: np.ndarray, y: np.ndarray, c: np.ndarray, threshold: np.ndarray,
                    reset_mechanism: str = "subtract", events: bool = True,
                    polarity: str = "positive") -> np.ndarray:
    """One EGRU step in floating point (equations in the module docstring); returns ``y``.

    ``gate_x``, ``gate_h`` [3H]: the gate pre-activations with their biases. ``y`` and
    ``c`` [H]: the state, overwritten in place (``c`` is read as :math:`c_{t-1}`).
    ``threshold`` [H] (unused with ``events=False``). The arrays' dtype is the
    arithmetic's (float32 or float64). ``polarity``: ``"positive"`` (the reference
    neuron) or ``"signed"``.
    """
    hidden = c.shape[0]
    rz = gate_x[: 2 * hidden] + gate_h[: 2 * hidden]
    np.negative(rz, out=rz)
    with np.errstate(over="ignore"):   # exp(-a) = inf for a very negative a: the sigmoid is then exactly 0
        np.exp(rz, out=rz)
    rz += 1
    np.reciprocal(rz, out=rz)
    r, z = rz[:hidden], rz[hidden:]
    n = np.tanh(gate_x[2 * hidden:] + r * gate_h[2 * hidden:])
    c_tilde = z * c + (1 - z) * n
    if not events:
        y[:] = c_tilde
        c[:] = c_tilde
        return y
    signed = check_polarity(polarity) == "signed"
    fire = (np.abs(c_tilde) if signed else c_tilde) > threshold
    np.multiply(c_tilde, fire, out=y)
    if reset_mechanism == "subtract":
        step = np.copysign(threshold, c_tilde) if signed else threshold
        c[:] = np.where(fire, c_tilde - step, c_tilde)
    elif reset_mechanism == "zero":
        c[:] = np.where(fire, 0, c_tilde)
    else:
        c[:] = c_tilde
    return y


def egru_step_fixed(gate_x: np.ndarray, gate_h: np.ndarray, y: np.ndarray, c: np.ndarray, threshold: np.ndarray,
                    *, frac_preact: int, frac_state: int, reset_mechanism: str = "subtract",
                    events: bool = True, polarity: str = "positive") -> np.ndarray:
    """One EGRU step in integers (docs/fixed-point.md, section 6); returns the overflow counts.

    ``gate_x``, ``gate_h`` [3H]: int64 gate pre-activations with their biases, in F_a =
    ``frac_preact`` fractional bits (exact sums: int64 does not overflow on 24-bit
    biases and int32 Dense outputs). ``y`` and ``c`` [H] (F_c = ``frac_state``): the
    state, overwritten in place. ``threshold`` [H] in F_c. ``polarity``: ``"positive"`` or
    ``"signed"`` (events where :math:`|\tilde c| > \vartheta`). Returns int64 [3]: the
    entries each ``sat24`` changed, ordered as
    :data:`~egru_format.constants.EGRU_OVERFLOW_KEYS`.
    """
    hidden = c.shape[0]
    counts = np.zeros(len(EGRU_OVERFLOW_KEYS), np.int64)
    a_r, n_r = sat24(gate_x[:hidden] + gate_h[:hidden])
    a_z, n_z = sat24(gate_x[hidden:2 * hidden] + gate_h[hidden:2 * hidden])
    r = sigmoid_q(a_r, frac_preact)
    z = sigmoid_q(a_z, frac_preact)
    h_n, n_h = sat24(gate_h[2 * hidden:])
    a_n, n_n = sat24(gate_x[2 * hidden:] + rshift_round(r * h_n, FRAC_GATE))
    counts[0] = n_r + n_z + n_h + n_n
    n_c = rshift_round(tanh_q(a_n, frac_preact), FRAC_GATE - frac_state)
    c_prev = c.astype(np.int64)
    c_tilde, counts[1] = sat24(n_c + rshift_round(z * (c_prev - n_c), FRAC_GATE))
    if not events:
        c[:] = c_tilde
        y[:] = c_tilde
        return counts
    theta = threshold.astype(np.int64)
    signed = check_polarity(polarity) == "signed"
    fire = (c_tilde > theta) | (c_tilde < -theta) if signed else c_tilde > theta
    y[:] = np.where(fire, c_tilde, 0)
    if reset_mechanism == "subtract":
        step = np.sign(c_tilde) * theta if signed else theta
        c[:], counts[2] = sat24(c_tilde - fire * step)
    elif reset_mechanism == "zero":
        c[:] = np.where(fire, 0, c_tilde)
    else:
        c[:] = c_tilde
    return counts
