"""SubProcessModel of :class:`~lava_egru.proc.network.process.EGRUNetwork`.

As in lava-dl netx (``PyNetworkModel``), the blocks are built and wired by the
Process itself (they must exist before compilation, to be inspected and
exported), so the model has nothing to build. Unlike netx's model it is untagged:
netx tags its block models ``fixed_pt``, which a ``floating_pt`` run configuration
would reject. A model of netx's ``Network`` does not serve a subclass anyway:
Lava matches models by exact Process class.

Absolute imports only: Lava's model discovery also executes this file outside its
package.
"""

from lava.magma.core.decorator import implements
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_egru.proc.network.process import EGRUNetwork


@implements(proc=EGRUNetwork, protocol=LoihiProtocol)
class SubEGRUNetworkModel(AbstractSubProcessModel):
    """Nothing to build: the blocks already exist and are wired (see the module docstring)."""

    def __init__(self, proc: EGRUNetwork):
        """The compiler finds the blocks through the network's port connections."""
