"""Stochastic gradient descent, with momentum and Nesterov momentum."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet.module import Parameter
from glassnet.optim.optimizer import Optimizer, non_negative

__all__ = ["SGD"]


class SGD(Optimizer):
    """Gradient descent, PyTorch's update rule (``torch.optim.SGD``, dampening 0).

    For each parameter p with gradient g, at step t:

        g = g + weight_decay * p
        if momentum:
            b = g                    (t = 1)
            b = momentum * b + g     (t > 1)
            g = g + momentum * b if nesterov else b
        p = p - lr * g

    With momentum 0 this is the tutorial's ``weights += d_weights`` for lr = 1
    (d_weights being -dL/dW).

    Args:
        params: parameters to update (``model.parameters()``), or parameter groups (see Optimizer).
        lr: learning rate, >= 0.
        momentum: in [0, 1); 0.9 is usual.
        nesterov: use Nesterov momentum (needs momentum > 0).
        weight_decay: L2 penalty coefficient, >= 0.

    Example:
        >>> import glassnet as gn
        >>> opt = gn.SGD(gn.Linear(2, 1, rng=0).parameters(), lr=0.1, momentum=0.9)
    """

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.momentum = non_negative(momentum, "momentum")
        self.weight_decay = non_negative(weight_decay, "weight_decay")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0. Received: momentum=0")
        self.nesterov = bool(nesterov)
        defaults = {"momentum": self.momentum, "nesterov": self.nesterov, "weight_decay": self.weight_decay}
        checks = {"momentum": non_negative, "weight_decay": non_negative, "nesterov": lambda v, _: bool(v)}
        super().__init__(params, lr, defaults, checks)
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def _update(self, i: int, p: Parameter) -> None:
        group = self.group(i)
        g = p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        momentum = group["momentum"]
        if momentum:
            b = self.velocity[i]
            if b is None:
                b = self.velocity[i] = g.copy()
            else:
                b *= momentum
                b += g
            g = g + momentum * b if group["nesterov"] else b
        p.data -= group["lr"] * g

    def state_lists(self) -> dict[str, list[Any]]:
        return {"velocity": self.velocity}
