"""ProcessModels of :class:`~lava_egru.proc.one_hot.process.OneHot` (floating and fixed point).

Both precisions compute the same one-hot vector; they differ only in the spike
type, which the precision's :data:`~lava_egru.proc.abstract_models.FLOATING_PT` /
:data:`~lava_egru.proc.abstract_models.FIXED_PT` types give: 0.0/1.0 floats (as
Lava's float LIF sends spikes) or bools (as its fixed-point LIF does). The
embedding synapse behind is unary (``num_message_bits=0``): Lava's Dense adds up
the weight columns of the spiking units, i.e. the lookup.

Absolute imports only: Lava's model discovery also executes this file outside its
package.

    >>> from lava_egru.proc.one_hot.models import PyOneHotModelFixed, PyOneHotModelFloat
    >>> PyOneHotModelFloat.s_out.d_type.__name__, PyOneHotModelFixed.s_out.d_type.__name__
    ('float', 'bool')
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_egru.proc.abstract_models import FIXED_PT, FLOATING_PT, AbstractPyNeuronModel
from lava_egru.proc.one_hot.process import OneHot


class AbstractPyOneHotModel(AbstractPyNeuronModel):
    """Token id :math:`k` on ``a_in`` -> spike on unit :math:`k` of ``s_out`` (none for :math:`k < 0`).

    An id >= the vocabulary size raises after sending no spike (callers validate ids first).
    """

    port_and_var_kinds = {"a_in": "token_in", "s_out": "spikes_out"}
    in_ports = ("a_in",)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.vocab_size = proc_params["vocab_size"]
        self.no_spikes = np.zeros(self.vocab_size, self.types.spikes_out.d_type)

    def idle_output(self) -> np.ndarray:
        return self.no_spikes

    def step(self, a_in: np.ndarray) -> np.ndarray:
        token = int(a_in[0])
        if token >= self.vocab_size:
            raise ValueError(f"token id {token} out of range [0, {self.vocab_size})")
        spikes = self.no_spikes.copy()
        if token >= 0:
            spikes[token] = 1
        return spikes


@implements(proc=OneHot, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyOneHotModelFloat(AbstractPyOneHotModel, types=FLOATING_PT):
    """One-hot spikes as 0.0/1.0."""


@implements(proc=OneHot, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyOneHotModelFixed(AbstractPyOneHotModel, types=FIXED_PT):
    """One-hot spikes as bools."""
