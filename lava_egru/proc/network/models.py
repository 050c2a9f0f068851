"""SubProcessModel of :class:`~lava_egru.proc.network.process.EGRUNetwork`.

The network's behaviour is that of its blocks, which the Process builds and chains
itself (they exist before compilation, to be inspected, exported and tapped; see
:mod:`lava_egru.proc.network.process`): Lava's compiler reaches them through the
port connections, and the model has nothing to build, as lava-dl netx's model of its
``Network``. It is untagged: the structure is the same in both precisions, and the
blocks' children get their models from the run configuration's ``select_tag``.

Absolute imports only: Lava's model discovery also executes this file outside its
package.
"""

from lava.magma.core.decorator import implements
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_egru.proc.network.process import EGRUNetwork


@implements(proc=EGRUNetwork, protocol=LoihiProtocol)
class SubEGRUNetworkModel(AbstractSubProcessModel):
    """Nothing to build: the blocks exist and are chained (module docstring)."""

    def __init__(self, proc: EGRUNetwork):
        """The compiler finds the blocks through the network's port connections."""
