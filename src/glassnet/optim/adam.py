"""Adam: adaptive moment estimation (Kingma & Ba, 2015)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet._checks import in_range, positive_float, real
from glassnet.module import Parameter
from glassnet.optim.optimizer import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam, PyTorch's update rule (``torch.optim.Adam``, amsgrad off).

    For each parameter p with gradient g, at step t = 1, 2, ...:

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g          (first moment; m0 = 0)
        v = beta2 * v + (1 - beta2) * g²         (second moment; v0 = 0)
        p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The two bias corrections undo the pull of m0 = v0 = 0 towards zero in early steps.

    Args:
        params: parameters to update.
        lr: learning rate, > 0.
        betas: (beta1, beta2), each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: L2 penalty coefficient, >= 0.

    Example:
        >>> import glassnet as gn
        >>> opt = gn.Adam(gn.Linear(2, 1, rng=0).parameters(), lr=1e-3)
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2). Received: betas={betas!r}")
        self.betas = (in_range(betas[0], "betas[0]", 0.0, 1.0), in_range(betas[1], "betas[1]", 0.0, 1.0))
        self.eps = positive_float(eps, "eps")
        self.weight_decay = real(weight_decay, "weight_decay")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={weight_decay!r}")
        self.m: list[np.ndarray] = [np.zeros_like(p.data) for p in self.params]
        self.v: list[np.ndarray] = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        self._step_size = self.lr / (1 - beta1**self.steps)
        self._sqrt_bc2 = math.sqrt(1 - beta2**self.steps)
        for i, p in enumerate(self.params):
            self._update(i, p)

    def _update(self, i: int, p: Parameter) -> None:
        beta1, beta2 = self.betas
        g = p.grad
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        m, v = self.m[i], self.v[i]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        denom = np.sqrt(v)
        denom /= self._sqrt_bc2
        denom += self.eps
        p.data -= self._step_size * (m / denom)

    def _state_lists(self) -> dict[str, list[Any]]:
        return {"m": self.m, "v": self.v}
