r"""The identity neuron: a graded linear output, the neuron of ``dense`` layers.

.. math::

    y_t = a_t + b

where :math:`a_t` arrives on ``a_in`` (a Dense/Sparse synapse delivers
:math:`W x` there, so a Dense + Identity pair computes :math:`W x_t + b`) and
:math:`y_t` leaves on ``s_out`` as a graded message. The network's token
embedding and readout logits are such layers; with ``bias=0`` it also passes a
network's vector input through unchanged.

Before ``first_step`` (the step at which sequence element 0 arrives) it sends
zeros, so that a layer's output is zero until its first valid step.

Fixed point (model tagged ``fixed_pt``, docs/fixed-point.md): ``a_in`` carries the
int32 output of a fixed-point Dense/Sparse, ``bias`` is an integer in the layer's
format and the neuron sends ``sat24(a_in + bias)`` as int64. With ``input_frac=F``
it is instead the network's vector input: ``a_in`` carries floats (from a source)
and it sends ``sat24(round_half_away(a_in * 2**F))``. The ``overflow`` Var (1)
counts the entries ``sat24`` changed (``output`` resp. ``input`` in the
reference's counters).

Example (a source sends 1, 2, 3; a graded Dense scales by 2; the neuron adds 0.5)::

    >>> import numpy as np
    >>> from lava.magma.core.run_conditions import RunSteps
    >>> from lava.magma.core.run_configs import Loihi2SimCfg
    >>> from lava.proc.dense.process import Dense
    >>> from lava.proc.io.sink import RingBuffer as Sink
    >>> from lava.proc.io.source import RingBuffer as Source
    >>> from lava_egru.proc.identity.process import Identity
    >>> source = Source(data=np.array([[1.0, 2.0, 3.0, 0.0]]))
    >>> dense = Dense(weights=np.array([[2.0]]), num_message_bits=24)
    >>> neuron = Identity(shape=(1,), bias=0.5)            # first_step=2: behind one synapse
    >>> sink = Sink(shape=(1,), buffer=4)
    >>> source.s_out.connect(dense.s_in)
    >>> dense.a_out.connect(neuron.a_in)
    >>> neuron.s_out.connect(sink.a_in)
    >>> try:
    ...     neuron.run(RunSteps(4), Loihi2SimCfg(select_tag="floating_pt"))
    ...     out = sink.data.get()
    ... finally:
    ...     neuron.stop()
    >>> out.tolist()                                        # one step of synaptic delay
    [[0.0, 2.5, 4.5, 6.5]]
"""

from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

from lava_egru.proc.checks import checked_first_step, checked_frac, checked_shape, real_vector


class Identity(AbstractProcess):
    """Graded linear neuron Process: ``s_out = a_in + bias`` from ``first_step`` on.

    Parameters
    ----------
    shape : tuple(int)
        ``(N,)``: number of neurons. No batch dimension.
    bias : float or numpy.ndarray, optional
        Bias :math:`b` (broadcast to ``shape``). Default 0.
    first_step : int, optional
        Time step (counted from 1) at which ``a_in`` carries sequence element 0;
        zeros are sent before it. Default 2 (behind one synapse fed from step 1).
    input_frac : int, optional
        Fixed point only: quantise float inputs with this many fractional bits (the
        network input); None (default): ``a_in`` is already an integer.

    Ports: ``a_in`` (N), ``s_out`` (N, graded). Vars: ``bias``, ``overflow`` (1).
    """

    def __init__(
        self,
        *,
        shape: ty.Tuple[int],
        bias: ty.Union[float, np.ndarray] = 0,
        first_step: int = 2,
        input_frac: ty.Optional[int] = None,
        name: ty.Optional[str] = None,
        log_config: ty.Optional[LogConfig] = None,
    ) -> None:
        shape = checked_shape(shape)
        super().__init__(shape=shape, first_step=checked_first_step(first_step),
                         input_frac=checked_frac("input_frac", input_frac), name=name, log_config=log_config)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.bias = Var(shape=shape, init=real_vector("bias", bias, shape))
        self.overflow = Var(shape=(1,), init=np.zeros(1, np.int64))

    @property
    def shape(self) -> ty.Tuple[int]:
        """``(N,)``."""
        return self.proc_params["shape"]
