"""ProcessModels of :class:`~lava_egru.proc.egru.process.EGRUNeuron`.

Only the floating-point model exists. It computes in float64 (Lava's ``float``
convention); parameters stored as float32 are exact in float64.

Absolute imports only: Lava's model discovery also executes this file outside its
package.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from scipy.special import expit

from lava_egru.proc.egru.process import EGRUNeuron


@implements(proc=EGRUNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyEGRUNeuronModelFloat(PyLoihiProcessModel):
    """The EGRU step in floating point (equations: :mod:`lava_egru.proc.egru.process`)."""

    a_in_x: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    a_in_h: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    c: np.ndarray = LavaPyType(np.ndarray, float)
    y: np.ndarray = LavaPyType(np.ndarray, float)
    threshold: np.ndarray = LavaPyType(np.ndarray, float)
    bias_ih: np.ndarray = LavaPyType(np.ndarray, float)
    bias_hh: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_mechanism = proc_params["reset_mechanism"]
        self.events = proc_params["events"]
        self.first_step = proc_params["first_step"]

    def run_spk(self) -> None:
        gates_x = self.a_in_x.recv()
        gates_h = self.a_in_h.recv()
        if self.time_step >= self.first_step:
            self.step(gates_x + self.bias_ih, gates_h + self.bias_hh)
        self.s_out.send(self.y)

    def step(self, gates_x: np.ndarray, gates_h: np.ndarray) -> None:
        """One EGRU step from the biased gate pre-activations; updates ``c`` and ``y``."""
        x_r, x_z, x_n = np.split(gates_x, 3)
        h_r, h_z, h_n = np.split(gates_h, 3)
        r = expit(x_r + h_r)
        z = expit(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        c_tilde = z * self.c + (1.0 - z) * n
        if not self.events:
            self.c[:] = c_tilde
            self.y[:] = c_tilde
            return
        e = (c_tilde > self.threshold).astype(float)
        self.y[:] = c_tilde * e
        if self.reset_mechanism == "subtract":
            self.c[:] = c_tilde - e * self.threshold
        elif self.reset_mechanism == "zero":
            self.c[:] = c_tilde * (1.0 - e)
        else:
            self.c[:] = c_tilde
