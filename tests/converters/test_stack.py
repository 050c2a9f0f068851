"""converters.snntorch_bridge.stack_to_spec / stack_from_spec: an EGRU + linear readout as a generic stack."""

from __future__ import annotations

import pytest
import torch

from converters.snntorch_bridge import load_snntorch, quantization_from_spec, stack_from_spec, stack_to_spec
from egru_format import FormatError, QuantizationError, read_network, write_network
from snntorch_egru import EGRU
from snntorch_egru import quantization as quant


def _stack(hidden=(6, 5), seed=0):
    torch.manual_seed(seed)
    rnn = EGRU(4, list(hidden), batch_first=True, threshold=0.05)
    readout = torch.nn.Linear(hidden[-1], 3)
    with torch.no_grad():
        rnn.weight_hh_l0[:, :2] = 0.0           # a pruned block: stored as CSR, read back exactly
    return rnn, readout


def _quantization(rnn, readout, x):
    q_rnn = quant.calibrate(rnn, x)
    with torch.no_grad():
        y, _ = rnn(x)
        peak = float(readout(y).abs().max())
    q_readout = quant.calibrate_dense(readout.weight, readout.bias, peak, q_rnn.output_frac, name="readout")
    return quant.QuantizationSpec(q_rnn.frac_input, (*q_rnn.layers, q_readout))


def _assert_same(rnn, readout, rnn2, readout2):
    for a, b in ((rnn, rnn2), (readout, readout2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("quantized", [False, True])
def test_round_trip_through_a_file_is_exact(tmp_path, quantized):
    rnn, readout = _stack()
    x = torch.rand(8, 7, 4)
    q = _quantization(rnn, readout, x) if quantized else None
    path = write_network(stack_to_spec(rnn, readout, q, description="test stack"), tmp_path / "stack.h5")
    spec = read_network(path)
    assert [layer.type for layer in spec.layers] == ["input", "egru", "egru", "dense"]
    assert spec.model == {"description": "test stack"} and "class" not in spec.model
    assert quantization_from_spec(spec) == q
    rnn2, readout2 = stack_from_spec(spec, str(path), batch_first=True)
    _assert_same(rnn, readout, rnn2, readout2)
    assert rnn2.batch_first and rnn2.learn_threshold and rnn2.dropout == 0.0
    with torch.no_grad():
        assert torch.equal(readout(rnn(x)[0]), readout2(rnn2(x)[0]))


def test_a_stack_is_not_an_snntorch_model(tmp_path):
    rnn, readout = _stack()
    path = write_network(stack_to_spec(rnn, readout), tmp_path / "stack.h5")
    with pytest.raises(FormatError, match="generic layer stack"):
        load_snntorch(path)


def test_another_layer_sequence_is_a_format_error_naming_the_source():
    rnn, _ = _stack()
    from converters.snntorch_bridge import to_spec

    with pytest.raises(FormatError, match=r"net\.h5: layer: expected input -> egru \.\.\. -> dense"):
        stack_from_spec(to_spec(rnn), "net.h5")


def test_bad_arguments_are_named():
    rnn, readout = _stack()
    with pytest.raises(TypeError, match="readout must be a torch.nn.Linear reading the EGRU's 5 outputs"):
        stack_to_spec(rnn, torch.nn.Linear(4, 3))
    with pytest.raises(TypeError, match="rnn must be an snntorch_egru.EGRU"):
        stack_to_spec(torch.nn.GRU(4, 5), readout)
    q = _quantization(rnn, readout, torch.rand(8, 7, 4))
    with pytest.raises(TypeError, match="3 layer formats"):
        stack_to_spec(rnn, readout, quant.QuantizationSpec(q.frac_input, q.layers[:-1]))


def test_a_readout_that_does_not_fit_its_format_is_a_quantization_error():
    rnn, readout = _stack()
    q = _quantization(rnn, readout, torch.rand(8, 7, 4))
    with torch.no_grad():
        readout.weight[0, 0] = 1e3                      # far beyond the calibrated mantissa range
    with pytest.raises(QuantizationError, match="readout"):
        stack_to_spec(rnn, readout, q)
