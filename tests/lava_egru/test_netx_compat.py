"""EGRUNetwork as a netx ``hdf5.Network`` user expects it, and the helpers the Lava side owns.

- the constructor takes netx's positional parameters (lava-dl 0.6.0, recorded here as
  data: lava_egru no longer imports netx), ``precision`` and ``sparse`` keyword-only; it
  sets the attributes netx's constructor sets, and an unsupported netx option with a
  value other than its default raises;
- ``converters.load_lava(path, precision, sparse=)`` reaches the network and reads the file once;
- the scipy CSR of a weight matrix (Lava ``Sparse``) is built on the Lava side, not in the format;
- the EGRU neuron's overflow counters and the bounded integer checks come from the format.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest
from egru_format import (EGRU_OVERFLOW_KEYS, OVERFLOW_KEYS, FormatError, QuantizationError, read_network,
                         write_network)
from tests.numpy_reference import random_vector_network

pytestmark = pytest.mark.lava

#: ``lava.lib.dl.netx.hdf5.Network.__init__`` of lava-dl 0.6.0: its parameters in order, with their defaults.
NETX_PARAMETERS = ["self", "net_config", "num_layers", "skip_layers", "input_message_bits", "input_shape",
                   "reset_interval", "reset_offset", "spike_exp", "sparse_fc_layer"]
NETX_DEFAULTS = {"num_layers": None, "skip_layers": 0, "input_message_bits": 0, "input_shape": None,
                 "reset_interval": None, "reset_offset": 0, "spike_exp": 6, "sparse_fc_layer": False}


@pytest.fixture(scope="module")
def process():
    return importlib.import_module("lava_egru.proc.network.process")


@pytest.fixture
def path(tmp_path):
    return write_network(random_vector_network(0, 3, [5]), tmp_path / "net.h5")


def test_signature_is_netx_then_keyword_only(process):
    ours = inspect.signature(process.EGRUNetwork.__init__).parameters
    positional = [name for name, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == NETX_PARAMETERS     # self, net_config, num_layers, skip_layers, ...
    for name in positional[2:]:
        assert ours[name].default == NETX_DEFAULTS[name], name
    assert {name for name, p in ours.items() if p.kind is p.KEYWORD_ONLY} == {"precision", "sparse"}


def test_netx_attributes(process, path):
    net = process.EGRUNetwork(path)
    for name, default in NETX_DEFAULTS.items():
        assert getattr(net, name) == default, name
    assert net.net_config is net.spec and net.filename == str(path)
    assert net.in_layer is net.layers[0] and net.out_layer is net.layers[-1] and len(net) == 2
    assert net.output_message_bits == net.out_layer.output_message_bits
    assert str(net).splitlines()[1:] != []
    assert process.EGRUNetwork(read_network(path)).net_config == read_network(path)


@pytest.mark.parametrize("name, value", [("num_layers", 1), ("skip_layers", 1), ("input_message_bits", 24),
                                         ("input_shape", (3,)), ("reset_interval", 8), ("reset_offset", 2),
                                         ("spike_exp", 0), ("num_layers", "fixed_pt"), ("skip_layers", True)])
def test_unsupported_netx_options_raise(process, path, name, value):
    with pytest.raises(NotImplementedError, match=f"netx's {name}="):
        process.EGRUNetwork(path, **{name: value})


def test_precision_is_keyword_only(process, path):
    with pytest.raises(NotImplementedError, match="keyword-only"):
        process.EGRUNetwork(path, "floating_pt")      # netx's num_layers
    assert process.EGRUNetwork(path, precision="floating_pt").precision == "floating_pt"
    assert process.EGRUNetwork(path, None, 0, 0, None, None, 0, 6, False).precision == "floating_pt"


def test_sparse_fc_layer_is_sparse_true(process, path):
    net = process.EGRUNetwork(path, sparse_fc_layer=True)
    assert net.sparse_fc_layer is True and all(net.sparse_weights.values())
    assert process.EGRUNetwork(path, sparse_fc_layer=True, sparse=True).sparse_weights == net.sparse_weights
    with pytest.raises(ValueError, match="contradicts sparse='auto'"):
        process.EGRUNetwork(path, sparse_fc_layer=True, sparse="auto")
    with pytest.raises(TypeError, match="sparse_fc_layer must be a bool"):
        process.EGRUNetwork(path, sparse_fc_layer=1)


def test_load_lava_forwards_precision_and_sparse(path, tmp_path, monkeypatch, process):
    import converters

    calls = []
    real = process.read_network
    monkeypatch.setattr(process, "read_network", lambda p: calls.append(p) or real(p))
    net = converters.load_lava(path, "floating_pt", sparse=True)
    assert type(net).__name__ == "EGRUNetwork" and net.precision == "floating_pt"
    assert all(net.sparse_weights.values()) and len(calls) == 1      # the file is read once
    assert not any(converters.load_lava(path, sparse=False).sparse_weights.values())
    with pytest.raises(FormatError, match="net.h5: layer/0/quantization: missing"):
        converters.load_lava(path, precision="fixed_pt")              # a float file
    with pytest.raises(ValueError, match="sparse must be"):
        converters.load_lava(path, sparse="csr")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"definitely not HDF5")
    with pytest.raises(FormatError, match="bad.h5"):
        converters.load_lava(bad)


def test_scipy_csr_keeps_exactly_the_stored_entries(process):
    import scipy.sparse

    m = np.array([[0, 2, 0], [-0.0, 0, 3]], np.float32)
    csr = process.scipy_csr(m)
    assert isinstance(csr, scipy.sparse.csr_matrix) and csr.nnz == 3      # -0.0 is an entry
    assert np.signbit(csr.data).tolist() == [False, True, False] and np.array_equal(csr.toarray(), m)
    integers = process.scipy_csr(m, np.array([[7, 4, 7], [6, 7, 8]], np.int64))
    assert integers.dtype == np.int64 and integers.nnz == 3
    assert integers.toarray().tolist() == [[0, 4, 0], [6, 0, 8]]
    import egru_format

    assert not hasattr(egru_format, "to_scipy_csr")


def test_overflow_counters_and_checks_come_from_the_format():
    from lava_egru.proc import checks
    from lava_egru.proc.egru import process

    assert process.EGRUNeuron(shape=(2,), threshold=0.5).overflow.shape == (len(EGRU_OVERFLOW_KEYS),)
    assert set(EGRU_OVERFLOW_KEYS) <= set(OVERFLOW_KEYS)
    with pytest.warns(DeprecationWarning, match="egru_format.EGRU_OVERFLOW_KEYS"):
        assert process.OVERFLOW_COUNTERS is EGRU_OVERFLOW_KEYS   # the former alias, for one release
    assert checks.optional_int("weight_exp", np.int64(-3), -8, 7) == -3
    with pytest.raises(QuantizationError, match=r"weight_exp must be in \[-8, 7\], got 9"):
        checks.optional_int("weight_exp", 9, -8, 7)
    with pytest.raises(ValueError, match="size must be an integer >= 1, got 0"):
        checks.checked_size("size", 0)
    with pytest.raises(ValueError, match="got True"):
        checks.checked_size("size", True)
