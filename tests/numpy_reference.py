"""A plain numpy roll-out of an ``egru-network`` spec: the reference the Lava tests compare against.

It computes the equations of :func:`snntorch_egru.functional.egru_step` (gate order
r, z, n; reset gate after the recurrent matmul; z weighs the old state; strict
``c~ > theta``; resets "subtract", "zero", "none"; ``events=False`` a plain GRU),
with the state starting at zero, in float64 (what Lava's float models compute).
It imports numpy and the format module only, so it also runs where torch or Lava
are absent. Dense layers compute ``W x + b``; a token input is one-hot encoded.

The ``random_*`` builders make the test networks (float32 specs, optionally pruned).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from egru_format import DenseLayer, EGRULayer, InputLayer, NetworkSpec


def sigmoid(v: np.ndarray) -> np.ndarray:
    """Logistic function, without overflow for large negative inputs."""
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def egru_step(x, y, c, layer: EGRULayer):
    """One step of one layer: returns ``(y_t, c_t, c_tilde_t)`` (float64)."""
    hidden = layer.hidden_size
    gates_x = layer.weight_ih.astype(np.float64) @ x
    gates_h = layer.weight_hh.astype(np.float64) @ y
    if layer.bias_ih is not None:
        gates_x = gates_x + layer.bias_ih
    if layer.bias_hh is not None:
        gates_h = gates_h + layer.bias_hh
    x_r, x_z, x_n = gates_x[:hidden], gates_x[hidden:2 * hidden], gates_x[2 * hidden:]
    h_r, h_z, h_n = gates_h[:hidden], gates_h[hidden:2 * hidden], gates_h[2 * hidden:]
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    c_tilde = z * c + (1.0 - z) * n
    if not layer.events:
        return c_tilde, c_tilde, c_tilde
    threshold = layer.threshold.astype(np.float64)
    e = (c_tilde > threshold).astype(np.float64)
    y_t = c_tilde * e
    if layer.reset_mechanism == "subtract":
        c_t = c_tilde - e * threshold
    elif layer.reset_mechanism == "zero":
        c_t = c_tilde * (1.0 - e)
    else:
        c_t = c_tilde
    return y_t, c_t, c_tilde


@dataclass
class Rollout:
    """Outputs of every layer after the input: ``outputs[k]`` is ``[T, size]``; for EGRU
    layers ``c_tilde[k]`` holds the pre-reset state (for threshold margins)."""

    outputs: list = field(default_factory=list)
    c_tilde: dict = field(default_factory=dict)

    @property
    def last(self) -> np.ndarray:
        return self.outputs[-1]

    def activity(self, k: int) -> float:
        """Fraction of nonzero outputs of layer ``k`` (1-based index into the spec's layers)."""
        return float(np.count_nonzero(self.outputs[k - 1]) / self.outputs[k - 1].size)

    def threshold_margin(self, spec: NetworkSpec) -> float:
        """Smallest ``|c~ - theta|`` over all event layers, steps and units (inf if none)."""
        margins = [np.abs(ct - spec.layers[k].threshold).min() for k, ct in self.c_tilde.items()]
        return float(min(margins, default=np.inf))


def rollout(spec: NetworkSpec, x) -> Rollout:
    """Run ``spec`` on ``x`` (``[T, I]`` floats, or ``[T]`` token ids) step by step from the zero state."""
    first = spec.layers[0]
    x = np.asarray(x)
    if first.encoding == "tokens":
        layer_input = np.eye(first.size)[x]
    else:
        layer_input = x.astype(np.float64)
    result = Rollout()
    for k, layer in enumerate(spec.layers[1:], start=1):
        if isinstance(layer, DenseLayer):
            out = layer_input @ layer.weight.astype(np.float64).T
            if layer.bias is not None:
                out = out + layer.bias
        else:
            y = c = np.zeros(layer.hidden_size)
            rows, c_tildes = [], []
            for x_t in layer_input:
                y, c, c_tilde = egru_step(x_t, y, c, layer)
                rows.append(y)
                c_tildes.append(c_tilde)
            out = np.array(rows)
            if layer.events:
                result.c_tilde[k] = np.array(c_tildes)
        result.outputs.append(out)
        layer_input = out
    return result


# --------------------------------------------------------------------------- test networks


def random_matrix(rng: np.random.Generator, rows: int, cols: int, *, scale: float, density: float) -> np.ndarray:
    """float32 Gaussian weights of variance ``scale**2 / (cols * density)``; with ``density < 1``
    all but a ``density`` fraction of the entries are pruned to exactly +0.0."""
    weight = rng.standard_normal((rows, cols)) * scale / np.sqrt(cols * density)
    if density < 1:
        weight = np.where(rng.random((rows, cols)) < density, weight, 0.0)
    return weight.astype(np.float32)


def random_egru_layer(rng, in_size: int, hidden: int, *, scale: float = 3.0, density: float = 1.0,
                      threshold: float = 0.15, **settings) -> EGRULayer:
    """An EGRU layer with moderate activity for unit-variance inputs (scale 3, threshold 0.15
    give roughly 10-60% per layer in 1-3 layer stacks, dense or 85% pruned; the tests
    measure and assert it for the seeds they use)."""
    return EGRULayer(
        weight_ih=random_matrix(rng, 3 * hidden, in_size, scale=scale, density=density),
        weight_hh=random_matrix(rng, 3 * hidden, hidden, scale=scale, density=density),
        bias_ih=(0.1 * rng.standard_normal(3 * hidden)).astype(np.float32),
        bias_hh=(0.1 * rng.standard_normal(3 * hidden)).astype(np.float32),
        threshold=np.full(hidden, threshold, np.float32),
        **settings,
    )


def random_vector_network(seed: int, in_size: int, hidden_sizes, **layer_kwargs) -> NetworkSpec:
    """``input(vector) -> egru x len(hidden_sizes)`` (model class EGRU)."""
    rng = np.random.default_rng(seed)
    layers, size = [InputLayer(in_size)], in_size
    for hidden in hidden_sizes:
        layers.append(random_egru_layer(rng, size, hidden, **layer_kwargs))
        size = hidden
    return NetworkSpec(layers, {"class": "EGRU"})


def random_language_model(seed: int, vocab: int, embedding: int, hidden_sizes, **layer_kwargs) -> NetworkSpec:
    """``input(tokens) -> dense (embedding) -> egru x n -> dense (logits)`` (EGRULanguageModel)."""
    rng = np.random.default_rng(seed)
    layers = [InputLayer(vocab, "tokens"), DenseLayer(rng.standard_normal((embedding, vocab)).astype(np.float32))]
    size = embedding
    for hidden in hidden_sizes:
        layers.append(random_egru_layer(rng, size, hidden, **layer_kwargs))
        size = hidden
    readout = random_matrix(rng, vocab, size, scale=1.0, density=1.0)
    layers.append(DenseLayer(readout, (0.1 * rng.standard_normal(vocab)).astype(np.float32)))
    return NetworkSpec(layers, {"class": "EGRULanguageModel"})
