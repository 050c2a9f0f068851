r"""The abstract base of the neuron ProcessModels: Lava types of both precisions, step gating.

Every neuron of :mod:`lava_egru.proc` (EGRU, identity, one-hot) has one
``floating_pt`` and one ``fixed_pt`` ProcessModel with the same ports and Vars;
only their number types and the arithmetic differ. As in Lava's own
``lava/proc/lif/models.py``, what both share sits in abstract bases:

- :class:`AbstractPyNeuronModel` (here): the step of every neuron. It receives
  one message per input port; from ``first_step`` on (time steps count from 1)
  it sends :math:`s_t = \mathrm{step}(a_t)`, before it the ``idle_output``. The
  message is sent on every exit path, also when ``step`` raises: the Process
  behind waits for it, and a message that never comes would deadlock the
  runtime instead of reporting the error.
- one abstract base per Process in its ``models.py`` (e.g.
  ``AbstractPyEGRUNeuronModel``): the port and Var names with the kind of number
  each holds (``port_and_var_kinds``), the input ports, the parameters.
- the concrete models: Lava's decorators (``@implements``, ``@requires``,
  ``@tag``), the precision as a class keyword (``types=FLOATING_PT`` or
  ``types=FIXED_PT``, which gives every port and Var its ``LavaPyType``) and
  the arithmetic.

The bases carry no ``@implements``, so Lava's model discovery (which keeps only
classes whose ``implements_process`` is the Process) never selects them.

:data:`FIXED_PT` follows docs/fixed-point.md: messages from a fixed-point
``Dense``/``Sparse`` are int32, graded messages sent on are int64 holding 24-bit
values (so that the int32-weight Dense behind accumulates them exactly), states
24-bit, counters 64-bit; unary spikes are bools and token ids (from a source)
stay floats.

    >>> from lava_egru.proc.abstract_models import FIXED_PT, FLOATING_PT
    >>> FIXED_PT.graded_in.d_type.__name__, FIXED_PT.graded_in.precision, FLOATING_PT.state.d_type.__name__
    ('int64', 32, 'float')
    >>> from lava_egru.proc.egru.models import AbstractPyEGRUNeuronModel, PyEGRUNeuronModelFixed
    >>> PyEGRUNeuronModelFixed.c.precision, AbstractPyEGRUNeuronModel.implements_process is None
    (24, True)
"""

from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

__all__ = ["PortAndVarTypes", "FLOATING_PT", "FIXED_PT", "AbstractPyNeuronModel"]


class PortAndVarTypes(ty.NamedTuple):
    """The ``LavaPyType`` of each kind of port and Var in one precision."""

    graded_in: LavaPyType
    graded_out: LavaPyType
    token_in: LavaPyType
    spikes_out: LavaPyType
    state: LavaPyType
    counter: LavaPyType


FLOATING_PT = PortAndVarTypes(
    graded_in=LavaPyType(PyInPort.VEC_DENSE, float),
    graded_out=LavaPyType(PyOutPort.VEC_DENSE, float),
    token_in=LavaPyType(PyInPort.VEC_DENSE, float),
    spikes_out=LavaPyType(PyOutPort.VEC_DENSE, float),
    state=LavaPyType(np.ndarray, float),
    counter=LavaPyType(np.ndarray, float),
)

FIXED_PT = PortAndVarTypes(
    graded_in=LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=32),
    graded_out=LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=24),
    token_in=LavaPyType(PyInPort.VEC_DENSE, float),
    spikes_out=LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1),
    state=LavaPyType(np.ndarray, np.int64, precision=24),
    counter=LavaPyType(np.ndarray, np.int64, precision=64),
)


class AbstractPyNeuronModel(PyLoihiProcessModel):
    """Receive, gate by ``first_step``, compute, send (module docstring); not a model of any Process.

    Per Process, a subclass sets ``port_and_var_kinds`` (name -> field of
    :class:`PortAndVarTypes`), ``in_ports`` (the names ``run_spk`` receives from, in
    the order ``step`` takes them) and ``idle_output``. Per precision, a concrete
    subclass passes ``types=`` and implements ``step``. Processes without a
    ``first_step`` parameter compute from step 1.
    """

    port_and_var_kinds: ty.ClassVar[ty.Dict[str, str]] = {}
    in_ports: ty.ClassVar[ty.Tuple[str, ...]] = ()
    types: ty.ClassVar[ty.Optional[PortAndVarTypes]] = None

    def __init_subclass__(cls, types: ty.Optional[PortAndVarTypes] = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if types is not None:
            cls.types = types
            for name, kind in cls.port_and_var_kinds.items():
                setattr(cls, name, getattr(types, kind))

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self.first_step = proc_params.get("first_step", 1)

    def run_spk(self) -> None:
        messages = [getattr(self, name).recv() for name in self.in_ports]
        output = self.idle_output()
        try:
            if self.time_step >= self.first_step:
                output = self.step(*messages)
        finally:
            self.s_out.send(output)

    def idle_output(self) -> np.ndarray:
        """What ``s_out`` sends before ``first_step`` (and when ``step`` raises)."""
        raise NotImplementedError

    def step(self, *messages: np.ndarray) -> np.ndarray:
        """One time step from the received messages; returns what ``s_out`` sends."""
        raise NotImplementedError
