"""ProcessModels of :class:`~lava_egru.proc.identity.process.Identity` (floating and fixed point).

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
from egru_format.integer import quantize_input, sat24


@implements(proc=Identity, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyIdentityModelFloat(PyLoihiProcessModel):
    """``s_out = a_in + bias`` in floating point; zeros before ``first_step``."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    overflow: np.ndarray = LavaPyType(np.ndarray, float)

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


@implements(proc=Identity, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyIdentityModelFixed(PyLoihiProcessModel):
    """``sat24(a_in + bias)`` (a dense layer) or ``sat24(round_half_away(a_in * 2**input_frac))``
    (the vector input), int64 messages; zeros before ``first_step``; ``overflow`` counts saturations."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=32)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    overflow: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.first_step = proc_params["first_step"]
        self.input_frac = proc_params.get("input_frac")
        self.zeros = np.zeros(proc_params["shape"], np.int64)

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        if self.time_step < self.first_step:
            self.s_out.send(self.zeros)
            return
        if self.input_frac is not None:
            out, count = quantize_input(a_in, self.input_frac)
        elif a_in.dtype.kind == "f":
            self.s_out.send(self.zeros)  # send first: a silent Process would deadlock the runtime
            raise TypeError("the fixed-point Identity received floats: pass input_frac to quantise a network "
                            "input, or feed it from a fixed-point Dense/Sparse")
        else:
            out, count = sat24(a_in.astype(np.int64) + self.bias.astype(np.int64))
        self.overflow[:] = self.overflow + count
        self.s_out.send(out)
