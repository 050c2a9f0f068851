"""SubProcessModels of the blocks: build the children, wire them, alias the Vars.

The models are untagged: the structure is the same for every precision, and the
children's own models are chosen by the run configuration's ``select_tag``.
Timing of the wiring: :mod:`lava_egru.proc.blocks.process`.

Absolute imports only: Lava's model discovery also executes this file outside its
package.
"""

import scipy.sparse
from lava.magma.core.decorator import implements
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.process import Dense
from lava.proc.sparse.process import Sparse

from lava_egru.proc.blocks.process import GRADED_MESSAGE_BITS, DenseBlock, EGRUBlock, InputBlock
from lava_egru.proc.egru.process import EGRUNeuron
from lava_egru.proc.identity.process import Identity
from lava_egru.proc.one_hot.process import OneHot


def synapse(weights, num_message_bits: int):
    """Lava ``Sparse`` for a scipy.sparse matrix (its stored entries exactly), ``Dense`` otherwise."""
    if scipy.sparse.issparse(weights):
        return Sparse(weights=weights, num_message_bits=num_message_bits)
    return Dense(weights=weights, num_message_bits=num_message_bits)


@implements(proc=InputBlock, protocol=LoihiProtocol)
class SubInputBlockModel(AbstractSubProcessModel):
    """``inp -> OneHot -> out`` (tokens) or ``inp -> Identity -> out`` (vector); no synapse."""

    def __init__(self, proc: InputBlock):
        size = proc.shape[0]
        if proc.encoding == "tokens":
            self.neuron = OneHot(vocab_size=size)
        else:
            self.neuron = Identity(shape=(size,), first_step=1)
        proc.inp.connect(self.neuron.a_in)
        self.neuron.s_out.connect(proc.out)


@implements(proc=DenseBlock, protocol=LoihiProtocol)
class SubDenseBlockModel(AbstractSubProcessModel):
    """``inp -> synapse (W) -> Identity (+b) -> out``."""

    def __init__(self, proc: DenseBlock):
        params = proc.proc_params
        self.synapse = synapse(proc.weight.init, params["input_message_bits"])
        self.neuron = Identity(shape=proc.shape, bias=proc.bias.init, first_step=params["first_step"])
        proc.inp.connect(self.synapse.s_in)
        self.synapse.a_out.connect(self.neuron.a_in)
        self.neuron.s_out.connect(proc.out)
        proc.weight.alias(self.synapse.weights)
        proc.bias.alias(self.neuron.bias)


@implements(proc=EGRUBlock, protocol=LoihiProtocol)
class SubEGRUBlockModel(AbstractSubProcessModel):
    """``inp -> synapse_ih (W) -> EGRUNeuron <-> synapse_hh (U)``, neuron ``-> out``."""

    def __init__(self, proc: EGRUBlock):
        params = proc.proc_params
        self.synapse_ih = synapse(proc.weight_ih.init, params["input_message_bits"])
        self.synapse_hh = synapse(proc.weight_hh.init, GRADED_MESSAGE_BITS)
        self.neuron = EGRUNeuron(
            shape=proc.shape,
            threshold=proc.threshold.init,
            bias_ih=proc.bias_ih.init,
            bias_hh=proc.bias_hh.init,
            reset_mechanism=params["reset_mechanism"],
            events=params["events"],
            first_step=params["first_step"],
        )
        proc.inp.connect(self.synapse_ih.s_in)
        self.synapse_ih.a_out.connect(self.neuron.a_in_x)
        self.neuron.s_out.connect(self.synapse_hh.s_in)
        self.synapse_hh.a_out.connect(self.neuron.a_in_h)
        self.neuron.s_out.connect(proc.out)
        proc.weight_ih.alias(self.synapse_ih.weights)
        proc.weight_hh.alias(self.synapse_hh.weights)
        for name in ("bias_ih", "bias_hh", "threshold", "c", "y"):
            getattr(proc, name).alias(getattr(self.neuron, name))
