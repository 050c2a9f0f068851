"""EGRUNetwork from a format file: every layer becomes a block, delays are removed, export is lossless.

- (b) every layer of a file becomes a block of the right type; a layer that did
  not (as netx skips unknown types silently) is an error;
- (c) ``simulate`` removes the synapse latency: ``output[t]`` depends on ``x[..t]`` only;
- (g) file -> Lava -> file gives identical float32 arrays, CSR matrices stay CSR,
  also when read back from a live runtime (float64 Vars);
- ``converters.lava_bridge``: validation (the file read once, by the network), export hook.
"""

from __future__ import annotations

import importlib

import h5py
import numpy as np
import pytest
from egru_format import FormatError, read_network, write_network
from tests.numpy_reference import random_language_model, random_vector_network

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def lava_egru():
    return importlib.import_module("lava_egru")


@pytest.fixture
def lm_path(tmp_path):
    return write_network(random_language_model(0, 12, 6, [8, 7], density=0.15), tmp_path / "lm.h5")


def test_every_layer_becomes_a_block(lava_egru, lm_path, tmp_path):
    net = lava_egru.EGRUNetwork(lm_path)
    assert [block.layer_type for block in net.layers] == ["input", "dense", "egru", "egru", "dense"]
    assert [type(block).__name__ for block in net.layers] == [
        "InputBlock", "DenseBlock", "EGRUBlock", "EGRUBlock", "DenseBlock"]
    assert len(net) == 5 and net.latency == 4
    assert net.inp.shape == (1,) and net.out.shape == (12,)
    assert str(net).count("EGRU") == 2  # netx's layer table

    vector = lava_egru.EGRUNetwork(write_network(random_vector_network(0, 3, [5, 4]), tmp_path / "v.h5"))
    assert [block.layer_type for block in vector.layers] == ["input", "egru", "egru"]
    assert vector.inp.shape == (3,) and vector.out.shape == (4,)


def test_a_skipped_layer_is_an_error(lava_egru, lm_path):
    class SkippingNetwork(lava_egru.EGRUNetwork):
        """Drops the last block, as netx's _create drops a type it does not know."""

        def _build_blocks(self):
            return super()._build_blocks()[:-1]

    with pytest.raises(RuntimeError, match="did not all become blocks"):
        SkippingNetwork(lm_path)


def test_output_depends_on_past_inputs_only(lava_egru, tmp_path):
    net = lava_egru.EGRUNetwork(write_network(random_vector_network(2, 4, [8, 6]), tmp_path / "net.h5"))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 4))
    changed = x.copy()
    t = 5
    changed[t + 1:] = rng.standard_normal((12 - t - 1, 4))
    y, y_changed = lava_egru.simulate(net, x), lava_egru.simulate(net, changed)
    np.testing.assert_array_equal(y[: t + 1], y_changed[: t + 1])
    assert not np.array_equal(y[t + 1:], y_changed[t + 1:])
    assert np.any(y[0] != 0), "output[0] must already answer x[0] (latency removed)"


def test_token_output_depends_on_past_tokens_only(lava_egru, lm_path):
    net = lava_egru.EGRUNetwork(lm_path)
    tokens = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    changed = tokens.copy()
    changed[4:] = [0, 0, 0, 0]
    logits, logits_changed = lava_egru.simulate(net, tokens), lava_egru.simulate(net, changed)
    np.testing.assert_array_equal(logits[:4], logits_changed[:4])
    assert not np.array_equal(logits[4], logits_changed[4])


def csr_groups(path) -> dict:
    """``layer/k/name -> (data, indices, indptr)`` of every CSR-stored matrix in a file."""
    found = {}
    with h5py.File(path, "r") as f:
        for k in f["layer"]:
            for name, obj in f["layer"][k].items():
                if isinstance(obj, h5py.Group) and obj.attrs.get("sparse") is not None:
                    found[f"layer/{k}/{name}"] = tuple(obj[key][()] for key in ("data", "indices", "indptr"))
    return found


def assert_same_csr(a, b):
    assert csr_groups(a).keys() == csr_groups(b).keys()
    for key, arrays in csr_groups(a).items():
        for x, y in zip(arrays, csr_groups(b)[key]):
            assert x.dtype == y.dtype and np.array_equal(x, y), key


@pytest.mark.parametrize("sparse", [False, True, "auto"])
def test_file_lava_file_round_trip_is_lossless(lava_egru, tmp_path, sparse):
    spec = random_language_model(1, 10, 6, [8, 7], density=0.15)
    spec.layers[2].bias_hh = None
    first = write_network(spec, tmp_path / "first.h5", sparse=sparse)
    net = lava_egru.EGRUNetwork(first)
    second = lava_egru.export(net, tmp_path / "second.h5")
    assert read_network(second) == read_network(first)
    assert_same_csr(first, second)
    expected_csr = {True: 6, False: 0, "auto": 4}[sparse]  # auto: the 4 pruned EGRU matrices
    assert len(csr_groups(second)) == expected_csr


def test_round_trip_from_a_live_runtime(lava_egru, tmp_path):
    """While the runtime is started, Var.get() returns float64 from the models: cast back exactly."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer

    spec = random_vector_network(4, 3, [6], density=0.15)
    first = write_network(spec, tmp_path / "first.h5")
    net = lava_egru.EGRUNetwork(first)
    source = RingBuffer(data=np.ones((3, 4)))
    source.s_out.connect(net.inp)
    try:
        net.run(RunSteps(4), Loihi2SimCfg(select_tag="floating_pt"))
        assert net.layers[1].threshold.get().dtype == np.float64
        assert np.any(net.layers[1].c.get() != 0), "the network ran"
        second = lava_egru.export(net, tmp_path / "second.h5")
    finally:
        net.stop()
    assert read_network(second) == read_network(first)
    assert_same_csr(first, second)
    with pytest.raises(RuntimeError, match="before stop"):
        lava_egru.export(net, tmp_path / "third.h5")


def test_export_keep_refuses_a_mix_no_writer_option_reproduces(lava_egru, tmp_path):
    spec = random_vector_network(0, 3, [6], density=1.0)
    path = write_network(spec, tmp_path / "mixed.h5", sparse=False)
    with h5py.File(path, "r+") as f:  # store one mostly-nonzero matrix as CSR by hand
        weight = f["layer/1/weight_hh"][()]
        del f["layer/1/weight_hh"]
        group = f["layer/1"].create_group("weight_hh")
        group.attrs["sparse"] = "csr"
        group["data"] = weight.reshape(-1)
        group["indices"] = np.tile(np.arange(weight.shape[1], dtype=np.int32), weight.shape[0])
        group["indptr"] = np.arange(0, weight.size + 1, weight.shape[1], dtype=np.int32)
        group["shape"] = np.array(weight.shape, dtype=np.int64)
    net = lava_egru.EGRUNetwork(path)
    assert net.sparse_weights == {(1, "weight_ih"): False, (1, "weight_hh"): True}
    with pytest.raises(ValueError, match="pass sparse="):
        lava_egru.export(net, tmp_path / "out.h5")
    assert read_network(lava_egru.export(net, tmp_path / "out.h5", sparse=False)) == read_network(path)


def test_load_lava_validates(tmp_path, lm_path):
    from converters.lava_bridge import export_lava, load_lava

    net = load_lava(lm_path)
    assert type(net).__name__ == "EGRUNetwork"
    assert read_network(export_lava(net, tmp_path / "again.h5")) == read_network(lm_path)

    not_hdf5 = tmp_path / "not.h5"
    not_hdf5.write_bytes(b"definitely not HDF5")
    with pytest.raises(FormatError, match="not.h5"):
        load_lava(not_hdf5)
    with pytest.raises(FileNotFoundError):
        load_lava(tmp_path / "missing.h5")
    broken = tmp_path / "broken.h5"
    broken.write_bytes(lm_path.read_bytes())
    with h5py.File(broken, "r+") as f:
        del f["layer/2/neuron/threshold"]
    with pytest.raises(FormatError, match="threshold"):
        load_lava(broken)


def test_network_constructor_reports_format_errors_and_closes_the_file(lava_egru, tmp_path, lm_path):
    lava_egru.EGRUNetwork(lm_path)
    assert not h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE), "no HDF5 file may stay open"
    broken = tmp_path / "broken.h5"
    broken.write_bytes(lm_path.read_bytes())
    with h5py.File(broken, "r+") as f:
        f["layer/1/neuron/type"][0] = b"relu"
    with pytest.raises(FormatError, match="layer/1/neuron/type"):
        lava_egru.EGRUNetwork(broken)
    not_hdf5 = tmp_path / "not.h5"
    not_hdf5.write_bytes(b"definitely not HDF5")
    with pytest.raises(FormatError):
        lava_egru.EGRUNetwork(not_hdf5)
    with pytest.raises(FileNotFoundError):
        lava_egru.EGRUNetwork(tmp_path / "missing.h5")
