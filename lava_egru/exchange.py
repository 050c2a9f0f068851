"""Read a Lava EGRU network's current parameters back into the format, and export them.

:func:`network_spec` reads every weight, bias and threshold from the blocks' Vars
(``Var.get()``: the live values while the network's runtime is started and not
running, the initial values if it never ran) and returns a
:class:`egru_format.NetworkSpec`; :func:`export` writes it with
:func:`egru_format.write_network`. Lava returns float64 from a live runtime:
the values are cast back to float32, which is exact for values that came from a
float32 file. What Lava does not hold (the ``model`` metadata, ``min_threshold``,
the surrogate, which biases are absent) is taken from the spec the network was
built from, so torch -> file -> Lava -> file gives identical arrays. The spec's
``sparse_matrices`` names the network's ``Sparse`` synapses, so
``EGRUNetwork(network_spec(network), precision=...)`` has the same synapses (this is
how :func:`lava_egru.simulate` runs a network in the precision it was not built for,
without a file).

A ``fixed_pt`` network's blocks hold integers (docs/fixed-point.md): a Var whose
integers still equal those the file's float parameters quantise to gives back the
file's float array (so the round trip stays identical); a changed one is
dequantised (``2k * 2**(s - 1)`` for weights, ``q / 2**F`` for biases and
thresholds), which quantises back to the same integers. The ``quantization``
groups are kept.

Example::

    >>> import os, tempfile
    >>> import numpy as np
    >>> from egru_format import EGRULayer, InputLayer, NetworkSpec, read_network, write_network
    >>> from lava_egru import EGRUNetwork, export, network_spec
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> weight_hh = np.where(rng.random((12, 4)) < 0.2, f32(12, 4), 0)  # pruned: stored as CSR
    >>> spec = NetworkSpec([InputLayer(3), EGRULayer(f32(12, 3), weight_hh, f32(12), None,
    ...                                              np.full(4, 0.1, np.float32))], {"class": "EGRU"})
    >>> folder = tempfile.mkdtemp()
    >>> net = EGRUNetwork(write_network(spec, os.path.join(folder, "in.h5")))
    >>> net.sparse_weights
    {(1, 'weight_ih'): False, (1, 'weight_hh'): True}
    >>> read_network(export(net, os.path.join(folder, "out.h5"))).layers == spec.layers
    True
    >>> sorted(network_spec(net).sparse_matrices)
    ['layer/1/weight_hh']
"""

from __future__ import annotations

import dataclasses
import os
import typing as ty
from pathlib import Path

import numpy as np
import scipy.sparse
from egru_format import (
    SPARSE_AUTO_FRACTION,
    DenseLayer,
    EGRULayer,
    NetworkSpec,
    write_network,
    zero_fraction,
)

from lava_egru.proc.network.process import EGRUNetwork

__all__ = ["network_spec", "export", "storage_option"]

SparseOption = ty.Union[str, bool]


def network_spec(network: EGRUNetwork) -> NetworkSpec:
    """The network's current parameters as a :class:`~egru_format.NetworkSpec` (float32)."""
    if not isinstance(network, EGRUNetwork):
        raise TypeError(f"expected a lava_egru EGRUNetwork, got {type(network).__name__}")
    if getattr(network, "fixed_point", None) is not None:
        return _fixed_point_spec(network)
    layers = []
    for block, layer in zip(network.layers, network.spec.layers):
        if isinstance(layer, DenseLayer):
            layer = dataclasses.replace(
                layer,
                weight=_read(block.weight),
                bias=None if layer.bias is None else _read(block.bias),
            )
        elif isinstance(layer, EGRULayer):
            layer = dataclasses.replace(
                layer,
                weight_ih=_read(block.weight_ih),
                weight_hh=_read(block.weight_hh),
                bias_ih=None if layer.bias_ih is None else _read(block.bias_ih),
                bias_hh=None if layer.bias_hh is None else _read(block.bias_hh),
                threshold=_read(block.threshold),
            )
        else:
            layer = dataclasses.replace(layer)
        layers.append(layer)
    return NetworkSpec(layers, dict(network.spec.model), _sparse_matrices(network))


def _sparse_matrices(network: EGRUNetwork) -> frozenset:
    """The ``sparse_matrices`` of the network's ``Sparse`` synapses (``"layer/k/name"``)."""
    return frozenset(f"layer/{k}/{name}" for (k, name), is_sparse in network.sparse_weights.items() if is_sparse)


def storage_option(network: EGRUNetwork, spec: ty.Optional[NetworkSpec] = None) -> ty.Optional[SparseOption]:
    """The ``sparse`` option of :func:`~egru_format.write_network` that stores exactly
    the network's Sparse synapses as CSR (``"auto"``, ``True`` or ``False``), or None if
    no option does (a file with a hand-picked mix)."""
    spec = network_spec(network) if spec is None else spec
    matrices = {(k, name): getattr(spec.layers[k], name) for k, name in network.sparse_weights}
    for option in ("auto", True, False):
        stored_as_csr = {
            key: option is True or (option == "auto" and zero_fraction(matrix) >= SPARSE_AUTO_FRACTION)
            for key, matrix in matrices.items()
        }
        if stored_as_csr == network.sparse_weights:
            return option
    return None


def export(network: EGRUNetwork, path: ty.Union[str, os.PathLike], *, sparse: SparseOption = "keep") -> Path:
    """Write the network's current parameters to the format file ``path`` (atomically).

    ``sparse="keep"`` (default) stores as CSR exactly the matrices that are Lava
    ``Sparse`` synapses; it raises ``ValueError`` for a mix no ``write_network`` option
    reproduces (then pass ``"auto"``, ``True`` or ``False`` explicitly, as for
    :func:`~egru_format.write_network`). Returns the path.
    """
    spec = network_spec(network)
    if sparse == "keep":
        sparse = storage_option(network, spec)
        if sparse is None:
            raise ValueError(
                f"no write_network option stores exactly these matrices as CSR: "
                f"{sorted(key for key, is_sparse in network.sparse_weights.items() if is_sparse)}; "
                f"pass sparse='auto', True or False"
            )
    return write_network(spec, path, sparse=sparse)


def _fixed_point_spec(network: EGRUNetwork) -> NetworkSpec:
    """:func:`network_spec` of a fixed-point network (integer Vars; see the module docstring)."""

    def value(var, integers, original, exp: int):
        current = _read_int(var)
        if integers is None:
            integers = np.zeros_like(current)
        if original is not None and np.array_equal(current, integers):
            return original
        return np.ldexp(current.astype(np.float64), exp).astype(np.float32)

    layers = []
    for block, layer, fixed in zip(network.layers, network.spec.layers, network.fixed_point):
        if isinstance(layer, DenseLayer):
            s = layer.quantization.scale_exp
            layer = dataclasses.replace(
                layer,
                weight=value(block.weight, fixed.weight, layer.weight, s - 1),
                bias=None if layer.bias is None else value(block.bias, fixed.bias, layer.bias, -fixed.frac_state),
            )
        elif isinstance(layer, EGRULayer):
            q = layer.quantization
            fa, fc = fixed.frac_preact, fixed.frac_state
            layer = dataclasses.replace(
                layer,
                weight_ih=value(block.weight_ih, fixed.weight_ih, layer.weight_ih, q.scale_exp_ih - 1),
                weight_hh=value(block.weight_hh, fixed.weight_hh, layer.weight_hh, q.scale_exp_hh - 1),
                bias_ih=None if layer.bias_ih is None else value(block.bias_ih, fixed.bias_ih, layer.bias_ih, -fa),
                bias_hh=None if layer.bias_hh is None else value(block.bias_hh, fixed.bias_hh, layer.bias_hh, -fa),
                threshold=(value(block.threshold, fixed.threshold, layer.threshold, -fc) if layer.events
                           else layer.threshold),
            )
        else:
            layer = dataclasses.replace(layer)
        layers.append(layer)
    return NetworkSpec(layers, dict(network.spec.model), _sparse_matrices(network))


def _read_int(var) -> np.ndarray:
    """A fixed-point Var as int64 (Lava returns float64; the integers are exact below 2**53)."""
    value = _read_raw(var)
    return np.rint(value).astype(np.int64)


def _read_raw(var) -> np.ndarray:
    try:
        value = var.get()
    except RuntimeError as exc:
        raise RuntimeError(
            f"cannot read {var.process.name}.{var.name}: {exc}. Lava can read Vars only while the "
            f"runtime is started (before stop()) or before the network has run"
        ) from exc
    if value is None:
        raise RuntimeError(f"cannot read {var.process.name}.{var.name} while the network runs: pause() or wait() first")
    if scipy.sparse.issparse(value):
        value = value.toarray()
    return np.asarray(value, dtype=np.float64)


def _read(var) -> np.ndarray:
    """A float Var as float32 (the values came from float32 arrays, so float64 -> float32 is exact)."""
    return _read_raw(var).astype(np.float32)
