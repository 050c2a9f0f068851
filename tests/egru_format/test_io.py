"""Reading and writing network files (egru_format.io): round trips, the sparse (CSR) storage, and a
write_network that fails or is interrupted midway leaving the previous file or none.

numpy and h5py only (no torch): the format is shared by both sides.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import egru_format
import egru_format as fmt
from egru_format import DenseLayer, FormatError, InputLayer, NetworkSpec, SurrogateSpec, read_network, write_network
from tests.egru_format._helpers import egru_layer, egru_spec, f32, lm_spec


HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


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


def test_write_rejects_bad_sparse_argument(tmp_path):
    with pytest.raises(ValueError, match="sparse"):
        write_network(egru_spec(), tmp_path / "a.h5", sparse="yes")
    with pytest.raises(ValueError, match="sparse"):
        write_network(egru_spec(), tmp_path / "a.h5", sparse=1)


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
