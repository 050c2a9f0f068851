"""ProcessModels of :class:`~lava_egru.proc.egru.process.EGRUNeuron`.

- :class:`AbstractPyEGRUNeuronModel`: what both precisions share, on
  :class:`~lava_egru.proc.abstract_models.AbstractPyNeuronModel`: the ports and
  Vars, the parameters, the first-step gating (no ``@implements``: never selected).
- :class:`PyEGRUNeuronModelFloat` (``floating_pt``): float64 (Lava's ``float``
  convention); parameters stored as float32 are exact in float64.
- :class:`PyEGRUNeuronModelFixed` (``fixed_pt``, ``bit_accurate_loihi``): the integer
  step of docs/fixed-point.md, bit for bit the reference
  ``snntorch_egru.quantization.egru_step_int``.

Both steps are the format's numpy arithmetic (:func:`egru_format.arithmetic.egru_step_float`,
:func:`egru_format.arithmetic.egru_step_fixed`), fed with the synapses' outputs plus the
biases.

Absolute imports only: Lava's model discovery also executes this file outside its
package.

    >>> from lava_egru.proc.egru.models import PyEGRUNeuronModelFloat, PyEGRUNeuronModelFixed
    >>> PyEGRUNeuronModelFloat.tags, PyEGRUNeuronModelFixed.tags
    (['floating_pt'], ['fixed_pt', 'bit_accurate_loihi'])
    >>> PyEGRUNeuronModelFixed.a_in_x.precision, PyEGRUNeuronModelFixed.s_out.precision
    (32, 24)
"""

import numpy as np
from egru_format.arithmetic import egru_step_fixed, egru_step_float
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_egru.proc.abstract_models import FIXED_PT, FLOATING_PT, AbstractPyNeuronModel
from lava_egru.proc.egru.process import EGRUNeuron


class AbstractPyEGRUNeuronModel(AbstractPyNeuronModel):
    """Both precisions of the EGRU neuron: receives ``a_in_x`` (:math:`W x_t`) and ``a_in_h``
    (:math:`U y_{t-1}`), sends ``y`` from ``first_step`` on (the zero state before).
    Concrete models implement ``step(a_x, a_h)``, which updates ``c`` and ``y``."""

    port_and_var_kinds = {"a_in_x": "graded_in", "a_in_h": "graded_in", "s_out": "graded_out",
                          "c": "state", "y": "state", "threshold": "state", "bias_ih": "state",
                          "bias_hh": "state", "overflow": "counter"}
    in_ports = ("a_in_x", "a_in_h")

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_mechanism = proc_params["reset_mechanism"]
        self.polarity = proc_params["polarity"]
        self.events = proc_params["events"]

    def idle_output(self) -> np.ndarray:
        return self.y


@implements(proc=EGRUNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyEGRUNeuronModelFloat(AbstractPyEGRUNeuronModel, types=FLOATING_PT):
    """The EGRU step in floating point (equations: :mod:`lava_egru.proc.egru.process`)."""

    def step(self, a_x: np.ndarray, a_h: np.ndarray) -> np.ndarray:
        return egru_step_float(a_x + self.bias_ih, a_h + self.bias_hh, self.y, self.c, self.threshold,
                               self.reset_mechanism, self.events, self.polarity)


@implements(proc=EGRUNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyEGRUNeuronModelFixed(AbstractPyEGRUNeuronModel, types=FIXED_PT):
    """The EGRU step in Loihi-style integers, bit for bit docs/fixed-point.md, section 6.

    ``a_in_x``/``a_in_h`` receive the outputs of Lava's fixed-point Dense/Sparse
    (``wrap32(shift(2k . s, weight_exp))`` in F_a, already wrapped by their int32
    ports); ``s_out`` sends the graded messages ``y`` (F_c) as int64, so that the
    Dense behind it accumulates exactly (int32 weights . int64 messages). The
    biases (F_a), thresholds and state (F_c) are int64. ``overflow`` counts the
    entries ``sat24`` changed: ``[preact, candidate, state]``.
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.frac_preact = proc_params["frac_preact"]
        self.frac_state = proc_params["frac_state"]

    def step(self, a_x: np.ndarray, a_h: np.ndarray) -> np.ndarray:
        if self.frac_preact is None or self.frac_state is None:
            raise ValueError("the fixed-point EGRU model needs frac_preact and frac_state "
                             "(EGRUNeuron(..., frac_preact=F_a, frac_state=F_c))")
        gate_x = a_x.astype(np.int64) + self.bias_ih.astype(np.int64)
        gate_h = a_h.astype(np.int64) + self.bias_hh.astype(np.int64)
        counts = egru_step_fixed(gate_x, gate_h, self.y, self.c, self.threshold, frac_preact=self.frac_preact,
                                 frac_state=self.frac_state, reset_mechanism=self.reset_mechanism,
                                 events=self.events, polarity=self.polarity)
        self.overflow[:] = self.overflow + counts
        return self.y
