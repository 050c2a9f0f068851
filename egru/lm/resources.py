r"""What a training run needs from the machine, checked before anything is allocated.

:func:`estimate_training_memory` counts what a run of :func:`egru.lm.trainer.train_language_model`
holds at its peak, from the settings alone (nothing is built):

- parameters (exact, :func:`parameter_count`): embedding :math:`VE`; per recurrent layer
  with input size :math:`I` and :math:`H` units, :math:`gH(I + H) + 2gH` (gates
  :math:`g = 3` for the EGRU and the GRU, 4 for the LSTM) plus :math:`H` thresholds for the
  EGRU; readout bias :math:`V` and, untied, the weight :math:`VH_{last}`. Each parameter
  costs :data:`FLOATS_PER_PARAMETER` floats: the weight, its gradient, AdamW's two moments
  and one temporary of the optimizer step;
- activations of one BPTT segment, for :math:`T` = ``bptt`` steps of :math:`B` streams (the
  batch of one rank): :data:`FLOATS_PER_UNIT` floats per step, stream and unit of the
  embedding and of every recurrent layer (the fused EGRU kernel keeps r, z, n, c~ and the
  graded output y for the backward pass; the events are recomputed) and
  :data:`FLOATS_PER_LOGIT` floats per step, stream and vocabulary entry (the logits, the
  loss's log-softmax and their two gradients).

In bytes (4 per float32):

.. math::

    M = 4\,\bigl(F_p N_{params} + T B\,(F_u (E + \textstyle\sum_k H_k) + F_l V)\bigr)

The constants were measured on the CPU (peak resident memory of a training step, glibc's
dynamic mmap threshold off): 4.3 to 4.8 floats per unit, 3.4 to 3.8 per logit, under one
float per parameter on top of the four that persist. The estimate is compared with the
memory the device has free (:func:`available_memory`); :func:`check_training_memory` refuses
a run that cannot fit with a :class:`ResourceError` naming both.

    >>> from egru.lm.trainer import LMConfig
    >>> estimate = estimate_training_memory(LMConfig(embedding_size=750, hidden_sizes=(1350, 1350, 750),
    ...                                              batch_size=64, bptt=70), 10000)
    >>> estimate.parameters, round(estimate.total_bytes / 2**30, 2)        # the PTB reference model
    (31699150, 1.61)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

__all__ = ["ResourceError", "MemoryEstimate", "parameter_count", "estimate_training_memory", "available_memory",
           "check_training_memory", "FLOATS_PER_PARAMETER", "FLOATS_PER_UNIT", "FLOATS_PER_LOGIT"]

#: Bytes of one float32.
FLOAT_BYTES = 4
#: Floats per parameter: the weight, its gradient, AdamW's two moments, one temporary of the step.
FLOATS_PER_PARAMETER = 5
#: Floats per step, stream and unit (embedding and recurrent layers) kept for the backward pass.
FLOATS_PER_UNIT = 5
#: Floats per step, stream and vocabulary entry: logits, log-softmax and their gradients.
FLOATS_PER_LOGIT = 4
#: Gates per recurrent cell type.
GATES = {"egru": 3, "gru": 3, "lstm": 4}


class ResourceError(ValueError, RuntimeError):
    """Settings this machine cannot run: a CUDA device it does not have, a model and batch larger than its
    memory. A ValueError (bad settings) and, as the allocator's errors were, a RuntimeError."""


@dataclass(frozen=True)
class MemoryEstimate:
    """The memory a training run needs at its peak (see the module docstring)."""

    parameters: int          # number of trainable parameters
    parameter_bytes: int     # parameters x FLOATS_PER_PARAMETER floats
    activation_bytes: int    # one BPTT segment's activations
    batch_size: int          # streams of one rank
    bptt: int

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes


def parameter_count(config, vocab_size: int) -> int:
    """The number of trainable parameters of the model ``config`` describes (exact; nothing is built)."""
    gates = GATES[config.rnn_type]
    count, inputs = vocab_size * config.embedding_size, config.embedding_size
    for hidden in config.hidden_sizes:
        count += gates * hidden * (inputs + hidden) + 2 * gates * hidden
        if config.rnn_type == "egru":
            count += hidden                      # the per-unit thresholds
        inputs = hidden
    count += vocab_size                          # readout bias
    if not config.tie_weights:
        count += vocab_size * inputs             # readout weight
    return int(count)


def estimate_training_memory(config, vocab_size: int, world: int = 1) -> MemoryEstimate:
    """The peak memory of a training run with ``config`` on ``vocab_size`` words, per rank of ``world``."""
    parameters = parameter_count(config, vocab_size)
    batch = max(1, config.batch_size // world)
    units = config.embedding_size + sum(config.hidden_sizes)
    per_step = FLOATS_PER_UNIT * units + FLOATS_PER_LOGIT * vocab_size
    return MemoryEstimate(parameters, parameters * FLOATS_PER_PARAMETER * FLOAT_BYTES,
                          config.bptt * batch * per_step * FLOAT_BYTES, batch, config.bptt)


def _meminfo_available() -> Optional[int]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> Optional[int]:
    """What the cgroup (v2) memory limit leaves, when there is one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None


def available_memory(device) -> int:
    """Bytes of memory ``device`` has free: a CUDA device's free memory, else the host's available memory.

    Host: ``MemAvailable`` of ``/proc/meminfo`` (the physical memory where there is no such
    file), less when a cgroup memory limit leaves less.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    candidates = [value for value in (_meminfo_available(), _cgroup_available()) if value is not None]
    if not candidates:
        candidates = [os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
    return int(min(candidates))


def _size(n: float) -> str:
    for unit, scale in (("TB", 2 ** 40), ("GB", 2 ** 30), ("MB", 2 ** 20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2 ** 10:.1f} KB"


def check_training_memory(config, vocab_size: int, device, world: int = 1,
                          available: Optional[int] = None) -> MemoryEstimate:
    """Refuse (:class:`ResourceError`) a run whose estimated memory exceeds what ``device`` has free.

    ``available``: the free bytes (default :func:`available_memory` of ``device``). Returns the estimate.

        >>> from egru.lm.trainer import LMConfig
        >>> check_training_memory(LMConfig(embedding_size=8, hidden_sizes=(8,)), 100, "cpu", available=2**20)
        Traceback (most recent call last):
        ...
        egru.lm.resources.ResourceError: training needs about 2.1 MB of memory (1,340 parameters x 5 floats for the weights, gradients and AdamW moments: 26.2 KB; activations of batch 32 x bptt 35: 2.1 MB) but cpu has 1.0 MB available: use smaller hidden_sizes, embedding_size, batch_size or bptt
    """
    estimate = estimate_training_memory(config, vocab_size, world)
    free = available_memory(device) if available is None else available
    if estimate.total_bytes > free:
        raise ResourceError(
            f"training needs about {_size(estimate.total_bytes)} of memory ({estimate.parameters:,} parameters x "
            f"{FLOATS_PER_PARAMETER} floats for the weights, gradients and AdamW moments: "
            f"{_size(estimate.parameter_bytes)}; activations of batch {estimate.batch_size} x bptt {estimate.bptt}: "
            f"{_size(estimate.activation_bytes)}) but {device} has {_size(free)} available: use smaller "
            f"hidden_sizes, embedding_size, batch_size or bptt")
    return estimate
