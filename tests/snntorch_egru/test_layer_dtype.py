"""A layer built in float64 keeps its initial thresholds in float64, not rounded through float32."""

import pytest
import torch

from snntorch_egru import EGRU


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.7])
def test_float64_layer_stores_float64_thresholds(threshold):
    rnn = EGRU(3, 4, threshold=threshold, dtype=torch.float64)
    expected = torch.tensor(threshold, dtype=torch.float64).expand(4)
    assert rnn.threshold_l0.dtype == torch.float64
    assert torch.equal(rnn.threshold_l0.detach(), expected)
    assert rnn.threshold_l0.detach()[0].item() == threshold


def test_float64_layer_per_layer_thresholds_and_buffers():
    rnn = EGRU(3, [4, 5], threshold=[0.1, 0.2], learn_threshold=False, dtype=torch.float64)
    assert torch.equal(rnn.threshold_l0, torch.full((4,), 0.1, dtype=torch.float64))
    assert torch.equal(rnn.threshold_l1, torch.full((5,), 0.2, dtype=torch.float64))


def test_default_dtype_layer_keeps_float32_thresholds():
    rnn = EGRU(3, 4, threshold=0.1)
    assert rnn.threshold_l0.dtype == torch.get_default_dtype()
    assert torch.equal(rnn.threshold_l0.detach(), torch.full((4,), 0.1))
