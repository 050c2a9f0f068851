"""SubProcessModel of :class:`~lava_egru.proc.network.process.EGRUNetwork`.

As the SubProcessModels of Lava's hierarchical Processes, it makes the network's
behaviour out of sub-Processes: its blocks, one per layer, wired in a chain
``inp -> layers[0] -> ... -> layers[-1] -> out``. The blocks are those the Process
built (they hold the parameters before any compilation, to be inspected and
exported); the model adopts them as its sub-Processes (one attribute each, which
Lava registers) and wires them. It is untagged: the structure is the same in both
precisions, and the blocks' children get their models from the run configuration's
``select_tag``.

Absolute imports only: Lava's model discovery also executes this file outside its
package.
"""

from lava.magma.core.decorator import implements
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_egru.proc.network.process import EGRUNetwork


@implements(proc=EGRUNetwork, protocol=LoihiProtocol)
class SubEGRUNetworkModel(AbstractSubProcessModel):
    """``inp -> layers[0] -> layers[1] -> ... -> layers[-1] -> out``; the blocks become ``layer_k``."""

    def __init__(self, proc: EGRUNetwork):
        blocks = proc.layers
        for k, block in enumerate(blocks):
            setattr(self, f"layer_{k}", block)
        proc.inp.connect(blocks[0].inp)
        for before, after in zip(blocks, blocks[1:]):
            before.out.connect(after.inp)
        blocks[-1].out.connect(proc.out)
