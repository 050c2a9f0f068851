"""EGRUNetwork from a spec in memory, the spec-carried storage layout, and the shared model bases.

- a network built from a spec equals the one built from the written file: same
  outputs (float and fixed point), same Sparse/Dense synapses;
- ``sparse=`` chooses the synapses ("keep" = the spec's ``sparse_matrices``);
- ``simulate`` writes and opens no file, no lava_egru module touches HDF5;
- the float and fixed ProcessModels of each neuron share an abstract base that Lava
  never selects.
"""

from __future__ import annotations

import ast
import importlib

import numpy as np
import pytest
from egru_format import (DenseLayer, DenseQuantization, EGRULayer, EGRUQuantization, InputLayer, InputQuantization,
                         NetworkSpec, read_network, write_network)
from tests.numpy_reference import random_language_model, random_vector_network
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.lava

LAVA_EGRU = REPO_ROOT / "lava_egru"


@pytest.fixture(scope="module")
def lava_egru():
    return importlib.import_module("lava_egru")


def quantized_spec(seed: int = 0) -> NetworkSpec:
    """A small quantised vector network (weights in range of 8-bit mantissas at 2**-6), half pruned."""
    rng = np.random.default_rng(seed)

    def weights(rows, cols, density=1.0):
        w = rng.uniform(-1.5, 1.5, (rows, cols)).astype(np.float32)
        return np.where(rng.random((rows, cols)) < density, w, 0).astype(np.float32)

    return NetworkSpec([
        InputLayer(3, quantization=InputQuantization(8)),
        EGRULayer(weights(12, 3), weights(12, 4, density=0.3), rng.uniform(-1, 1, 12).astype(np.float32), None,
                  np.full(4, 0.1, np.float32),
                  quantization=EGRUQuantization(frac_preact=12, frac_state=10, scale_exp_ih=-6, scale_exp_hh=-6)),
        DenseLayer(weights(2, 4), np.zeros(2, np.float32), DenseQuantization(frac_state=10, scale_exp=-6)),
    ])


def test_read_network_records_the_layout_outside_equality(tmp_path):
    spec = random_language_model(0, 12, 6, [8, 7], density=0.15)
    auto = read_network(write_network(spec, tmp_path / "auto.h5"))
    everything = read_network(write_network(spec, tmp_path / "all.h5", sparse=True))
    nothing = read_network(write_network(spec, tmp_path / "none.h5", sparse=False))
    assert auto.sparse_matrices == {f"layer/{k}/{name}" for k in (2, 3) for name in ("weight_ih", "weight_hh")}
    assert len(everything.sparse_matrices) == 6 and nothing.sparse_matrices == frozenset()
    assert auto == everything == nothing and auto.layers == spec.layers and spec.sparse_matrices == frozenset()


@pytest.mark.parametrize("sparse", [False, True, "auto"])
def test_spec_network_equals_file_network(lava_egru, tmp_path, sparse):
    spec = random_vector_network(1, 4, [7, 5], density=0.2)
    spec.layers[1].weight_ih = np.random.default_rng(5).standard_normal((21, 4)).astype(np.float32)  # not pruned
    path = write_network(spec, tmp_path / "net.h5", sparse=sparse)
    from_file = lava_egru.EGRUNetwork(path)
    from_read_spec = lava_egru.EGRUNetwork(read_network(path))
    from_memory = lava_egru.EGRUNetwork(spec, sparse=sparse)
    assert from_file.sparse_weights == from_read_spec.sparse_weights == from_memory.sparse_weights
    assert set(from_file.sparse_weights.values()) == ({True, False} if sparse == "auto" else {sparse})
    assert from_file.filename == str(path) and from_memory.filename is None
    assert from_memory.source == "<NetworkSpec>"
    assert str(from_memory) == str(from_file) and len(from_memory) == len(from_file)
    x = np.random.default_rng(2).standard_normal((15, 4))
    expected = lava_egru.simulate(from_file, x)
    np.testing.assert_array_equal(lava_egru.simulate(from_memory, x), expected)
    np.testing.assert_array_equal(lava_egru.simulate(from_read_spec, x), expected)


def test_fixed_point_spec_network_equals_file_network(lava_egru, tmp_path):
    spec = quantized_spec()
    path = write_network(spec, tmp_path / "q.h5")
    from_file, from_memory = lava_egru.EGRUNetwork(path), lava_egru.EGRUNetwork(spec, sparse="auto")
    assert from_file.precision == from_memory.precision == "fixed_pt"
    assert from_file.sparse_weights == from_memory.sparse_weights
    assert from_file.sparse_weights[(1, "weight_hh")] and not from_file.sparse_weights[(1, "weight_ih")]
    x = np.random.default_rng(3).standard_normal((20, 3))
    a = lava_egru.simulate(from_file, x, precision="fixed_pt", return_details=True)
    b = lava_egru.simulate(from_memory, x, precision="fixed_pt", return_details=True)
    np.testing.assert_array_equal(a.output_int, b.output_int)
    assert a.overflow == b.overflow and np.any(a.output_int != 0)


def test_sparse_keep_follows_the_spec_and_checks_its_names(lava_egru):
    spec = random_vector_network(0, 3, [6])
    assert not any(lava_egru.EGRUNetwork(spec).sparse_weights.values())
    spec.sparse_matrices = frozenset({"layer/1/weight_hh"})
    assert lava_egru.EGRUNetwork(spec).sparse_weights == {(1, "weight_ih"): False, (1, "weight_hh"): True}
    spec.sparse_matrices = frozenset({"layer/1/weight"})
    with pytest.raises(ValueError, match=r"layer/1/weight'\]"):
        lava_egru.EGRUNetwork(spec)
    with pytest.raises(ValueError, match="sparse must be"):
        lava_egru.EGRUNetwork(spec, sparse="csr")


def test_a_spec_is_validated_and_copied(lava_egru):
    from egru_format import FormatError

    spec = random_vector_network(0, 3, [6])
    network = lava_egru.EGRUNetwork(spec)
    spec.layers[1].threshold[:] = 5.0
    assert np.all(network.spec.layers[1].threshold != 5.0)
    spec.layers[1].threshold[0] = np.nan
    with pytest.raises(FormatError, match=r"<NetworkSpec>: layer/1/neuron/threshold"):
        lava_egru.EGRUNetwork(spec)


def test_simulate_writes_and_reads_no_file(lava_egru, tmp_path, monkeypatch):
    import egru_format
    import egru_format.io
    import h5py

    spec = random_vector_network(0, 3, [5], density=0.3)
    network = lava_egru.EGRUNetwork(write_network(spec, tmp_path / "net.h5"))
    x = np.random.default_rng(0).standard_normal((6, 3))
    expected = lava_egru.simulate(network, x)

    def refuse(*args, **kwargs):
        raise AssertionError("simulate must not touch a file")

    for module, name in [(egru_format, "write_network"), (egru_format.io, "write_network"),
                         (egru_format.io, "atomic_write"), (egru_format, "read_network"),
                         (egru_format.io, "read_network"), (h5py, "File")]:
        monkeypatch.setattr(module, name, refuse)
    np.testing.assert_array_equal(lava_egru.simulate(network, x), expected)


def test_no_lava_egru_module_touches_hdf5():
    for path in LAVA_EGRU.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "h5py" for name in names), f"{path} imports h5py"


@pytest.mark.parametrize("process, base", [
    ("egru", "AbstractPyEGRUNeuronModel"), ("identity", "AbstractPyIdentityModel"), ("one_hot", "AbstractPyOneHotModel")])
def test_models_share_an_abstract_base_lava_never_selects(process, base):
    from lava.magma.compiler.compiler_graphs import ProcGroupDiGraphs
    from lava.magma.core.model.py.type import LavaPyType
    from lava_egru.proc.abstract_models import AbstractPyNeuronModel

    models = importlib.import_module(f"lava_egru.proc.{process}.models")
    base_cls = getattr(models, base)
    concrete = [cls for cls in vars(models).values()
                if isinstance(cls, type) and cls.__module__ == models.__name__ and cls is not base_cls]
    assert len(concrete) == 2 and all(issubclass(cls, base_cls) for cls in concrete)
    assert issubclass(base_cls, AbstractPyNeuronModel)
    assert base_cls.implements_process is None and AbstractPyNeuronModel.implements_process is None
    assert sorted(tag for cls in concrete for tag in cls.tags if tag != "bit_accurate_loihi") == [
        "fixed_pt", "floating_pt"]
    for cls in concrete:
        assert all(isinstance(getattr(cls, name), LavaPyType) for name in base_cls.port_and_var_kinds)
        assert cls.implements_process is concrete[0].implements_process
    assert not any(isinstance(getattr(base_cls, name, None), LavaPyType) for name in base_cls.port_and_var_kinds)
    found = ProcGroupDiGraphs._find_proc_models_in_module(_instance(concrete[0].implements_process), models)
    assert sorted(cls.__name__ for cls in found) == sorted(cls.__name__ for cls in concrete)


def _instance(process_cls):
    """A small instance of a neuron Process (to ask Lava's discovery which models it finds)."""
    if process_cls.__name__ == "OneHot":
        return process_cls(vocab_size=2)
    if process_cls.__name__ == "EGRUNeuron":
        return process_cls(shape=(1,), threshold=0.5)
    return process_cls(shape=(1,))
