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


#: Weight bits of a fixed-point synapse (the Lava integer weights 2k are 8-bit mantissas times 2).
NUM_WEIGHT_BITS = 8


def synapse(weights, num_message_bits: int, weight_exp=None):
    """Lava ``Sparse`` for a scipy.sparse matrix (its stored entries exactly), ``Dense`` otherwise.

    With ``weight_exp`` (fixed point) it also gets ``weight_exp`` and ``num_weight_bits=8``,
    which Lava's bit-accurate models use (the float models ignore them).
    """
    kwargs = {} if weight_exp is None else {"weight_exp": int(weight_exp), "num_weight_bits": NUM_WEIGHT_BITS}
    if scipy.sparse.issparse(weights):
        return Sparse(weights=weights, num_message_bits=num_message_bits, **kwargs)
    return Dense(weights=weights, num_message_bits=num_message_bits, **kwargs)


@implements(proc=InputBlock, protocol=LoihiProtocol)
class SubInputBlockModel(AbstractSubProcessModel):
    """``inp -> OneHot -> out`` (tokens) or ``inp -> Identity -> out`` (vector); no synapse."""

    def __init__(self, proc: InputBlock):
        size = proc.shape[0]
        if proc.encoding == "tokens":
            self.neuron = OneHot(vocab_size=size)
        else:
            self.neuron = Identity(shape=(size,), first_step=1, input_frac=proc.proc_params["frac_input"])
        proc.inp.connect(self.neuron.a_in)
        self.neuron.s_out.connect(proc.out)
        if proc.encoding != "tokens":
            proc.overflow.alias(self.neuron.overflow)


@implements(proc=DenseBlock, protocol=LoihiProtocol)
class SubDenseBlockModel(AbstractSubProcessModel):
    """``inp -> synapse (W) -> Identity (+b) -> out``."""

    def __init__(self, proc: DenseBlock):
        params = proc.proc_params
        self.synapse = synapse(proc.weight.init, params["input_message_bits"], params["weight_exp"])
        self.neuron = Identity(shape=proc.shape, bias=proc.bias.init, first_step=params["first_step"])
        proc.inp.connect(self.synapse.s_in)
        self.synapse.a_out.connect(self.neuron.a_in)
        self.neuron.s_out.connect(proc.out)
        proc.weight.alias(self.synapse.weights)
        proc.bias.alias(self.neuron.bias)
        proc.overflow.alias(self.neuron.overflow)


@implements(proc=EGRUBlock, protocol=LoihiProtocol)
class SubEGRUBlockModel(AbstractSubProcessModel):
    """``inp -> synapse_ih (W) -> EGRUNeuron <-> synapse_hh (U)``, neuron ``-> out``."""

    def __init__(self, proc: EGRUBlock):
        params = proc.proc_params
        self.synapse_ih = synapse(proc.weight_ih.init, params["input_message_bits"], params["weight_exp_ih"])
        self.synapse_hh = synapse(proc.weight_hh.init, GRADED_MESSAGE_BITS, params["weight_exp_hh"])
        self.neuron = EGRUNeuron(
            shape=proc.shape,
            threshold=proc.threshold.init,
            bias_ih=proc.bias_ih.init,
            bias_hh=proc.bias_hh.init,
            reset_mechanism=params["reset_mechanism"],
            polarity=params["polarity"],
            events=params["events"],
            first_step=params["first_step"],
            frac_preact=params["frac_preact"],
            frac_state=params["frac_state"],
        )
        proc.inp.connect(self.synapse_ih.s_in)
        self.synapse_ih.a_out.connect(self.neuron.a_in_x)
        self.neuron.s_out.connect(self.synapse_hh.s_in)
        self.synapse_hh.a_out.connect(self.neuron.a_in_h)
        self.neuron.s_out.connect(proc.out)
        proc.weight_ih.alias(self.synapse_ih.weights)
        proc.weight_hh.alias(self.synapse_hh.weights)
        for name in ("bias_ih", "bias_hh", "threshold", "c", "y", "overflow"):
            getattr(proc, name).alias(getattr(self.neuron, name))
