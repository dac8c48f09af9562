"""RMSprop: divide the gradient by a running root-mean-square of its recent values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet._checks import in_range, positive_float
from glassnet.module import Parameter
from glassnet.optim.optimizer import Optimizer, non_negative

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
        params: parameters to update, or parameter groups (see Optimizer).
        lr: learning rate, >= 0.
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
        params: Iterable[Parameter] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.alpha = in_range(alpha, "alpha", 0.0, 1.0)
        self.eps = positive_float(eps, "eps")
        self.momentum = non_negative(momentum, "momentum")
        self.weight_decay = non_negative(weight_decay, "weight_decay")
        defaults = {"alpha": self.alpha, "eps": self.eps, "momentum": self.momentum, "weight_decay": self.weight_decay}
        checks = {
            "alpha": lambda v, name: in_range(v, name, 0.0, 1.0),
            "eps": positive_float,
            "momentum": non_negative,
            "weight_decay": non_negative,
        }
        super().__init__(params, lr, defaults, checks)
        self.square_avg: list[np.ndarray] = [np.zeros_like(p.data) for p in self.params]
        self.velocity: list[np.ndarray | None] = [
            np.zeros_like(p.data) if self.group(i)["momentum"] else None for i, p in enumerate(self.params)
        ]

    def _update(self, i: int, p: Parameter) -> None:
        group = self.group(i)
        g = p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        s = self.square_avg[i]
        s *= group["alpha"]
        s += (1 - group["alpha"]) * (g * g)
        d = g / (np.sqrt(s) + group["eps"])
        b = self.velocity[i]
        if b is not None:
            b *= group["momentum"]
            b += d
            d = b
        p.data -= group["lr"] * d

    _non_negative_slots = ("square_avg",)

    def state_lists(self) -> dict[str, list[Any]]:
        return {"square_avg": self.square_avg, "velocity": self.velocity}
