"""egru.hardware and ``egru resources``: counts, memory formulas, core estimates, measured events."""

import math

import numpy as np
import pytest
import torch

import converters
from egru import cli
from egru.hardware import (FIXED_POINT_WEIGHT_BITS, LOIHI2, ROW_POINTER_BITS, SPINNAKER2, HardwareLimits,
                           measured_events, resource_report)
from egru_format import DenseLayer, EGRULayer, InputLayer, NetworkSpec, read_network, write_network
from snntorch_egru import EGRULanguageModel
from tests.egru._helpers import exit_code, one_error_line


def _spec(hidden=8, inputs=4, zero_fraction=0.0, seed=0):
    rng = np.random.default_rng(seed)

    def f32(*shape):
        values = rng.standard_normal(shape).astype(np.float32)
        if len(shape) == 2 and zero_fraction:
            values[rng.random(shape) < zero_fraction] = 0.0
        return values

    return NetworkSpec([InputLayer(inputs), EGRULayer(f32(3 * hidden, inputs), f32(3 * hidden, hidden),
                                                      f32(3 * hidden), f32(3 * hidden),
                                                      np.full(hidden, 0.1, np.float32)),
                        DenseLayer(f32(3, hidden), f32(3))])


def test_dense_storage_counts_every_entry_and_csr_its_nonzeros_with_indices(tmp_path):
    spec = _spec(hidden=8, zero_fraction=0.9)
    dense = resource_report(spec).layers[0]
    path = write_network(spec, tmp_path / "net.h5", sparse=True)
    stored = read_network(path)
    assert "layer/1/weight_hh" in stored.sparse_matrices
    sparse = resource_report(stored).layers[0]
    nnz = int(np.count_nonzero(spec.layers[1].weight_ih) + np.count_nonzero(spec.layers[1].weight_hh))
    assert dense.synapses == sparse.synapses == nnz
    assert dense.synapse_bytes == (24 * 4 + 24 * 8) * 4 + 48 * 4
    expected_bits = nnz * (32 + 16) + 2 * (24 + 1) * ROW_POINTER_BITS + 48 * 32
    assert sparse.synapse_bytes == math.ceil(expected_bits / 8)
    assert dense.state_bytes == 3 * 8 * 4                       # c, y, threshold per unit, float32


def test_cores_follow_the_binding_limit():
    platform = HardwareLimits("chip", "cores", neurons_per_core=10, memory_bytes_per_core=1000, cores_per_chip=3,
                              source="test")
    report = resource_report(_spec(hidden=25), platforms=[platform])
    egru, dense = report.layers
    assert egru.cores["chip"] == max(math.ceil(25 / 10), math.ceil(egru.memory_bytes / 1000))
    assert dense.cores["chip"] == max(1, math.ceil(dense.memory_bytes / 1000))
    assert report.chips(platform) == math.ceil((egru.cores["chip"] + dense.cores["chip"]) / 3)
    # the published limits are named values with a source
    assert LOIHI2.cores_per_chip == 128 and LOIHI2.neurons_per_core == 8192 and "Loihi 2" in LOIHI2.source
    assert SPINNAKER2.cores_per_chip == 152 and SPINNAKER2.memory_bytes_per_core == 128 * 1024


def test_a_quantised_file_counts_its_weight_mantissas(tmp_path):
    from snntorch_egru.quantization import calibrate

    torch.manual_seed(0)
    model = EGRULanguageModel(20, 6, [8, 6], tie_weights=True)
    quantization = calibrate(model, torch.randint(0, 20, (30, 2)))
    from converters.snntorch_bridge import to_spec

    spec = to_spec(model, quantization=quantization)
    report = resource_report(spec)
    assert report.quantized
    egru = report.layers[1]
    assert egru.synapse_bytes == math.ceil(((24 * 6 + 24 * 8) * FIXED_POINT_WEIGHT_BITS + 48 * 24) / 8)


def test_measured_events_are_the_models_nonzero_outputs_per_step(tmp_path):
    torch.manual_seed(0)
    model = EGRULanguageModel(20, 6, [8, 6], tie_weights=True, threshold=0.05).eval()
    path = converters.export(model, tmp_path / "lm.h5")
    tokens = np.random.default_rng(1).integers(0, 20, 50)
    events = measured_events(path, tokens)
    with torch.no_grad():
        model(torch.as_tensor(tokens).view(-1, 1))
    expected = [float(torch.count_nonzero(e)) / 50 for e in model.rnn.last_events]
    assert events[1:3] == pytest.approx(expected)
    assert len(events) == 4 and 0 < events[1] < 8
    with pytest.raises(ValueError, match="events_per_step has 2 entries for 4 layers"):
        resource_report(read_network(path), [1.0, 2.0])


def test_the_command_prints_one_table_with_the_estimate_and_its_sources(tmp_path, capsys):
    torch.manual_seed(0)
    path = converters.export(EGRULanguageModel(20, 6, [8, 6], tie_weights=True), tmp_path / "lm.h5")
    np.save(tmp_path / "tokens.npy", np.arange(20))
    assert cli.main(["resources", str(path), "--input", str(tmp_path / "tokens.npy")]) == 0
    out = capsys.readouterr().out
    assert "| layer/2 egru | 8 |" in out and "Loihi 2 neuro cores" in out and "SpiNNaker2 processing elements" in out
    assert "events per step measured on" in out and "This is an estimate" in out and "source:" in out
    code, _, err = exit_code(cli.main, ["resources", str(tmp_path / "missing.h5")], capsys)
    assert code == 2
    one_error_line(err, "no such file")
