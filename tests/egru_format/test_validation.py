"""Validation (egru_format.validation): a damaged or inconsistent file is a FormatError that names the file and
the field, on reading; a spec the format cannot hold is refused on writing, and nothing is written.

numpy and h5py only (no torch).
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import egru_format as fmt
from egru_format import FormatError, InputLayer, read_network, write_network
from tests.egru_format._helpers import egru_spec, expect_error, replace_dataset


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
