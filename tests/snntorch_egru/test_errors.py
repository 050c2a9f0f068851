"""Bad input gets a clear error that names the problem."""

import pytest
import torch

from snntorch_egru import EGRU, EGRUCell


@pytest.fixture
def rnn():
    return EGRU(4, 6, num_layers=2)


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4, 5)])
def test_wrong_rank(rnn, shape):
    with pytest.raises(ValueError, match="rank"):
        rnn(torch.randn(*shape))


def test_mismatched_feature_size(rnn):
    with pytest.raises(ValueError, match="input_size=4"):
        rnn(torch.randn(5, 2, 3))


def test_wrong_dtype(rnn):
    with pytest.raises(TypeError, match="dtype"):
        rnn(torch.randn(5, 2, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="dtype"):
        rnn(torch.ones(5, 2, 4, dtype=torch.int64))


def test_wrong_device(rnn):
    with pytest.raises(ValueError, match="device"):
        rnn(torch.empty(5, 2, 4, device="meta"))


def test_not_a_tensor(rnn):
    with pytest.raises(TypeError, match="torch.Tensor"):
        rnn([[1.0, 2.0]])


def test_empty_sequence(rnn):
    with pytest.raises(ValueError, match="no time steps"):
        rnn(torch.randn(0, 2, 4))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_inf_input(rnn, bad):
    x = torch.randn(5, 2, 4)
    x[3, 1, 2] = bad
    with pytest.raises(ValueError, match="input contains 1 NaN/Inf"):
        rnn(x)


def test_state_of_wrong_shape(rnn):
    x = torch.randn(5, 2, 4)
    with pytest.raises(ValueError, match=r"state y0 must have shape \(2, 2, 6\)"):
        rnn(x, (torch.zeros(2, 3, 6), None))
    with pytest.raises(ValueError, match=r"state c0 must have shape"):
        rnn(x, (torch.zeros(2, 2, 6), torch.zeros(1, 2, 6)))
    with pytest.raises(TypeError, match="pair"):
        rnn(x, torch.zeros(2, 2, 6))


def test_state_with_nan(rnn):
    y0 = torch.zeros(2, 2, 6)
    y0[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN/Inf"):
        rnn(torch.randn(5, 2, 4), (y0, None))


def test_per_layer_state_needed_when_sizes_differ():
    rnn = EGRU(4, [6, 3])
    with pytest.raises(ValueError, match="layer sizes differ"):
        rnn(torch.randn(5, 2, 4), (torch.zeros(2, 2, 6), None))
    y, (y_n, c_n) = rnn(torch.randn(5, 2, 4), ((torch.zeros(2, 6), torch.zeros(2, 3)), None))
    assert [t.shape for t in c_n] == [(2, 6), (2, 3)]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_inf_threshold_at_run_time(rnn, bad):
    with torch.no_grad():
        rnn.threshold_l1[2] = bad
    with pytest.raises(ValueError, match="threshold_l1 contains 1 NaN/Inf"):
        rnn(torch.randn(5, 2, 4))


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan")])
def test_non_positive_or_nan_initial_threshold(bad):
    with pytest.raises(ValueError, match="threshold"):
        EGRU(4, 6, threshold=bad)
    with pytest.raises(ValueError, match="threshold"):
        EGRUCell(4, 6, threshold=bad)


def test_threshold_vector_of_wrong_length():
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        EGRU(4, 6, threshold=torch.full((5,), 0.1))


def test_constructor_argument_errors():
    with pytest.raises(ValueError, match="num_layers"):
        EGRU(4, [6, 6], num_layers=3)
    with pytest.raises(ValueError, match="dropout"):
        EGRU(4, 6, dropout=1.5)
    with pytest.raises(ValueError, match="reset_mechanism"):
        EGRU(4, 6, reset_mechanism="soft")
    with pytest.raises(ValueError, match="positive"):
        EGRU(0, 6)


def test_cell_input_errors():
    cell = EGRUCell(4, 6)
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        cell(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"y must have shape \(2, 6\)"):
        cell(torch.randn(2, 4), torch.zeros(3, 6))
    with pytest.raises(TypeError, match="dtype"):
        cell(torch.randn(2, 4, dtype=torch.float64))
    x = torch.randn(2, 4)
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="input_ contains 1 NaN/Inf"):
        cell(x)


def test_from_gru_rejects_bidirectional():
    with pytest.raises(ValueError, match="unidirectional"):
        EGRU.from_gru(torch.nn.GRU(3, 4, bidirectional=True))
    with pytest.raises(TypeError, match="torch.nn.GRU"):
        EGRU.from_gru(torch.nn.LSTM(3, 4))


def test_threshold_below_floor_is_clamped_forward_but_keeps_its_gradient():
    rnn = EGRU(4, 6, min_threshold=1e-3)
    with torch.no_grad():
        rnn.threshold_l0.fill_(-0.5)
    used = rnn.layer_parameters(0).threshold
    assert torch.all(used == 1e-3)
    y, _ = rnn(torch.randn(10, 2, 4))
    y.sum().backward()
    assert rnn.threshold_l0.grad.abs().sum() > 0
