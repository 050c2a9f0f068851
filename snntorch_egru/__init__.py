"""The Event-based GRU (EGRU) as an snnTorch layer.

- :mod:`snntorch_egru.functional`: the equations as one pure step (the reference).
- :class:`EGRUCell`: one time step, an snnTorch neuron.
- :class:`EGRU`: whole sequences, ``torch.nn.GRU``'s conventions, fused kernel.
- :class:`EGRULanguageModel`: embedding -> EGRU stack -> readout, a word-level LM.
- :class:`RNNLanguageModel`: the dense LSTM/GRU baseline of the same layout.
- :mod:`snntorch_egru.surrogate`: the triangle pseudo-derivative.
- :mod:`snntorch_egru.activity`: activity statistics and regulariser.
"""

from . import activity, functional, surrogate
from .activity import ActivityStats, activity_regularizer, activity_statistics
from .baselines import RNNLanguageModel
from .cell import EGRUCell
from .functional import EGRUParameters, EGRUState, egru_step
from .language_model import EGRULanguageModel
from .layer import EGRU
from .utils import detach_hidden, reset

__all__ = [
    "EGRU", "EGRUCell", "EGRULanguageModel", "RNNLanguageModel", "EGRUParameters", "EGRUState", "egru_step",
    "reset", "detach_hidden",
    "ActivityStats", "activity_statistics", "activity_regularizer", "functional", "surrogate", "activity",
]
__version__ = "0.1.0"
