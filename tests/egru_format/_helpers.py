"""Helpers shared by the tests of the format (egru_format): random layers and specs, and the check that reading a
damaged file raises the FormatError that names it. numpy and h5py only (no torch)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from egru_format import DenseLayer, EGRULayer, FormatError, InputLayer, NetworkSpec, read_network


def f32(rng, *shape, sparsity: float = 0.0) -> np.ndarray:
    out = rng.standard_normal(shape).astype(np.float32)
    if sparsity:
        out[rng.random(shape) < sparsity] = 0.0
    return out


def egru_layer(rng, in_size: int, hidden: int, *, bias=True, sparsity=0.0, **kwargs) -> EGRULayer:
    return EGRULayer(
        weight_ih=f32(rng, 3 * hidden, in_size, sparsity=sparsity),
        weight_hh=f32(rng, 3 * hidden, hidden, sparsity=sparsity),
        bias_ih=f32(rng, 3 * hidden) if bias else None,
        bias_hh=f32(rng, 3 * hidden) if bias else None,
        threshold=rng.uniform(0.05, 1.0, hidden).astype(np.float32),
        **kwargs,
    )


def egru_spec(seed: int = 0, sizes=(3, 5, 4), **kwargs) -> NetworkSpec:
    rng = np.random.default_rng(seed)
    layers = [InputLayer(sizes[0])]
    for in_size, hidden in zip(sizes[:-1], sizes[1:]):
        layers.append(egru_layer(rng, in_size, hidden, **kwargs))
    return NetworkSpec(layers, {"class": "EGRU"})


def lm_spec(seed: int = 0, vocab=7, emb=4, hidden=(5, 4), tie=False) -> NetworkSpec:
    rng = np.random.default_rng(seed)
    embedding = f32(rng, emb, vocab)
    layers = [InputLayer(vocab, "tokens"), DenseLayer(embedding)]
    size = emb
    for h in hidden:
        layers.append(egru_layer(rng, size, h))
        size = h
    readout = np.ascontiguousarray(embedding.T) if tie else f32(rng, vocab, size)
    layers.append(DenseLayer(readout, f32(rng, vocab)))
    return NetworkSpec(layers, {"class": "EGRULanguageModel", "tie_weights": tie})


def expect_error(path: Path, field: str, match: str = "") -> FormatError:
    with pytest.raises(FormatError) as info:
        read_network(path)
    message = str(info.value)
    assert str(path) in message, message
    assert field in message, message
    assert match in message, message
    assert isinstance(info.value, ValueError)
    return info.value


def replace_dataset(f: h5py.File, name: str, data) -> None:
    del f[name]
    f.create_dataset(name, data=data)
