"""The HDF5 network format (egru_format): round trips, atomic writes, validation errors.

Everything here uses numpy and h5py only (no torch): the format is shared by both sides.
"""

from __future__ import annotations

import ast
import doctest
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import converters
import egru_format
import egru_format.arithmetic
import egru_format as fmt
import converters.format
from egru_format import (
    DenseLayer, EGRULayer, FormatError, InputLayer, NetworkSpec, SurrogateSpec, read_network, write_network,
)
from tests.conftest import REPO_ROOT

HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


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


@pytest.fixture
def good_file(tmp_path):
    """A valid two-layer EGRU file with every weight matrix stored as CSR."""
    path = tmp_path / "net.h5"
    write_network(egru_spec(), path, sparse=True)
    return path


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


# --------------------------------------------------------------------------- round trips


def test_round_trip_egru(tmp_path):
    spec = egru_spec()
    write_network(spec, tmp_path / "a.h5")
    back = read_network(tmp_path / "a.h5")
    assert back.layers == spec.layers
    assert back.model == {"class": "EGRU"}   # as stored: the torch side completes its own class's attributes


@pytest.mark.parametrize("tie", [False, True])
def test_round_trip_language_model(tmp_path, tie):
    spec = lm_spec(tie=tie)
    write_network(spec, tmp_path / "lm.h5")
    back = read_network(tmp_path / "lm.h5")
    assert back.layers == spec.layers
    assert back.model == {"class": "EGRULanguageModel", "tie_weights": tie}


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**16),
    sizes=st.lists(st.integers(1, 24), min_size=2, max_size=4),
    bias=st.booleans(),
    sparsity=st.sampled_from([0.0, 0.3, 0.5, 0.8, 0.95]),
    sparse=st.sampled_from(["auto", True, False]),
    reset=st.sampled_from(fmt.RESET_MECHANISMS),
    events=st.booleans(),
)
def test_round_trip_property(tmp_path_factory, seed, sizes, bias, sparsity, sparse, reset, events):
    spec = egru_spec(seed, sizes, bias=bias, sparsity=sparsity, reset_mechanism=reset, events=events,
                     min_threshold=0.01, surrogate=SurrogateSpec("triangle", 3.6, 3.6))
    path = tmp_path_factory.mktemp("rt") / "net.h5"
    write_network(spec, path, sparse=sparse)
    back = read_network(path)
    assert back.layers == spec.layers
    for a, b in zip(back.egru_layers, spec.egru_layers):  # bit for bit, also through CSR
        assert a.weight_hh.tobytes() == b.weight_hh.tobytes()
        assert a.weight_ih.dtype == np.float32


def test_negative_zero_survives_csr(tmp_path):
    spec = egru_spec(sizes=(2, 3))
    w = spec.layers[1].weight_hh
    w[:] = 0.0
    w[0, 0] = -0.0
    w[1, 2] = 1.5
    write_network(spec, tmp_path / "z.h5", sparse=True)
    back = read_network(tmp_path / "z.h5").layers[1].weight_hh
    assert np.signbit(back[0, 0]) and back.tobytes() == w.tobytes()


def test_all_zero_matrix_as_csr(tmp_path):
    spec = egru_spec(sizes=(2, 3))
    spec.layers[1].weight_hh[:] = 0.0
    write_network(spec, tmp_path / "z.h5", sparse=True)
    with h5py.File(tmp_path / "z.h5") as f:
        assert f["layer/1/weight_hh/data"].shape == (0,)
    assert read_network(tmp_path / "z.h5").layers == spec.layers


def test_reader_accepts_other_string_layouts(good_file):
    # scalar variable-length strings, and `encoding` as an attribute of the input group
    with h5py.File(good_file, "r+") as f:
        del f["layer/1/type"]
        f["layer/1"].create_dataset("type", data="egru")
        del f["layer/0/encoding"]
        f["layer/0"].attrs["encoding"] = "vector"
    assert read_network(good_file).layers == egru_spec().layers


def test_model_extra_attrs_round_trip_and_generic_stack(tmp_path):
    rng = np.random.default_rng(1)
    spec = NetworkSpec([InputLayer(3), egru_layer(rng, 3, 4), DenseLayer(f32(rng, 2, 4))],
                       {"note": "classifier", "epochs": 3, "lr": 0.5, "flag": True})
    write_network(spec, tmp_path / "g.h5")
    back = read_network(tmp_path / "g.h5")
    assert back.model == {"note": "classifier", "epochs": 3, "lr": 0.5, "flag": True}
    assert back.layers == spec.layers


def test_netx_style_strings(good_file):
    # type is a 1-element fixed-length ASCII dataset, as lava-dl netx writes and reads it
    with h5py.File(good_file) as f:
        ds = f["layer/1/type"]
        assert ds.shape == (1,) and ds.dtype.kind == "S" and ds[0] == b"egru"
        assert f.attrs["format"] == "egru-network" and int(f.attrs["format_version"]) == fmt.FORMAT_VERSION
        assert f.attrs["producer"] == fmt.PRODUCER


# --------------------------------------------------------------------------- sparse storage


def test_pruned_matrix_is_stored_as_csr_and_smaller(tmp_path):
    rng = np.random.default_rng(0)
    spec = NetworkSpec([InputLayer(64), egru_layer(rng, 64, 64, sparsity=0.9)], {"class": "EGRU"})
    write_network(spec, tmp_path / "sparse.h5")  # auto
    write_network(spec, tmp_path / "dense.h5", sparse=False)
    with h5py.File(tmp_path / "sparse.h5") as f:
        for name in ("weight_ih", "weight_hh"):
            group = f[f"layer/1/{name}"]
            assert isinstance(group, h5py.Group) and group.attrs["sparse"] == "csr"
            assert set(group) == {"data", "indices", "indptr", "shape"}
            assert group["indices"].dtype == np.int32
            assert list(group["shape"][()]) == list(getattr(spec.layers[1], name).shape)
    with h5py.File(tmp_path / "dense.h5") as f:
        assert isinstance(f["layer/1/weight_hh"], h5py.Dataset)
    sparse_size = os.path.getsize(tmp_path / "sparse.h5")
    dense_size = os.path.getsize(tmp_path / "dense.h5")
    assert sparse_size < 0.5 * dense_size, (sparse_size, dense_size)
    assert read_network(tmp_path / "sparse.h5").layers == read_network(tmp_path / "dense.h5").layers


def test_auto_threshold_keeps_dense_below_half_zeros(tmp_path):
    rng = np.random.default_rng(0)
    layer = egru_layer(rng, 10, 10)
    layer.weight_ih[:, :4] = 0.0  # 40% zeros: dense
    layer.weight_hh[:, :5] = 0.0  # 50% zeros: CSR
    write_network(NetworkSpec([InputLayer(10), layer], {"class": "EGRU"}), tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5") as f:
        assert isinstance(f["layer/1/weight_ih"], h5py.Dataset)
        assert isinstance(f["layer/1/weight_hh"], h5py.Group)


def test_csr_helpers():
    rng = np.random.default_rng(0)
    m = f32(rng, 7, 5, sparsity=0.7)
    data, indices, indptr = fmt.csr_from_dense(m)
    assert indptr[0] == 0 and indptr[-1] == len(data) == np.count_nonzero(m)
    assert fmt.dense_from_csr(data, indices, indptr, m.shape).tobytes() == m.tobytes()


def test_write_rejects_bad_sparse_argument(tmp_path):
    with pytest.raises(ValueError, match="sparse"):
        write_network(egru_spec(), tmp_path / "a.h5", sparse="yes")
    with pytest.raises(ValueError, match="sparse"):
        write_network(egru_spec(), tmp_path / "a.h5", sparse=1)


# --------------------------------------------------------------------------- atomic writes


def _interrupt_after_first_layer(monkeypatch):
    real = egru_format.io._write_layer
    calls = []

    def failing(group, layer, sparse):
        calls.append(layer)
        if len(calls) == 2:
            raise RuntimeError("simulated crash mid-write")
        real(group, layer, sparse)

    monkeypatch.setattr(egru_format.io, "_write_layer", failing)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_keeps_previous_file(tmp_path, monkeypatch, exc):
    path = tmp_path / "net.h5"
    old = egru_spec(seed=1)
    write_network(old, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise exc("simulated interruption")

    monkeypatch.setattr(egru_format.io, "_write_matrix", crash)
    with pytest.raises(exc):
        write_network(egru_spec(seed=2), path)
    assert sorted(os.listdir(tmp_path)) == ["net.h5"]  # no temporary file left
    assert path.read_bytes() == before
    assert read_network(path).layers == old.layers


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    _interrupt_after_first_layer(monkeypatch)
    with pytest.raises(RuntimeError, match="mid-write"):
        write_network(egru_spec(), tmp_path / "new.h5")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("step", ["_fsync_path", "replace"])
def test_failure_at_fsync_or_rename(tmp_path, monkeypatch, step):
    path = tmp_path / "net.h5"
    write_network(egru_spec(seed=1), path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk gone")

    if step == "replace":
        monkeypatch.setattr(egru_format.io.os, "replace", fail)
    else:
        monkeypatch.setattr(egru_format.atomic, step, fail)
    with pytest.raises(OSError, match="disk gone"):
        write_network(egru_spec(seed=2), path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["net.h5"]
    assert path.read_bytes() == before


def test_invalid_spec_writes_nothing(tmp_path):
    spec = egru_spec()
    spec.layers[1].threshold[0] = -1.0
    with pytest.raises(FormatError, match=r"layer/1/neuron/threshold"):
        write_network(spec, tmp_path / "bad.h5")
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_file_and_keeps_normal_permissions(tmp_path):
    path = tmp_path / "net.h5"
    write_network(egru_spec(seed=1), path)
    write_network(egru_spec(seed=2), path)
    assert read_network(path).layers == egru_spec(seed=2).layers
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_network(egru_spec(), tmp_path / "nowhere" / "net.h5")


# --------------------------------------------------------------------------- validation on read


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent.h5")):
        read_network(tmp_path / "absent.h5")


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("this is not an HDF5 file\n")
    expect_error(path, "/", "not a readable HDF5 file")


def test_truncated_file(tmp_path, good_file):
    data = good_file.read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "/", "truncated")


def test_wrong_format_name(good_file):
    with h5py.File(good_file, "r+") as f:
        f.attrs["format"] = "something-else"
    expect_error(good_file, "format", "egru-network")


def test_missing_format_version(good_file):
    with h5py.File(good_file, "r+") as f:
        del f.attrs["format_version"]
    expect_error(good_file, "format_version", "missing")


def test_newer_format_version(good_file):
    with h5py.File(good_file, "r+") as f:
        f.attrs["format_version"] = fmt.FORMAT_VERSION + 1
    expect_error(good_file, "format_version", "newer")


@pytest.mark.parametrize("version", [0, -1, "1", 1.0])
def test_unknown_format_version(good_file, version):
    with h5py.File(good_file, "r+") as f:
        f.attrs["format_version"] = version
    expect_error(good_file, "format_version")


@pytest.mark.parametrize("entry", ["layer/1/weight_hh", "layer/2/neuron/threshold", "layer/1/neuron/surrogate/width",
                                   "layer/2/gate_order", "layer/0/encoding", "layer/1/type", "model"])
def test_missing_entry(good_file, entry):
    with h5py.File(good_file, "r+") as f:
        del f[entry]
    expect_error(good_file, entry, "missing")


def test_missing_layer_group(good_file):
    with h5py.File(good_file, "r+") as f:
        del f["layer/1"]
    expect_error(good_file, "layer", "0 .. n-1")


def test_unknown_layer_type(good_file):
    with h5py.File(good_file, "r+") as f:
        replace_dataset(f, "layer/2/type", np.array([b"conv"]))
    expect_error(good_file, "layer/2/type", "unknown layer type 'conv'")


@pytest.mark.parametrize("version, entry", [(1, "quantization"), (fmt.FORMAT_VERSION, "calibration")])
def test_unknown_entry_in_layer(good_file, version, entry):
    # version 1 has no quantization groups; no version knows "calibration"
    with h5py.File(good_file, "r+") as f:
        f.attrs["format_version"] = version
        f.create_group(f"layer/1/{entry}")
    expect_error(good_file, f"layer/1/{entry}", f"unknown entry in a version-{version} file")


def test_unknown_root_group_is_ignored(good_file):
    with h5py.File(good_file, "r+") as f:
        f.create_group("metadata").attrs["note"] = "ignored by v1 readers"
        f.attrs["comment"] = "also ignored"
    assert read_network(good_file).layers == egru_spec().layers


def test_weight_ih_columns_mismatch(tmp_path):
    spec = egru_spec(sizes=(3, 5, 4))
    path = tmp_path / "a.h5"
    write_network(spec, path, sparse=False)
    with h5py.File(path, "r+") as f:
        replace_dataset(f, "layer/2/weight_ih", np.ones((12, 6), np.float32))
    expect_error(path, "layer/2/weight_ih", "previous layer")


def test_rows_vs_threshold_length(tmp_path):
    path = tmp_path / "a.h5"
    write_network(egru_spec(), path, sparse=False)
    with h5py.File(path, "r+") as f:
        replace_dataset(f, "layer/1/neuron/threshold", np.full(4, 0.5, np.float32))
    expect_error(path, "layer/1/neuron/threshold", "3H = 15")


def test_shape_dataset_mismatch(good_file):
    with h5py.File(good_file, "r+") as f:
        replace_dataset(f, "layer/1/shape", np.array([6]))
    expect_error(good_file, "layer/1/shape", "weights say [5]")


def test_csr_index_out_of_range(good_file):
    with h5py.File(good_file, "r+") as f:
        indices = f["layer/1/weight_hh/indices"][()]
        indices[-1] = 5  # 5 columns: valid indices are 0..4
        replace_dataset(f, "layer/1/weight_hh/indices", indices)
    expect_error(good_file, "layer/1/weight_hh/indices", "out of range")


def test_csr_indptr_not_monotone(good_file):
    with h5py.File(good_file, "r+") as f:
        indptr = f["layer/1/weight_ih/indptr"][()]
        indptr[3], indptr[4] = indptr[4], indptr[3] - 1
        replace_dataset(f, "layer/1/weight_ih/indptr", indptr)
    expect_error(good_file, "layer/1/weight_ih/indptr", "monotone")


def test_csr_inconsistent_lengths(good_file):
    with h5py.File(good_file, "r+") as f:
        replace_dataset(f, "layer/1/weight_ih/data", f["layer/1/weight_ih/data"][:-1])
    expect_error(good_file, "layer/1/weight_ih/indptr", "must agree")


def test_csr_unsorted_indices(good_file):
    with h5py.File(good_file, "r+") as f:
        indices = f["layer/2/weight_hh/indices"][()]
        indptr = f["layer/2/weight_hh/indptr"][()]
        start = indptr[0]
        indices[start], indices[start + 1] = indices[start + 1], indices[start]
        replace_dataset(f, "layer/2/weight_hh/indices", indices)
    expect_error(good_file, "layer/2/weight_hh/indices", "strictly increasing")


def test_csr_bad_shape(good_file):
    with h5py.File(good_file, "r+") as f:
        replace_dataset(f, "layer/1/weight_ih/shape", np.array([15, 3, 1]))
    expect_error(good_file, "layer/1/weight_ih/shape", "[rows, cols]")


def test_unknown_sparse_layout(good_file):
    with h5py.File(good_file, "r+") as f:
        f["layer/1/weight_ih"].attrs["sparse"] = "coo"
    expect_error(good_file, "layer/1/weight_ih", "unknown sparse layout 'coo'")


@pytest.mark.parametrize("entry", ["layer/1/bias_ih", "layer/2/neuron/threshold", "layer/1/weight_hh/data",
                                   "layer/2/weight_ih/data"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf(good_file, entry, bad):
    with h5py.File(good_file, "r+") as f:
        values = f[entry][()]
        values[0] = bad
        replace_dataset(f, entry, values)
    field = entry.rsplit("/data", 1)[0]
    expect_error(good_file, field, "NaN/Inf")


def test_nan_in_dense_weight(tmp_path):
    path = tmp_path / "a.h5"
    write_network(egru_spec(), path, sparse=False)
    with h5py.File(path, "r+") as f:
        w = f["layer/2/weight_hh"][()]
        w[1, 1] = np.nan
        replace_dataset(f, "layer/2/weight_hh", w)
    expect_error(path, "layer/2/weight_hh", "NaN/Inf")


@pytest.mark.parametrize("value", [0.0, -0.2])
def test_non_positive_threshold(good_file, value):
    with h5py.File(good_file, "r+") as f:
        theta = f["layer/1/neuron/threshold"][()]
        theta[2] = value
        replace_dataset(f, "layer/1/neuron/threshold", theta)
    expect_error(good_file, "layer/1/neuron/threshold", "> 0")


def test_threshold_below_min_threshold(good_file):
    with h5py.File(good_file, "r+") as f:
        replace_dataset(f, "layer/1/neuron/min_threshold", np.float64(2.0))
    expect_error(good_file, "layer/1/neuron/threshold", "min_threshold")


@pytest.mark.parametrize(("entry", "data"), [
    ("layer/1/bias_hh", lambda v: v.astype(np.float64)),
    ("layer/2/neuron/threshold", lambda v: v.astype(np.float16)),
    ("layer/1/weight_ih/indices", lambda v: v.astype(np.int16)),
    ("layer/1/weight_ih/data", lambda v: v.astype(np.float64)),
    ("layer/1/shape", lambda v: v.astype(np.float32)),
])
def test_wrong_dtype(good_file, entry, data):
    with h5py.File(good_file, "r+") as f:
        replace_dataset(f, entry, data(f[entry][()]))
    expect_error(good_file, entry, "dtype")


def test_wrong_dtype_dense_weight(tmp_path):
    path = tmp_path / "a.h5"
    write_network(egru_spec(), path, sparse=False)
    with h5py.File(path, "r+") as f:
        replace_dataset(f, "layer/1/weight_ih", f["layer/1/weight_ih"][()].astype(np.float64))
    expect_error(path, "layer/1/weight_ih", "float32")


@pytest.mark.parametrize(("entry", "value", "match"), [
    ("layer/1/neuron/reset_mechanism", np.array([b"reflect"]), "reset_mechanism"),
    ("layer/2/gate_order", np.array([b"zrn"]), "'rzn'"),
    ("layer/1/neuron/surrogate/type", np.array([b"sigmoid"]), "triangle"),
    ("layer/1/neuron/surrogate/width", np.float64(0.0), "> 0"),
    ("layer/2/neuron/events", np.float64(0.5), "bool"),
    ("layer/0/encoding", np.array([b"pixels"]), "vector"),
])
def test_bad_settings(good_file, entry, value, match):
    with h5py.File(good_file, "r+") as f:
        replace_dataset(f, entry, value)
    expect_error(good_file, entry, match)


def test_model_attributes_are_kept_as_stored(good_file):
    """The format does not know the torch side's classes: their names and settings are its to check
    (converters.snntorch_bridge.model_settings; tests/converters/test_snntorch_bridge.py)."""
    with h5py.File(good_file, "r+") as f:
        f["model"].attrs["class"] = "Transformer"
        f["model"].attrs["batch_first"] = "yes"
    assert read_network(good_file).model == {"class": "Transformer", "batch_first": "yes"}


def test_model_class_must_be_a_string(tmp_path):
    spec = egru_spec()
    spec.model["class"] = 3
    with pytest.raises(FormatError, match=r"model.attrs\['class'\]: must be a string"):
        write_network(spec, tmp_path / "a.h5")


# --------------------------------------------------------------------------- validation on write


def test_writer_validates_dtype(tmp_path):
    spec = egru_spec()
    spec.layers[1].weight_ih = spec.layers[1].weight_ih.astype(np.float64)
    with pytest.raises(FormatError, match=r"layer/1/weight_ih: has dtype float64, expected float32") as info:
        write_network(spec, tmp_path / "a.h5")
    assert str(tmp_path / "a.h5") in str(info.value)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s.layers.insert(1, InputLayer(3)), "layer/1/type"),
    (lambda s: s.layers.pop(0), "layer/0/type"),
    (lambda s: setattr(s.layers[2], "weight_ih", np.ones((12, 2), np.float32)), "layer/2/weight_ih"),
    (lambda s: setattr(s.layers[1], "bias_hh", np.ones(14, np.float32)), "layer/1/bias_hh"),
    (lambda s: setattr(s.layers[1], "reset_mechanism", "soft"), "layer/1/neuron/reset_mechanism"),
    (lambda s: setattr(s.layers[1], "min_threshold", 0.0), "layer/1/neuron/min_threshold"),
    (lambda s: s.model.update({"odd": {"a": 1}}), "model.attrs['odd']"),
    (lambda s: s.layers.append("dense"), "layer/3/type"),
])
def test_writer_validation(tmp_path, mutate, field):
    spec = egru_spec()
    mutate(spec)
    with pytest.raises(FormatError) as info:
        write_network(spec, tmp_path / "a.h5")
    assert field in str(info.value)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- module hygiene


def test_format_imports_only_numpy_h5py_and_stdlib():
    tops = set()
    nodes = [node for path in sorted((REPO_ROOT / "egru_format").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))]
    assert nodes
    for node in nodes:
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            tops.add(node.module.split(".")[0])
    third_party = tops - set(sys.stdlib_module_names)
    assert third_party <= {"numpy", "h5py"}, third_party


def test_importing_converters_does_not_import_torch_or_lava():
    code = ("import sys, converters, egru_format; "
            "bad = [m for m in ('torch', 'lava', 'lava_egru', 'snntorch', 'snntorch_egru') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


@pytest.mark.parametrize("module", [fmt, egru_format.constants, egru_format.errors, egru_format.csr, egru_format.integer, egru_format.spec, egru_format.fixed_point, egru_format.validation, egru_format.arithmetic, egru_format.io, converters.format], ids=lambda m: m.__name__)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_public_names():
    for name in ("FormatError", "NetworkSpec", "InputLayer", "DenseLayer", "EGRULayer", "read_network",
                 "write_network", "FORMAT_VERSION", "export", "load_snntorch", "load_lava"):
        assert hasattr(converters, name), name
    assert issubclass(FormatError, ValueError)
