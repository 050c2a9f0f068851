r"""Surrogate gradients (pseudo-derivatives) for the EGRU's event function.

The EGRU emits an event when its internal state crosses the threshold,
:math:`e = H(c - \vartheta)` with the Heaviside step :math:`H(0) = 0`. The step has
no useful derivative, so the backward pass uses the triangle pseudo-derivative of
Subramoney et al. (ICLR 2023):

.. math::

    \frac{\partial e}{\partial v} \approx \gamma \max\left(0,\ 1 - \varepsilon |v|\right),
    \qquad v = c - \vartheta,

with dampening :math:`\gamma` and width factor :math:`\varepsilon` (support
:math:`|v| < 1/\varepsilon`). Units outside the support pass no gradient through
their event: the backward pass is itself sparse.

snnTorch's ``surrogate.triangular`` is a different function (its derivative is
piecewise constant), hence this module.

Example::

    >>> import torch
    >>> from snntorch_egru import surrogate
    >>> spike = surrogate.triangle(dampening=0.7, width=1.0)
    >>> v = torch.tensor([-0.5, 0.0, 0.25], requires_grad=True)
    >>> spike(v)
    tensor([0., 0., 1.], grad_fn=<TriangleHeavisideBackward>)
    >>> spike(v).sum().backward()
    >>> v.grad
    tensor([0.3500, 0.7000, 0.5250])
"""

from __future__ import annotations

import torch

__all__ = ["TriangleSurrogate", "triangle"]


class TriangleHeaviside(torch.autograd.Function):
    """Heaviside step forward (strict ``v > 0``), triangle pseudo-derivative backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, dampening: float, width: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.dampening = dampening
        ctx.width = width
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (v,) = ctx.saved_tensors
        slope = triangle_derivative(v, ctx.dampening, ctx.width)
        return grad_output * slope, None, None


def triangle_derivative(v: torch.Tensor, dampening: float, width: float) -> torch.Tensor:
    r""":math:`\gamma \max(0, 1 - \varepsilon |v|)`, elementwise."""
    return (1.0 - width * v.abs()).clamp_(min=0.0).mul_(dampening)


class TriangleSurrogate:
    """Callable event function ``v -> H(v)`` with the triangle pseudo-derivative.

    Usable wherever snnTorch takes a ``spike_grad`` (it is called with
    ``mem - threshold``). Besides ``__call__`` it exposes :meth:`step` and
    :meth:`derivative`, which the fused sequence kernel of :class:`snntorch_egru.EGRU`
    uses to run the backward pass by hand, and the settings ``dampening`` and
    ``width`` that the file format stores.
    """

    strict_heaviside = True  # step(v) is exactly (v > 0): lets the fused kernel use one comparison

    def __init__(self, dampening: float = 0.7, width: float = 1.0):
        dampening = float(dampening)
        width = float(width)
        if not (dampening > 0 and width > 0) or not all(map(_finite, (dampening, width))):
            raise ValueError(
                f"triangle surrogate needs finite dampening > 0 and width > 0, "
                f"got dampening={dampening}, width={width}"
            )
        self.dampening = dampening
        self.width = width

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return TriangleHeaviside.apply(v, self.dampening, self.width)

    @staticmethod
    def step(v: torch.Tensor) -> torch.Tensor:
        """The forward event function H(v), strict: H(0) = 0."""
        return (v > 0).to(v.dtype)

    def derivative(self, v: torch.Tensor) -> torch.Tensor:
        """The pseudo-derivative used in place of dH/dv."""
        return triangle_derivative(v, self.dampening, self.width)

    def __repr__(self) -> str:
        return f"triangle(dampening={self.dampening}, width={self.width})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, TriangleSurrogate)
            and self.dampening == other.dampening
            and self.width == other.width
        )

    def __hash__(self) -> int:
        return hash((TriangleSurrogate, self.dampening, self.width))


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def triangle(dampening: float = 0.7, width: float = 1.0) -> TriangleSurrogate:
    r"""The EGRU pseudo-derivative :math:`\gamma \max(0, 1 - \varepsilon|v|)` as a ``spike_grad``.

    Defaults follow the reference implementation (:math:`\gamma = 0.7,
    \varepsilon = 1`); its language-model recipe uses ``dampening=width=3.6``
    (a triangle of unit area).
    """
    return TriangleSurrogate(dampening, width)
