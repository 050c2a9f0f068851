r"""Token ids to one-hot spikes: the input neuron of a token (language-model) network.

Each time step ``a_in`` (shape ``(1,)``) carries one token id :math:`k`; ``s_out``
(shape ``(V,)``, ``V`` = vocabulary size) sends a unary spike on unit :math:`k`
and nothing elsewhere:

.. math::

    s_t = \mathbf{1}_{k_t} \in \{0, 1\}^V, \qquad s_t = 0 \text{ for } k_t < 0

A negative id means "no token" (used for the flush steps at the end of a run).
The spikes are unary, so the embedding synapse behind this neuron uses
``num_message_bits=0`` and adds up the columns of the active units: exactly the
embedding lookup :math:`W_{:, k_t}`.

Example::

    >>> import numpy as np
    >>> from lava.magma.core.run_conditions import RunSteps
    >>> from lava.magma.core.run_configs import Loihi2SimCfg
    >>> from lava.proc.io.sink import RingBuffer as Sink
    >>> from lava.proc.io.source import RingBuffer as Source
    >>> from lava_egru.proc.one_hot.process import OneHot
    >>> source = Source(data=np.array([[2.0, 0.0, -1.0]]))  # tokens 2, 0, then none
    >>> one_hot = OneHot(vocab_size=3)
    >>> sink = Sink(shape=(3,), buffer=3)
    >>> source.s_out.connect(one_hot.a_in)
    >>> one_hot.s_out.connect(sink.a_in)
    >>> try:
    ...     one_hot.run(RunSteps(3), Loihi2SimCfg(select_tag="floating_pt"))
    ...     spikes = sink.data.get()
    ... finally:
    ...     one_hot.stop()
    >>> spikes.T.tolist()                                  # no delay: a neuron, no synapse
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import typing as ty

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig

from lava_egru.proc.checks import checked_size


class OneHot(AbstractProcess):
    """One-hot encoder Process: token id on ``a_in`` (1) -> unary spikes on ``s_out`` (V).

    Parameters
    ----------
    vocab_size : int
        ``V``: number of tokens; ids are in ``[0, V)``, negative ids send no spike.
        An id >= V makes the model raise (callers validate ids first).
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        name: ty.Optional[str] = None,
        log_config: ty.Optional[LogConfig] = None,
    ) -> None:
        vocab_size = checked_size("vocab_size", vocab_size)
        super().__init__(vocab_size=vocab_size, name=name, log_config=log_config)
        self.a_in = InPort(shape=(1,))
        self.s_out = OutPort(shape=(vocab_size,))

    @property
    def vocab_size(self) -> int:
        """``V``."""
        return self.proc_params["vocab_size"]
