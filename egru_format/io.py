"""Reading and writing network files: :func:`write_network` (validated, atomic) and :func:`read_network`.

A file is built in memory and written through :func:`egru_format.atomic.atomic_write`: to a
hidden temporary file beside the target, fsynced, and moved over the target with
``os.replace``, so a reader sees the old file or the complete new one, never a torn file. Reads validate
everything (:mod:`egru_format.validation`) and raise :class:`~egru_format.errors.FormatError`
naming the file and the field.

    >>> import numpy as np, os, tempfile
    >>> from egru_format import NetworkSpec, InputLayer, EGRULayer, DenseLayer, write_network, read_network
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> spec = NetworkSpec(
    ...     layers=[InputLayer(3),
    ...             EGRULayer(f32(12, 3), f32(12, 4), f32(12), f32(12), np.full(4, 0.1, np.float32)),
    ...             DenseLayer(f32(2, 4), f32(2))],
    ...     model={"description": "EGRU + readout"})
    >>> path = write_network(spec, os.path.join(tempfile.mkdtemp(), "net.h5"))
    >>> back = read_network(path)
    >>> [layer.type for layer in back.layers], back.layers == spec.layers   # exact: dtypes, shapes, bits
    (['input', 'egru', 'dense'], True)
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Union

import h5py
import numpy as np

from .atomic import PathLike, atomic_write, target_path
from .constants import (FORMAT_NAME, FORMAT_VERSION, GATE_ORDER, POLARITIES, PRODUCER, SPARSE_AUTO_FRACTION,
                        SUPPORTED_VERSIONS)
from .csr import csr_from_dense, dense_from_csr, zero_fraction
from .errors import FormatError, QuantizationError
from .spec import (LAYER_TYPES, DenseLayer, DenseQuantization, EGRULayer, EGRUQuantization, InputLayer,
                   InputQuantization, NetworkSpec, SurrogateSpec)
from .validation import attr_value, model_key, validate_spec

__all__ = ["write_network", "read_network", "network_image"]


# --------------------------------------------------------------------------- writing


def _write_string(group: h5py.Group, name: str, value: str) -> None:
    # netx's convention: a 1-element fixed-length ASCII string dataset.
    encoded = value.encode("ascii")
    group.create_dataset(name, data=np.array([encoded], dtype=f"S{max(len(encoded), 1)}"))


def _write_matrix(group: h5py.Group, name: str, matrix: np.ndarray, sparse) -> None:
    use_csr = sparse is True or (sparse == "auto" and zero_fraction(matrix) >= SPARSE_AUTO_FRACTION)
    if not use_csr:
        group.create_dataset(name, data=np.ascontiguousarray(matrix, dtype=np.float32))
        return
    data, indices, indptr = csr_from_dense(matrix)
    sub = group.create_group(name)
    sub.attrs["sparse"] = "csr"
    sub.create_dataset("data", data=data.astype(np.float32))
    sub.create_dataset("indices", data=indices)
    sub.create_dataset("indptr", data=indptr)
    sub.create_dataset("shape", data=np.array(matrix.shape, dtype=np.int64))


_QUANTIZATION_FIELDS = {
    "input": ("frac_input",),
    "dense": ("frac_state", "scale_exp"),
    "egru": ("frac_preact", "frac_state", "frac_gate", "scale_exp_ih", "scale_exp_hh"),
}
_QUANTIZATION_CLASSES = {"input": InputQuantization, "dense": DenseQuantization, "egru": EGRUQuantization}


def _write_layer(group: h5py.Group, layer, sparse) -> None:
    _write_string(group, "type", layer.type)
    group.create_dataset("shape", data=np.array(layer.shape, dtype=np.int64))
    if layer.quantization is not None:
        quant = group.create_group("quantization")
        for name in _QUANTIZATION_FIELDS[layer.type]:
            quant.create_dataset(name, data=np.int64(getattr(layer.quantization, name)))
    if isinstance(layer, InputLayer):
        _write_string(group, "encoding", layer.encoding)
        return
    neuron = group.create_group("neuron")
    if isinstance(layer, DenseLayer):
        _write_matrix(group, "weight", layer.weight, sparse)
        if layer.bias is not None:
            group.create_dataset("bias", data=layer.bias)
        _write_string(neuron, "type", "identity")
        return
    _write_matrix(group, "weight_ih", layer.weight_ih, sparse)
    _write_matrix(group, "weight_hh", layer.weight_hh, sparse)
    for name in ("bias_ih", "bias_hh"):
        if getattr(layer, name) is not None:
            group.create_dataset(name, data=getattr(layer, name))
    _write_string(group, "gate_order", GATE_ORDER)
    _write_string(neuron, "type", "egru")
    neuron.create_dataset("threshold", data=layer.threshold)
    _write_string(neuron, "reset_mechanism", layer.reset_mechanism)
    _write_string(neuron, "polarity", layer.polarity)
    neuron.create_dataset("events", data=np.bool_(layer.events))
    neuron.create_dataset("min_threshold", data=np.float64(layer.min_threshold))
    surrogate = neuron.create_group("surrogate")
    _write_string(surrogate, "type", layer.surrogate.type)
    surrogate.create_dataset("dampening", data=np.float64(layer.surrogate.dampening))
    surrogate.create_dataset("width", data=np.float64(layer.surrogate.width))


def _write_contents(f: h5py.File, spec: NetworkSpec, model: dict, sparse) -> None:
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = np.int64(FORMAT_VERSION)
    f.attrs["producer"] = PRODUCER
    layer_root = f.create_group("layer")
    for k, layer in enumerate(spec.layers):
        _write_layer(layer_root.create_group(str(k)), layer, sparse)
    model_group = f.create_group("model")
    for key, value in model.items():
        model_group.attrs[key] = attr_value(value)


def _check_sparse(sparse) -> None:
    if not (isinstance(sparse, bool) or (isinstance(sparse, str) and sparse == "auto")):
        raise ValueError(f"sparse must be 'auto', True or False, got {sparse!r}")


def _image(spec: NetworkSpec, model: dict, sparse) -> io.BytesIO:
    """The HDF5 file of a validated ``spec``, built in memory (h5py writing to a ``BytesIO``, no file)."""
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        _write_contents(f, spec, model, sparse)
    return image


def network_image(spec: NetworkSpec, *, sparse: Union[str, bool] = "auto") -> bytes:
    """Validate ``spec`` and return the bytes of its network file (what :func:`write_network` writes).

    The HDF5 file is built in memory (h5py writing to an ``io.BytesIO``); these are the bytes
    :func:`write_network` writes.
    ``sparse`` as in :func:`write_network`; :class:`FormatError` if ``spec`` breaks the format.

        >>> import io, h5py, numpy as np
        >>> from egru_format import NetworkSpec, InputLayer, DenseLayer
        >>> image = network_image(NetworkSpec([InputLayer(2), DenseLayer(np.ones((1, 2), np.float32))]))
        >>> image[:8] == b"\\x89HDF\\r\\n\\x1a\\n", h5py.File(io.BytesIO(image), "r").attrs["format"]
        (True, 'egru-network')
    """
    _check_sparse(sparse)
    return _image(spec, validate_spec(spec), sparse).getvalue()


def write_network(spec: NetworkSpec, path: PathLike, *, sparse: Union[str, bool] = "auto") -> Path:
    """Validate ``spec`` and write it to ``path`` atomically; return the path.

    ``sparse``: ``"auto"`` stores a weight matrix as CSR when at least
    :data:`SPARSE_AUTO_FRACTION` of its entries are exactly zero; ``True`` stores every
    weight matrix as CSR, ``False`` every one dense. Values are exact either way.

    The HDF5 file is built in memory (:func:`network_image`), then written with ordinary
    file I/O to a temporary file in the same directory, fsynced and moved over ``path``
    with ``os.replace`` (:func:`~egru_format.atomic.atomic_write`): an error at any point
    leaves no partial file (and no temporary file) behind and an existing file untouched.
    Raises :class:`FormatError` if ``spec`` breaks the format (nothing is written then),
    ``FileNotFoundError`` if the directory does not exist, and ``OSError`` with
    ``errno.ENOSPC`` (``... no space left on device (PATH)``) when the disk is full: HDF5
    never writes to the disk itself, so a full disk cannot crash it.
    """
    _check_sparse(sparse)
    path = target_path(path)
    model = validate_spec(spec, source=path)
    atomic_write(path, lambda tmp: tmp.write_bytes(_image(spec, model, sparse).getbuffer()))
    return path


# --------------------------------------------------------------------------- reading


class _Reader:
    """Reads one open file into a NetworkSpec, raising FormatError on the way."""

    def __init__(self, source: str, f: h5py.File):
        self.source = source
        self.f = f
        self.version = FORMAT_VERSION
        self.sparse_matrices = set()

    def error(self, name: str, problem: str) -> FormatError:
        return FormatError(self.source, name, problem)

    def get(self, group: h5py.Group, key: str, name: str):
        if key not in group:
            raise self.error(name, "missing")
        return group[key]

    def group(self, parent: h5py.Group, key: str, name: str) -> h5py.Group:
        obj = self.get(parent, key, name)
        if not isinstance(obj, h5py.Group):
            raise self.error(name, "must be a group")
        return obj

    def dataset(self, parent: h5py.Group, key: str, name: str) -> h5py.Dataset:
        obj = self.get(parent, key, name)
        if not isinstance(obj, h5py.Dataset):
            raise self.error(name, "must be a dataset, got a group")
        return obj

    def string(self, parent: h5py.Group, key: str, name: str, *, attr_ok: bool = False) -> str:
        if attr_ok and key not in parent and key in parent.attrs:
            return self.decode(parent.attrs[key], name)
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind not in ("S", "O", "U"):
            raise self.error(name, f"must be a string, got dtype {ds.dtype}")
        value = ds[()]
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise self.error(name, f"must hold one string, got shape {value.shape}")
            value = value.reshape(-1)[0]
        return self.decode(value, name)

    def decode(self, value, name: str) -> str:
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0]
        if isinstance(value, (bytes, np.bytes_)):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise self.error(name, "is not valid UTF-8 text") from None
        if isinstance(value, (str, np.str_)):
            return str(value)
        raise self.error(name, f"must be a string, got {type(value).__name__}")

    def float_array(self, parent: h5py.Group, key: str, name: str, ndim: int, optional: bool = False):
        if optional and key not in parent:
            return None
        ds = self.dataset(parent, key, name)
        if ds.dtype != np.float32:
            raise self.error(name, f"has dtype {ds.dtype}, expected float32")
        if ds.ndim != ndim:
            raise self.error(name, f"must be {ndim}-D, got shape {ds.shape}")
        return ds[()]

    def int_array(self, parent: h5py.Group, key: str, name: str, dtypes=None) -> np.ndarray:
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind not in ("i", "u") or (dtypes is not None and ds.dtype not in dtypes):
            allowed = " or ".join(str(np.dtype(d)) for d in dtypes) if dtypes else "an integer type"
            raise self.error(name, f"has dtype {ds.dtype}, expected {allowed}")
        if ds.ndim != 1:
            raise self.error(name, f"must be 1-D, got shape {ds.shape}")
        return ds[()]

    def scalar_float(self, parent: h5py.Group, key: str, name: str) -> float:
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind != "f":
            raise self.error(name, f"has dtype {ds.dtype}, expected a float")
        if ds.shape not in ((), (1,)):
            raise self.error(name, f"must be a scalar, got shape {ds.shape}")
        return float(np.asarray(ds[()]).reshape(-1)[0])

    def scalar_bool(self, parent: h5py.Group, key: str, name: str) -> bool:
        ds = self.dataset(parent, key, name)
        if ds.shape not in ((), (1,)):
            raise self.error(name, f"must be a scalar, got shape {ds.shape}")
        value = np.asarray(ds[()]).reshape(-1)[0]
        if ds.dtype.kind == "b" or isinstance(value, np.bool_):
            return bool(value)
        if ds.dtype.kind in ("i", "u") and value in (0, 1):
            return bool(value)
        raise self.error(name, f"must be a bool (or 0/1), got {value!r} of dtype {ds.dtype}")

    def matrix(self, parent: h5py.Group, key: str, name: str) -> np.ndarray:
        obj = self.get(parent, key, name)
        if isinstance(obj, h5py.Dataset):
            return self.float_array(parent, key, name, 2)
        layout = obj.attrs.get("sparse")
        if layout is None:
            raise self.error(name, "is a group without a 'sparse' attribute (expected a dataset or sparse = 'csr')")
        layout = self.decode(layout, f"{name}.attrs['sparse']")
        if layout != "csr":
            raise self.error(f"{name}.attrs['sparse']", f"unknown sparse layout {layout!r} (expected 'csr')")
        self.sparse_matrices.add(name)
        self.no_unknown(obj, {"data", "indices", "indptr", "shape"}, name)
        data = self.float_array(obj, "data", f"{name}/data", 1)
        index_types = (np.dtype(np.int32), np.dtype(np.int64))
        indices = self.int_array(obj, "indices", f"{name}/indices", index_types)
        indptr = self.int_array(obj, "indptr", f"{name}/indptr", index_types)
        shape = self.int_array(obj, "shape", f"{name}/shape")
        if shape.shape != (2,) or (shape < 0).any():
            raise self.error(f"{name}/shape", f"must be two non-negative integers [rows, cols], got {shape.tolist()}")
        rows, cols = (int(s) for s in shape)
        if indptr.shape[0] != rows + 1:
            raise self.error(f"{name}/indptr", f"has {indptr.shape[0]} entries, expected rows + 1 = {rows + 1}")
        if indptr[0] != 0:
            raise self.error(f"{name}/indptr", f"must start at 0, got {indptr[0]}")
        steps = np.diff(indptr.astype(np.int64))
        if (steps < 0).any():
            row = int(np.argmax(steps < 0))
            raise self.error(f"{name}/indptr", f"is not monotone (decreases after row {row})")
        if data.shape[0] != indices.shape[0] or indptr[-1] != data.shape[0]:
            raise self.error(f"{name}/indptr",
                             f"ends at {indptr[-1]} but data has {data.shape[0]} and indices "
                             f"{indices.shape[0]} entries (all three must agree)")
        if indices.size and (indices.min() < 0 or indices.max() >= cols):
            raise self.error(f"{name}/indices",
                             f"index out of range [0, {cols}): min {indices.min()}, max {indices.max()}")
        if indices.size > 1:
            row_of = np.repeat(np.arange(rows), steps)
            same_row = row_of[1:] == row_of[:-1]
            if (same_row & (np.diff(indices.astype(np.int64)) <= 0)).any():
                raise self.error(f"{name}/indices", "column indices must be strictly increasing within each row")
        return dense_from_csr(data, indices, indptr, (rows, cols))

    def no_unknown(self, group: h5py.Group, allowed: set, name: str) -> None:
        unknown = sorted(set(group.keys()) - allowed)
        if unknown:
            raise self.error(f"{name}/{unknown[0]}",
                             f"unknown entry in a version-{self.version} file (allowed here: {sorted(allowed)})")

    def scalar_int(self, parent: h5py.Group, key: str, name: str) -> int:
        ds = self.dataset(parent, key, name)
        if ds.dtype.kind not in ("i", "u"):
            raise self.error(name, f"has dtype {ds.dtype}, expected an integer")
        if ds.shape not in ((), (1,)):
            raise self.error(name, f"must be a scalar, got shape {ds.shape}")
        return int(np.asarray(ds[()]).reshape(-1)[0])

    def quantization(self, group: h5py.Group, kind: str, name: str):
        """The layer's ``quantization`` group (version >= 2), or None."""
        if self.version < 2 or "quantization" not in group:
            return None
        quant = self.group(group, "quantization", f"{name}/quantization")
        fields_ = _QUANTIZATION_FIELDS[kind]
        self.no_unknown(quant, set(fields_), f"{name}/quantization")
        values = {key: self.scalar_int(quant, key, f"{name}/quantization/{key}") for key in fields_}
        try:
            return _QUANTIZATION_CLASSES[kind](**values)
        except QuantizationError as exc:
            raise self.error(f"{name}/quantization/{exc.field}", exc.problem) from None

    def neuron_entries(self) -> set:
        """The entries of an egru layer's ``neuron`` group in this file's version."""
        entries = {"type", "threshold", "reset_mechanism", "events", "min_threshold", "surrogate"}
        return entries | {"polarity"} if self.version >= 3 else entries

    def polarity(self, neuron: h5py.Group, name: str) -> str:
        """``neuron/polarity`` (version >= 3, required there); ``"positive"`` in older files."""
        if self.version < 3:
            return POLARITIES[0]
        polarity = self.string(neuron, "polarity", f"{name}/polarity")
        if polarity not in POLARITIES:
            raise self.error(f"{name}/polarity",
                             f"unknown event polarity {polarity!r} (this reader knows {list(POLARITIES)})")
        return polarity

    def allowed(self, entries: set) -> set:
        return entries | {"quantization"} if self.version >= 2 else entries

    def layer(self, k: int, group: h5py.Group):
        name = f"layer/{k}"
        kind = self.string(group, "type", f"{name}/type")
        if kind not in LAYER_TYPES:
            raise self.error(f"{name}/type", f"unknown layer type {kind!r} (expected one of {sorted(LAYER_TYPES)})")
        shape = self.int_array(group, "shape", f"{name}/shape")
        if kind == "input":
            self.no_unknown(group, self.allowed({"type", "shape", "encoding"}), name)
            if shape.shape != (1,) or shape[0] < 1:
                raise self.error(f"{name}/shape", f"must be [I] with I >= 1, got {shape.tolist()}")
            encoding = self.string(group, "encoding", f"{name}/encoding", attr_ok=True)
            layer = InputLayer(int(shape[0]), encoding, self.quantization(group, kind, name))
        elif kind == "dense":
            self.no_unknown(group, self.allowed({"type", "shape", "weight", "bias", "neuron"}), name)
            neuron = self.group(group, "neuron", f"{name}/neuron")
            self.no_unknown(neuron, {"type"}, f"{name}/neuron")
            neuron_type = self.string(neuron, "type", f"{name}/neuron/type")
            if neuron_type != "identity":
                raise self.error(f"{name}/neuron/type",
                                 f"a dense layer's neuron must be 'identity', got {neuron_type!r}")
            layer = DenseLayer(self.matrix(group, "weight", f"{name}/weight"),
                               self.float_array(group, "bias", f"{name}/bias", 1, optional=True),
                               self.quantization(group, kind, name))
        else:
            self.no_unknown(group, self.allowed({"type", "shape", "weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                                 "gate_order", "neuron"}), name)
            gate_order = self.string(group, "gate_order", f"{name}/gate_order")
            if gate_order != GATE_ORDER:
                raise self.error(f"{name}/gate_order", f"must be {GATE_ORDER!r}, got {gate_order!r}")
            neuron_name = f"{name}/neuron"
            neuron = self.group(group, "neuron", neuron_name)
            self.no_unknown(neuron, self.neuron_entries(), neuron_name)
            neuron_type = self.string(neuron, "type", f"{neuron_name}/type")
            if neuron_type != "egru":
                raise self.error(f"{neuron_name}/type", f"an egru layer's neuron must be 'egru', got {neuron_type!r}")
            surrogate_group = self.group(neuron, "surrogate", f"{neuron_name}/surrogate")
            self.no_unknown(surrogate_group, {"type", "dampening", "width"}, f"{neuron_name}/surrogate")
            surrogate = SurrogateSpec(
                self.string(surrogate_group, "type", f"{neuron_name}/surrogate/type"),
                self.scalar_float(surrogate_group, "dampening", f"{neuron_name}/surrogate/dampening"),
                self.scalar_float(surrogate_group, "width", f"{neuron_name}/surrogate/width"),
            )
            layer = EGRULayer(
                weight_ih=self.matrix(group, "weight_ih", f"{name}/weight_ih"),
                weight_hh=self.matrix(group, "weight_hh", f"{name}/weight_hh"),
                bias_ih=self.float_array(group, "bias_ih", f"{name}/bias_ih", 1, optional=True),
                bias_hh=self.float_array(group, "bias_hh", f"{name}/bias_hh", 1, optional=True),
                threshold=self.float_array(neuron, "threshold", f"{neuron_name}/threshold", 1),
                reset_mechanism=self.string(neuron, "reset_mechanism", f"{neuron_name}/reset_mechanism"),
                events=self.scalar_bool(neuron, "events", f"{neuron_name}/events"),
                min_threshold=self.scalar_float(neuron, "min_threshold", f"{neuron_name}/min_threshold"),
                surrogate=surrogate,
                quantization=self.quantization(group, kind, name),
                polarity=self.polarity(neuron, neuron_name),
            )
        return layer, shape

    def attr_value(self, value, name: str):
        if isinstance(value, (bytes, np.bytes_, str, np.str_)):
            return self.decode(value, name)
        if isinstance(value, np.generic):
            return value.item()
        return value

    def read(self) -> NetworkSpec:
        f = self.f
        if "format" not in f.attrs:
            raise self.error("/.attrs['format']", f"missing: not an {FORMAT_NAME} file")
        fmt = self.decode(f.attrs["format"], "/.attrs['format']")
        if fmt != FORMAT_NAME:
            raise self.error("/.attrs['format']", f"is {fmt!r}, expected {FORMAT_NAME!r}")
        if "format_version" not in f.attrs:
            raise self.error("/.attrs['format_version']", "missing")
        version = f.attrs["format_version"]
        if isinstance(version, np.ndarray) and version.size == 1:
            version = version.reshape(-1)[0]
        if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
            raise self.error("/.attrs['format_version']", f"must be an integer, got {version!r}")
        version = int(version)
        if version > FORMAT_VERSION:
            raise self.error("/.attrs['format_version']",
                             f"is {version}, newer than this reader supports ({FORMAT_VERSION}); "
                             f"upgrade the egru package to read it")
        if version not in SUPPORTED_VERSIONS:
            raise self.error("/.attrs['format_version']",
                             f"unknown version {version} (this reader supports {list(SUPPORTED_VERSIONS)})")
        self.version = version
        layer_root = self.group(f, "layer", "layer")
        keys = list(layer_root.keys())
        expected = [str(k) for k in range(len(keys))]
        if sorted(keys, key=lambda s: (len(s), s)) != expected:
            raise self.error("layer", f"must hold groups 0 .. n-1, got {sorted(keys)}")
        layers = []
        for k in range(len(keys)):
            group = self.group(layer_root, str(k), f"layer/{k}")
            layer, shape = self.layer(k, group)
            layers.append((layer, shape))
        model_group = self.group(f, "model", "model")
        model = {key: self.attr_value(model_group.attrs[key], model_key(key)) for key in model_group.attrs}
        spec = NetworkSpec([layer for layer, _ in layers], model, frozenset(self.sparse_matrices))
        spec.model = validate_spec(spec, source=self.source)
        for k, (layer, shape) in enumerate(layers):
            if tuple(int(s) for s in shape) != layer.shape:
                raise self.error(f"layer/{k}/shape", f"is {shape.tolist()} but the weights say {list(layer.shape)}")
        return spec


def read_network(path: PathLike) -> NetworkSpec:
    """Read and validate a network file; return its :class:`NetworkSpec`.

    Raises ``FileNotFoundError`` if ``path`` does not exist and :class:`FormatError`
    (naming the file and the field) for anything else: not an HDF5 file, a truncated
    file, a missing or newer ``format_version``, missing entries, unknown layer types,
    inconsistent shapes, bad CSR indices, NaN/Inf, non-positive thresholds, wrong dtypes.
    Matrices stored as CSR come back dense, identical to what was written; the
    returned spec's ``sparse_matrices`` names them (``"layer/k/name"``), so a reader
    can rebuild the same storage layout (the Lava side's ``Sparse`` synapses).

        >>> import numpy as np, os, tempfile
        >>> from egru_format import NetworkSpec, InputLayer, DenseLayer, write_network
        >>> pruned = np.array([[0.0, 1.5], [0.0, 0.0]], np.float32)
        >>> spec = NetworkSpec([InputLayer(2), DenseLayer(pruned)])
        >>> back = read_network(write_network(spec, os.path.join(tempfile.mkdtemp(), "net.h5")))
        >>> sorted(back.sparse_matrices), back == spec     # the layout is not part of ==
        (['layer/1/weight'], True)
    """
    if os.fspath(path) == "":
        raise ValueError("cannot read a network file from an empty path")
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"no such network file: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a network file")
    if not os.access(path, os.R_OK):
        raise PermissionError(errno.EACCES, f"cannot read the network file {path}: permission denied")
    try:
        f = h5py.File(path, "r")
    except PermissionError as exc:
        raise PermissionError(errno.EACCES, f"cannot read the network file {path}: permission denied "
                                            f"({exc})") from None
    except OSError as exc:
        if getattr(exc, "errno", None) == errno.EACCES or "Permission denied" in str(exc):
            raise PermissionError(errno.EACCES, f"cannot read the network file {path}: permission denied") \
                from None
        raise FormatError(path, "/", f"not a readable HDF5 file (truncated or not HDF5?): {exc}") from None
    try:
        with f:
            return _Reader(str(path), f).read()
    except (OSError, RuntimeError, KeyError) as exc:
        raise FormatError(path, "/", f"could not read the file (truncated or corrupt?): {exc}") from None
