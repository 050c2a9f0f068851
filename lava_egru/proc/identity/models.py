"""ProcessModels of :class:`~lava_egru.proc.identity.process.Identity` (floating and fixed point).

:class:`AbstractPyIdentityModel` holds what both share (ports, Vars, the zeros sent
before ``first_step``; no ``@implements``: never selected); the concrete models add
the arithmetic.

Absolute imports only: Lava's model discovery also executes this file outside its
package.

    >>> from lava_egru.proc.identity.models import AbstractPyIdentityModel, PyIdentityModelFixed
    >>> issubclass(PyIdentityModelFixed, AbstractPyIdentityModel), PyIdentityModelFixed.bias.precision
    (True, 24)
"""

import numpy as np
from egru_format.integer import quantize_input, sat24
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_egru.proc.abstract_models import FIXED_PT, FLOATING_PT, AbstractPyNeuronModel
from lava_egru.proc.identity.process import Identity


class AbstractPyIdentityModel(AbstractPyNeuronModel):
    """Both precisions of the identity neuron: ``a_in`` -> ``step`` -> ``s_out``; zeros before ``first_step``."""

    port_and_var_kinds = {"a_in": "graded_in", "s_out": "graded_out", "bias": "state", "overflow": "counter"}
    in_ports = ("a_in",)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.zeros = np.zeros(proc_params["shape"], self.types.graded_out.d_type)

    def idle_output(self) -> np.ndarray:
        return self.zeros


@implements(proc=Identity, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyIdentityModelFloat(AbstractPyIdentityModel, types=FLOATING_PT):
    """``s_out = a_in + bias`` in floating point."""

    def step(self, a_in: np.ndarray) -> np.ndarray:
        return a_in + self.bias


@implements(proc=Identity, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyIdentityModelFixed(AbstractPyIdentityModel, types=FIXED_PT):
    """``sat24(a_in + bias)`` (a dense layer) or ``sat24(round_half_away(a_in * 2**input_frac))``
    (the vector input), int64 messages; ``overflow`` counts saturations."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.input_frac = proc_params.get("input_frac")

    def step(self, a_in: np.ndarray) -> np.ndarray:
        if self.input_frac is not None:
            out, count = quantize_input(a_in, self.input_frac)
        elif a_in.dtype.kind == "f":
            raise TypeError("the fixed-point Identity received floats: pass input_frac to quantise a network "
                            "input, or feed it from a fixed-point Dense/Sparse")
        else:
            out, count = sat24(a_in.astype(np.int64) + self.bias.astype(np.int64))
        self.overflow[:] = self.overflow + count
        return out
