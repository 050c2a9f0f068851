"""ProcessModels of :class:`~lava_egru.proc.one_hot.process.OneHot` (floating and fixed point).

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

from lava_egru.proc.one_hot.process import OneHot


@implements(proc=OneHot, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyOneHotModelFloat(PyLoihiProcessModel):
    """Token id (sent as a float) -> one-hot spikes (0.0/1.0, as Lava's float LIF sends spikes)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.vocab_size = proc_params["vocab_size"]

    def run_spk(self) -> None:
        token = int(self.a_in.recv()[0])
        spikes = np.zeros(self.vocab_size)
        if 0 <= token < self.vocab_size:
            spikes[token] = 1.0
        # Send before raising: the synapse behind waits for this step's message, and a
        # Process that never sends would deadlock the runtime instead of reporting the error.
        self.s_out.send(spikes)
        if token >= self.vocab_size:
            raise ValueError(f"token id {token} out of range [0, {self.vocab_size})")


@implements(proc=OneHot, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyOneHotModelFixed(PyLoihiProcessModel):
    """Token id (a number from a source) -> one-hot spikes (bool, as Lava's fixed-point LIF sends spikes).

    The embedding synapse behind it is unary (``num_message_bits=0``): Lava's fixed-point
    Dense adds up the integer weight columns of the spiking units, i.e. the lookup.
    """

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.vocab_size = proc_params["vocab_size"]

    def run_spk(self) -> None:
        token = int(self.a_in.recv()[0])
        spikes = np.zeros(self.vocab_size, bool)
        if 0 <= token < self.vocab_size:
            spikes[token] = True
        self.s_out.send(spikes)
        if token >= self.vocab_size:
            raise ValueError(f"token id {token} out of range [0, {self.vocab_size})")
