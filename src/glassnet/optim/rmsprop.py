"""RMSprop: divide the gradient by a running root-mean-square of its recent values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet._checks import in_range, positive_float, real
from glassnet.module import Parameter
from glassnet.optim.optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, PyTorch's update rule (``torch.optim.RMSprop``, not centered).

    For each parameter p with gradient g:

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g²         (s0 = 0)
        d = g / (sqrt(s) + eps)
        if momentum:  b = momentum * b + d;  p = p - lr * b      (b0 = 0)
        else:         p = p - lr * d

    Args:
        params: parameters to update.
        lr: learning rate, > 0.
        alpha: smoothing constant in [0, 1).
        eps: added to the denominator, > 0.
        momentum: >= 0.
        weight_decay: L2 penalty coefficient, >= 0.

    Example:
        >>> import glassnet as gn
        >>> opt = gn.RMSprop(gn.Linear(2, 1, rng=0).parameters(), lr=1e-2)
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.alpha = in_range(alpha, "alpha", 0.0, 1.0)
        self.eps = positive_float(eps, "eps")
        self.momentum = real(momentum, "momentum")
        if self.momentum < 0:
            raise ValueError(f"momentum must be >= 0. Received: momentum={momentum!r}")
        self.weight_decay = real(weight_decay, "weight_decay")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={weight_decay!r}")
        self.square_avg: list[np.ndarray] = [np.zeros_like(p.data) for p in self.params]
        self.velocity: list[np.ndarray | None] = [np.zeros_like(p.data) if self.momentum else None for p in self.params]

    def _update(self, i: int, p: Parameter) -> None:
        g = p.grad
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        s = self.square_avg[i]
        s *= self.alpha
        s += (1 - self.alpha) * (g * g)
        d = g / (np.sqrt(s) + self.eps)
        b = self.velocity[i]
        if b is not None:
            b *= self.momentum
            b += d
            d = b
        p.data -= self.lr * d

    def _state_lists(self) -> dict[str, list[Any]]:
        return {"square_avg": self.square_avg, "velocity": self.velocity}
