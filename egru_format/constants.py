"""Every constant of the ``egru-network`` format and of its fixed-point arithmetic, defined once.

The snnTorch side, the Lava side and the converters import these names from here
(through :mod:`egru_format`); no other module of the repository defines them.

Format identity (docs/format.md):

- :data:`FORMAT_NAME`, :data:`FORMAT_VERSION` (what the writer produces),
  :data:`SUPPORTED_VERSIONS` (what the reader accepts), :data:`PRODUCER`;
- :data:`GATE_ORDER` ``"rzn"``: rows of ``weight_ih``/``weight_hh`` are the reset, update
  and candidate gates in that order (as ``torch.nn.GRU``);
- :data:`RESET_MECHANISMS`: what a unit's state does after an event
  (``subtract`` the threshold, set it to ``zero``, or ``none``);
- :data:`POLARITIES`: which events a unit sends (``positive``: where c~ > theta, the
  reference neuron; ``signed``: where |c~| > theta, with the sign of c~; version 3);
- :data:`INPUT_ENCODINGS`, :data:`SURROGATE_TYPES`, :data:`SPARSE_AUTO_FRACTION`.

Fixed point (docs/fixed-point.md): gates carry :data:`FRAC_GATE` = 12 fractional bits
(so 1.0 is :data:`GATE_ONE` = 4096); states, pre-activations and messages are 24-bit
signed (:data:`INT24_MIN` .. :data:`INT24_MAX`); Lava's fixed-point ``Dense`` sends on an
int32 port (:data:`INT32_MIN` .. :data:`INT32_MAX`); weights are symmetric 8-bit
mantissas (:data:`MANTISSA_MIN` .. :data:`MANTISSA_MAX`) and the Dense ``weight_exp``
is in Loihi's range :data:`WEIGHT_EXP_MIN` .. :data:`WEIGHT_EXP_MAX`.

    >>> from egru_format import constants as c
    >>> c.GATE_ORDER, c.RESET_MECHANISMS, c.GATE_ONE, c.INT24_MAX
    ('rzn', ('subtract', 'zero', 'none'), 4096, 8388607)
"""

from __future__ import annotations

import warnings

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "SUPPORTED_VERSIONS", "PRODUCER", "GATE_ORDER", "RESET_MECHANISMS", "POLARITIES",
    "INPUT_ENCODINGS", "SURROGATE_TYPES", "SPARSE_AUTO_FRACTION", "FRAC_GATE", "GATE_ONE",
    "INT24_MIN", "INT24_MAX", "INT32_MIN", "INT32_MAX", "MANTISSA_MIN", "MANTISSA_MAX", "WEIGHT_EXP_MIN",
    "WEIGHT_EXP_MAX", "FRAC_LIMIT", "EXP_LIMIT", "OVERFLOW_KEYS", "EGRU_OVERFLOW_KEYS",
]

FORMAT_NAME = "egru-network"
FORMAT_VERSION = 3
#: Versions the reader accepts (version 1 files have no quantization groups; versions 1 and 2
#: have no ``neuron/polarity``: their EGRU layers are the positive neuron).
SUPPORTED_VERSIONS = (1, 2, 3)
PRODUCER = "egru 0.1.0"
GATE_ORDER = "rzn"
RESET_MECHANISMS = ("subtract", "zero", "none")
#: Event polarities of an EGRU layer; the first is the reference neuron (and every layer of a
#: version 1 or 2 file).
POLARITIES = ("positive", "signed")
INPUT_ENCODINGS = ("vector", "tokens")
SURROGATE_TYPES = ("triangle",)
#: ``sparse="auto"`` stores a matrix as CSR when at least this fraction of its entries is exactly +0.0.
SPARSE_AUTO_FRACTION = 0.5

#: Fractional bits of the gates r, z and the candidate n: values in [-1, 1] are integers in [-4096, 4096].
FRAC_GATE = 12
GATE_ONE = 1 << FRAC_GATE
#: 24-bit signed range of pre-activations, states and graded messages.
INT24_MIN = -(1 << 23)
INT24_MAX = (1 << 23) - 1
#: Lava's fixed-point Dense sends its output on an int32 port.
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
#: Weight mantissas are 8-bit signed, symmetric (-128 is excluded: Lava clips an all-non-positive
#: matrix to [-255, 0], which would change 2 * -128); the Lava integer weight is 2 * mantissa
#: (even, in [-254, 254]).
MANTISSA_MIN, MANTISSA_MAX = -127, 127
#: Loihi's range of the Dense ``weight_exp``.
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -8, 7
#: Largest fractional-bit count a spec may hold.
FRAC_LIMIT = 23
#: Sanity bound on weight scale exponents: they are in [-EXP_LIMIT, EXP_LIMIT].
EXP_LIMIT = 64
#: The overflow counters an EGRU neuron keeps: gate pre-activations, candidate state c~,
#: state after reset (in this order: the Lava neuron's ``overflow`` Var).
EGRU_OVERFLOW_KEYS = ("preact", "candidate", "state")
#: Overflow counter names: network input quantisation, Dense output wrapped to int32,
#: the EGRU neuron's (:data:`EGRU_OVERFLOW_KEYS`), dense-layer output.
OVERFLOW_KEYS = ("input", "dense", *EGRU_OVERFLOW_KEYS, "output")


def __getattr__(name: str):
    # Deprecated names, kept for one release. MODEL_CLASSES named the snnTorch side's classes,
    # which the hub no longer knows: the tuple is the value it had, frozen here until removal.
    if name == "MODEL_CLASSES":
        warnings.warn("egru_format.MODEL_CLASSES is deprecated and will be removed: the snnTorch side's class "
                      "names are converters.snntorch_bridge.MODEL_CLASSES", DeprecationWarning, stacklevel=2)
        return ("EGRU", "EGRULanguageModel")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
