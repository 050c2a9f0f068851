"""Edge cases of ``EGRU`` and ``EGRUCell``: batch size 0 as ``torch.nn.GRU``, and argument
errors that name the argument at fault."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snntorch_egru import EGRU, EGRUCell


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_batch_size_zero_matches_nn_gru(batch_first, num_layers):
    x = torch.randn(0, 5, 8) if batch_first else torch.randn(5, 0, 8)
    gru_out, gru_h = nn.GRU(8, 16, num_layers, batch_first=batch_first)(x)
    egru = EGRU(8, 16, num_layers=num_layers, batch_first=batch_first)
    out, (y_n, c_n) = egru(x)
    assert out.shape == gru_out.shape
    assert y_n.shape == c_n.shape == gru_h.shape
    out.sum().backward()                                      # part of the graph, as nn.GRU's output
    assert egru.weight_ih_l0.grad is not None and not egru.weight_ih_l0.grad.any()
    # the state goes in and comes back, as for nn.GRU
    _, (y_n2, c_n2) = egru(x, (y_n, c_n))
    assert y_n2.shape == gru_h.shape and c_n2.shape == gru_h.shape


def test_batch_size_zero_with_layer_sizes_that_differ():
    out, (y_n, c_n) = EGRU(8, [16, 4])(torch.randn(5, 0, 8))
    assert out.shape == (5, 0, 4)
    assert [t.shape for t in y_n] == [(0, 16), (0, 4)] == [t.shape for t in c_n]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(input_size=8, hidden_size=4, num_layers=0), ValueError, r"num_layers must be positive \(>= 1\), got 0"),
    (dict(input_size=8, hidden_size=4, num_layers=2.0), TypeError, "num_layers must be an int"),
    (dict(input_size=8, hidden_size=4.5), TypeError, "hidden_size must be an int or a sequence of ints"),
    (dict(input_size=8, hidden_size=[4, 4.5]), TypeError, r"hidden_size\[1\] must be an int"),
    (dict(input_size=8, hidden_size=[4, 0]), ValueError, r"hidden_size\[1\] must be positive"),
    (dict(input_size=8, hidden_size=[]), ValueError, "hidden_size is an empty sequence"),
    (dict(input_size=8, hidden_size="4"), TypeError, "hidden_size must be an int or a sequence"),
    (dict(input_size=8, hidden_size=0), ValueError, r"hidden_size must be positive \(>= 1\), got 0"),
    (dict(input_size=8.0, hidden_size=4), TypeError, "input_size must be an int"),
    (dict(input_size=0, hidden_size=4), ValueError, "input_size must be positive"),
    (dict(input_size=True, hidden_size=4), TypeError, "input_size must be an int"),
    (dict(input_size=8, hidden_size=4, dropout="0.1"), TypeError, "dropout must be a number"),
    (dict(input_size=8, hidden_size=4, dropout=float("nan")), ValueError, "dropout must be in"),
])
def test_layer_arguments_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        EGRU(**kwargs)


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((8, 4.5), {}, TypeError, "hidden_size must be an int"),
    ((8, 0), {}, ValueError, "hidden_size must be positive"),
    ((8.5, 4), {}, TypeError, "input_size must be an int"),
    ((8, 4), dict(min_threshold=0.0), ValueError, "min_threshold must be > 0"),
    ((8, 4), dict(min_threshold=float("nan")), ValueError, "min_threshold must be > 0"),
])
def test_cell_arguments_name_the_argument(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        EGRUCell(*args, **kwargs)


def test_cell_batch_size_zero_matches_nn_gru_cell():
    x = torch.randn(0, 8)
    y, c = EGRUCell(8, 4)(x)
    assert y.shape == c.shape == nn.GRUCell(8, 4)(x).shape == (0, 4)
