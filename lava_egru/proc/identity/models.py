"""ProcessModels of :class:`~lava_egru.proc.identity.process.Identity` (floating point only).

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

from lava_egru.proc.identity.process import Identity


@implements(proc=Identity, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyIdentityModelFloat(PyLoihiProcessModel):
    """``s_out = a_in + bias`` in floating point; zeros before ``first_step``."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.first_step = proc_params["first_step"]
        self.zeros = np.zeros(proc_params["shape"])

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        if self.time_step < self.first_step:
            self.s_out.send(self.zeros)
        else:
            self.s_out.send(a_in + self.bias)
