"""Calibration (snntorch_egru.quantization.calibration, ``calibrate``): the formats it picks, and errors that name
the layer and the value."""

from __future__ import annotations

import pytest
import torch

from snntorch_egru import EGRU, EGRULanguageModel
from snntorch_egru.quantization import QuantizationError, calibrate


def test_calibration_rule():
    torch.manual_seed(9)
    lm = EGRULanguageModel(20, 8, [10, 8], tie_weights=True, threshold=0.05)
    tokens = torch.randint(0, 20, (30, 4))
    q = calibrate(lm, tokens)
    for exps in q.weight_exps():
        assert all(-8 <= e <= 7 for e in exps.values())
    for layer in q.layers:
        assert layer.frac_state <= 16
    # the biggest embedding weight stays below 2**22 in the embedding's format
    emb = q.layers[0]
    assert float(lm.embedding.weight.detach().abs().max()) * 2**emb.frac_state < 2**22
    # the readout's tied weight has the embedding's scale
    assert q.layers[-1].scale_exp == emb.scale_exp
    # max_frac caps every format
    small = calibrate(lm, tokens, max_frac=10)
    assert all(layer.frac_state <= 10 for layer in small.layers)


def test_calibration_lowers_formats_for_weight_exp():
    torch.manual_seed(10)
    rnn = EGRU(2, 4, threshold=0.05)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(1e-2)          # tiny recurrent weights: s_hh very negative
    q = calibrate(rnn, torch.randn(8, 2, 2))
    layer = q.layers[0]
    assert layer.weight_exp_hh == -8 and layer.frac_preact - layer.frac_state >= 2


def test_calibration_errors_name_layer_and_value():
    torch.manual_seed(11)
    rnn = EGRU(2, [4, 3], threshold=0.05, min_threshold=1e-12)
    with torch.no_grad():
        rnn.threshold_l1[2] = 1e-9
    with pytest.raises(QuantizationError, match=r"l1\.frac_state.*threshold 1e-09"):
        calibrate(rnn, torch.randn(8, 2, 2))
    rnn2 = EGRU(2, 4, threshold=0.05)
    with torch.no_grad():
        rnn2.weight_hh_l0.mul_(1e-5)         # weight_exp would need F_a - F_c >= 20
    with pytest.raises(QuantizationError, match=r"l0\.frac_state.*l0\.weight_hh: weight_exp"):
        calibrate(rnn2, torch.randn(8, 2, 2))
    rnn3 = EGRU(2, 4, threshold=0.05)
    with torch.no_grad():
        rnn3.bias_ih_l0[1] = 1e7
    with pytest.raises(QuantizationError, match=r"l0: max \|pre-activation\| = 1e\+07"):
        calibrate(rnn3, torch.randn(8, 2, 2))


def test_calibration_covers_negative_states_of_the_signed_neuron():
    """A signed-event layer whose candidates are all negative (n ~ -1): F_c is set by max |c~| over the negative
    states (a positive-only range would be the threshold's and allow F_c = 23, which puts c~ ~ -1 next to the 24-bit
    limit); the integer model then runs without saturation and sends the negative events."""
    from snntorch_egru.quantization import to_integer
    from snntorch_egru.quantization.calibration.constrain import frac_upper
    from snntorch_egru.quantization.calibration.observe import observe

    torch.manual_seed(24)
    rnn = EGRU(2, 3, threshold=0.01, reset_mechanism="none", polarity="signed")
    with torch.no_grad():
        rnn.weight_hh_l0.zero_()
        rnn.weight_ih_l0.mul_(0.1)
        rnn.bias_hh_l0.zero_()
        rnn.bias_ih_l0.copy_(torch.tensor([0.0] * 6 + [-3.0] * 3))     # a_n ~ -3: n ~ -1, c~ < 0 throughout
    x = torch.randn(20, 2, 2)
    with torch.no_grad():
        y, _ = rnn(x)          # reset "none", theta 0.01: y = c~ wherever it fires, and it fires almost always
    assert float(y.max()) < 0 and float(y.min()) < -0.9
    state = observe(rnn, x).layers["l0"]["state"]
    assert state == pytest.approx(-float(y.min()), rel=1e-6)                 # the negative side was recorded
    q = calibrate(rnn, x, max_frac=23)
    frac_state = q.layers[0].frac_state
    assert frac_state == frac_upper(state, 23) < frac_upper(float(rnn.threshold_l0.detach().max()), 23)
    result = to_integer(rnn, q)(x)
    assert result.overflow_total == 0
    assert int(result.output_int.max()) < 0 and int(result.output_int.min()) > -(1 << 22)   # one bit of headroom
