r"""A neuromorphic resource estimate of a network file: neurons, synapses, memory, events, cores.

:func:`resource_report` counts, per layer of a :class:`egru_format.NetworkSpec`:

- neurons (a dense layer's outputs, an EGRU layer's H units) and nonzero synapses (its weight
  matrices' nonzero entries; an EGRU layer has ``W_ih`` [3H, in] and ``W_hh`` [3H, H]);
- synaptic memory at the file's weight precision, as the file stores each matrix: a dense matrix
  ``rows * cols * w`` bits; a CSR matrix ``nnz * (w + i) + (rows + 1) * 32`` bits, with ``w`` the
  weight width (32 for float32; :data:`FIXED_POINT_WEIGHT_BITS` for a quantised file) and ``i``
  the column index width (16 bits up to 65536 columns, else 32); biases ``w`` bits each;
- neuron state: per EGRU unit c, y and the threshold; per dense output its value (32 bits each
  in float, :data:`FIXED_POINT_STATE_BITS` in fixed point);
- events per step: measured by the caller (:func:`measured_events`) or given as an activity;
- an estimate of Loihi 2 neuro cores and chips and of SpiNNaker2 processing elements (PEs) and
  chips: a layer's neurons and their incoming synapses and state are placed together, so a
  layer needs ``max(ceil(neurons / neurons per core), ceil(bytes / memory per core))`` cores,
  and the chips follow from the cores per chip. This is an **estimate** from public per-core
  limits (:data:`LOIHI2`, :data:`SPINNAKER2`, each with its source), not a mapping by either
  vendor's compiler: routing tables, axon memory, microcode and the host's share are left out,
  so real deployments need more.

Example::

    >>> import numpy as np
    >>> from egru_format import DenseLayer, EGRULayer, InputLayer, NetworkSpec
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    >>> spec = NetworkSpec([InputLayer(4), EGRULayer(f32(24, 4), f32(24, 8), f32(24), f32(24),
    ...                     np.full(8, 0.1, np.float32)), DenseLayer(f32(3, 8), f32(3))])
    >>> report = resource_report(spec)
    >>> [(row.name, row.neurons, row.synapses) for row in report.layers]
    [('layer/1 egru', 8, 288), ('layer/2 dense', 3, 24)]
    >>> report.layers[0].synapse_bytes                # (24*4 + 24*8) * 4 bytes + 48 biases * 4 bytes
    1344
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from egru_format import DenseLayer, EGRULayer, InputLayer, NetworkSpec

__all__ = ["HardwareLimits", "LOIHI2", "SPINNAKER2", "PLATFORMS", "LayerResources", "ResourceReport",
           "resource_report", "measured_events", "format_report", "FIXED_POINT_WEIGHT_BITS",
           "FIXED_POINT_STATE_BITS", "FLOAT_BITS", "ROW_POINTER_BITS"]

#: Bits of a float32 weight or state value.
FLOAT_BITS = 32
#: Bits of a quantised weight: the 8-bit signed mantissa of docs/fixed-point.md (the shared
#: ``weight_exp`` is per matrix, not per synapse).
FIXED_POINT_WEIGHT_BITS = 8
#: Bits of a quantised state or message (c, y, thresholds, pre-activations: 24-bit signed).
FIXED_POINT_STATE_BITS = 24
#: Bits of a CSR row pointer.
ROW_POINTER_BITS = 32


@dataclass(frozen=True)
class HardwareLimits:
    """Per-core limits of a neuromorphic chip, as its maker published them (``source``)."""

    name: str
    core_name: str
    neurons_per_core: Optional[int]
    memory_bytes_per_core: int
    cores_per_chip: int
    source: str


#: Intel Loihi 2: 128 neuro cores per chip; up to 8192 neurons per core (1 M per chip); 192 KB
#: of memory per neuro core shared by synapses, neuron state and routing.
LOIHI2 = HardwareLimits(
    "Loihi 2", "neuro cores", neurons_per_core=8192, memory_bytes_per_core=192 * 1024, cores_per_chip=128,
    source="Intel Labs, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', technology brief "
           "(2021): 128 neuro cores per chip, up to 1 M neurons (8192 per core), 192 KB memory per core")
#: SpiNNaker2: 152 processing elements (ARM Cortex-M4F) per chip, 128 KB of local SRAM each; the
#: number of neurons per PE is set by software, so memory is the only per-PE limit here.
SPINNAKER2 = HardwareLimits(
    "SpiNNaker2", "processing elements", neurons_per_core=None, memory_bytes_per_core=128 * 1024,
    cores_per_chip=152,
    source="Hoeppner et al., 'The SpiNNaker 2 processing element architecture for hybrid digital "
           "neuromorphic computing', arXiv:2103.08392 (2021): 152 PEs per chip, 128 kB SRAM per PE")
PLATFORMS = (LOIHI2, SPINNAKER2)


@dataclass
class LayerResources:
    """One layer's counts (see the module docstring for how each is computed)."""

    name: str
    neurons: int
    synapses: int
    synapse_bytes: int
    state_bytes: int
    events_per_step: Optional[float] = None
    cores: dict = field(default_factory=dict)

    @property
    def memory_bytes(self) -> int:
        return self.synapse_bytes + self.state_bytes


@dataclass
class ResourceReport:
    layers: list
    quantized: bool
    events_source: Optional[str] = None

    def chips(self, platform: HardwareLimits) -> int:
        """Chips of ``platform`` for the summed cores of every layer (a layer never shares a core)."""
        return math.ceil(sum(layer.cores[platform.name] for layer in self.layers) / platform.cores_per_chip)


def _nonzero(matrix: np.ndarray) -> int:
    return int(np.count_nonzero(matrix))


def _matrix_bits(matrix: np.ndarray, sparse: bool, weight_bits: int) -> int:
    rows, cols = matrix.shape
    if not sparse:
        return rows * cols * weight_bits
    index_bits = 16 if cols <= 1 << 16 else 32
    return _nonzero(matrix) * (weight_bits + index_bits) + (rows + 1) * ROW_POINTER_BITS


def _cores(neurons: int, memory_bytes: int, platform: HardwareLimits) -> int:
    by_memory = math.ceil(memory_bytes / platform.memory_bytes_per_core)
    by_neurons = math.ceil(neurons / platform.neurons_per_core) if platform.neurons_per_core else 0
    return max(1, by_memory, by_neurons)


def resource_report(spec: NetworkSpec, events_per_step: Optional[Sequence[Optional[float]]] = None,
                    events_source: Optional[str] = None,
                    platforms: Sequence[HardwareLimits] = PLATFORMS) -> ResourceReport:
    """The per-layer counts of ``spec`` (its non-input layers), with ``events_per_step`` per layer
    (None where not measured) and the core estimate for each of ``platforms``."""
    quantized = spec.quantized
    weight_bits = FIXED_POINT_WEIGHT_BITS if quantized else FLOAT_BITS
    state_bits = FIXED_POINT_STATE_BITS if quantized else FLOAT_BITS
    rows = []
    for k, layer in enumerate(spec.layers):
        if isinstance(layer, InputLayer):
            continue
        name = f"layer/{k} {layer.type}"
        if isinstance(layer, EGRULayer):
            matrices = {"weight_ih": layer.weight_ih, "weight_hh": layer.weight_hh}
            biases = [b for b in (layer.bias_ih, layer.bias_hh) if b is not None]
            neurons, state = layer.hidden_size, 3 * layer.hidden_size          # c, y, threshold
        elif isinstance(layer, DenseLayer):
            matrices = {"weight": layer.weight}
            biases = [layer.bias] if layer.bias is not None else []
            neurons, state = int(layer.weight.shape[0]), int(layer.weight.shape[0])
        else:
            raise TypeError(f"{name}: no resource model for a {type(layer).__name__}")
        bits = sum(_matrix_bits(m, f"layer/{k}/{key}" in spec.sparse_matrices, weight_bits)
                   for key, m in matrices.items())
        bits += sum(b.size for b in biases) * state_bits
        rows.append(LayerResources(name, neurons, sum(_nonzero(m) for m in matrices.values()), math.ceil(bits / 8),
                                   math.ceil(state * state_bits / 8)))
    if events_per_step is not None:
        events = list(events_per_step)
        if len(events) != len(rows):
            raise ValueError(f"events_per_step has {len(events)} entries for {len(rows)} layers")
        for row, value in zip(rows, events):
            row.events_per_step = value
    for row in rows:
        row.cores = {p.name: _cores(row.neurons, row.memory_bytes, p) for p in platforms}
    return ResourceReport(rows, quantized, events_source)


def measured_events(path, inputs: np.ndarray) -> list:
    """Events per step of every non-input layer of the network file ``path`` on ``inputs`` (token ids [T]
    or features [T, I]), measured with the torch model the file describes at batch 1: an EGRU layer's
    nonzero graded events, a dense layer's nonzero outputs, each averaged over the T steps."""
    import torch

    from converters.snntorch_bridge import load_snntorch, stack_from_spec
    from egru_format import read_network

    spec = read_network(path)
    x = torch.as_tensor(np.asarray(inputs))
    with torch.no_grad():
        if spec.model.get("class") == "EGRULanguageModel":
            model = load_snntorch(path).eval()
            embedded = model.embedding(x.long().view(-1, 1))
            y, _ = model.rnn(embedded)
            outputs = [embedded, *model.rnn.last_events, model.readout(y)]
        elif spec.model.get("class") == "EGRU":
            model = load_snntorch(path).eval()
            model(x.float().view(x.shape[0], 1, -1))
            outputs = list(model.last_events)
        else:
            rnn, readout = stack_from_spec(spec, source=path)
            y, _ = rnn.eval()(x.float().view(x.shape[0], 1, -1))
            outputs = [*rnn.last_events, readout(y)]
    steps = x.shape[0]
    return [float(torch.count_nonzero(o)) / steps for o in outputs]


def _size(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes}"


def format_report(report: ResourceReport, platforms: Sequence[HardwareLimits] = PLATFORMS) -> str:
    """The report as a Markdown table, its totals, the platforms' limits and sources, and the caveat."""
    precision = (f"fixed point ({FIXED_POINT_WEIGHT_BITS}-bit weights, {FIXED_POINT_STATE_BITS}-bit state)"
                 if report.quantized else f"float32 ({FLOAT_BITS}-bit weights and state)")
    head = ["layer", "neurons", "nonzero synapses", "synaptic memory", "state memory", "events/step"]
    head += [f"{p.name} {p.core_name}" for p in platforms]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report.layers:
        events = "-" if row.events_per_step is None else f"{row.events_per_step:.1f}"
        cells = [row.name, f"{row.neurons:,}", f"{row.synapses:,}", _size(row.synapse_bytes), _size(row.state_bytes),
                 events] + [str(row.cores[p.name]) for p in platforms]
        lines.append("| " + " | ".join(cells) + " |")
    total = [sum(r.neurons for r in report.layers), sum(r.synapses for r in report.layers),
             sum(r.synapse_bytes for r in report.layers), sum(r.state_bytes for r in report.layers)]
    events = [r.events_per_step for r in report.layers]
    event_total = "-" if any(e is None for e in events) else f"{sum(events):.1f}"
    lines.append("| total | " + " | ".join([f"{total[0]:,}", f"{total[1]:,}", _size(total[2]), _size(total[3]),
                                             event_total] + [str(sum(r.cores[p.name] for r in report.layers))
                                                             for p in platforms]) + " |")
    out = [f"precision: {precision}"]
    if report.events_source:
        out.append(f"events per step measured on {report.events_source}")
    out += ["", *lines, ""]
    for p in platforms:
        limit = f"{p.neurons_per_core} neurons, " if p.neurons_per_core else ""
        out.append(f"{p.name}: {report.chips(p)} chip(s) of {p.cores_per_chip} {p.core_name} ({limit}"
                   f"{p.memory_bytes_per_core // 1024} KiB per core); source: {p.source}")
    out.append("This is an estimate from published per-core limits (a layer's neurons with their incoming synapses "
               "and state on its own cores), not a vendor compiler's mapping: routing, axon tables, microcode and "
               "host resources are not counted.")
    return "\n".join(out)
