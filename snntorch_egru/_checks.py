"""Input validation shared by the cell and the sequence layer: clear errors that name the problem."""

from __future__ import annotations

import numbers

import torch


def check_size(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``: TypeError for a non-integer (bools and floats included), ValueError below."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        bound = "positive (>= 1)" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def check_finite(name: str, tensor: torch.Tensor) -> None:
    if not bool(torch.isfinite(tensor).all()):
        bad = (~torch.isfinite(tensor)).sum().item()
        raise ValueError(f"{name} contains {bad} NaN/Inf value(s)")


def check_tensor(name: str, tensor, *, dtype: torch.dtype, device: torch.device) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {tensor.dtype} but the layer's parameters are {dtype}; "
            f"convert the input (x.to({dtype})) or the layer (.to({dtype}))"
        )
    if tensor.device != device:
        raise ValueError(f"{name} is on device {tensor.device} but the layer's parameters are on {device}")


def check_shape(name: str, tensor: torch.Tensor, expected: tuple, meaning: str) -> None:
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)} ({meaning}), got {tuple(tensor.shape)}")


def threshold_tensor(threshold, hidden_size: int, name: str = "threshold", *, dtype=None) -> torch.Tensor:
    """A per-unit threshold vector [H] from a float or tensor, validated finite and > 0.

    ``dtype``: the layer's dtype (None: the default dtype). A float converts straight to
    it: a float64 layer keeps ``0.1`` as the float64 nearest to 0.1, not float32's.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    value = torch.as_tensor(threshold, dtype=dtype).detach().clone()
    if value.dim() == 0:
        value = value.expand(hidden_size).clone()
    if value.shape != (hidden_size,):
        raise ValueError(f"{name} must be a scalar or have shape ({hidden_size},), got {tuple(value.shape)}")
    check_finite(name, value)
    if not bool((value > 0).all()):
        raise ValueError(f"{name} must be > 0 for every unit, got minimum {value.min().item():g}")
    return value


def positive_threshold(threshold: torch.Tensor, minimum: float, name: str) -> torch.Tensor:
    r"""Threshold clamped to ``>= minimum`` in the forward pass, identity in the backward pass.

    A straight-through clamp keeps events well defined (thresholds stay > 0) without
    freezing a threshold that an optimiser step pushed below the floor: its gradient
    still flows and can move it back up.
    """
    check_finite(name, threshold)
    return _StraightThroughFloor.apply(threshold, minimum)


class _StraightThroughFloor(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor, minimum: float) -> torch.Tensor:
        return tensor.clamp(min=minimum)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output, None
