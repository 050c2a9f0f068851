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
