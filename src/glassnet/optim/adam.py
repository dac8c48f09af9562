"""Adam: adaptive moment estimation (Kingma & Ba, 2015)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet._checks import positive_float
from glassnet.module import Parameter
from glassnet.optim.optimizer import Optimizer, beta_pair, non_negative

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
        params: parameters to update, or parameter groups (see Optimizer).
        lr: learning rate, >= 0.
        betas: (beta1, beta2), each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: L2 penalty coefficient, >= 0.

    Example:
        >>> import glassnet as gn
        >>> opt = gn.Adam(gn.Linear(2, 1, rng=0).parameters(), lr=1e-3)
    """

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.betas = beta_pair(betas, "betas")
        self.eps = positive_float(eps, "eps")
        self.weight_decay = non_negative(weight_decay, "weight_decay")
        defaults = {"betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}
        checks = {"betas": beta_pair, "eps": positive_float, "weight_decay": non_negative}
        super().__init__(params, lr, defaults, checks)
        self.m: list[np.ndarray] = [np.zeros_like(p.data) for p in self.params]
        self.v: list[np.ndarray] = [np.zeros_like(p.data) for p in self.params]
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)  # work arrays, not state

    def step(self) -> None:
        """Apply one update to every parameter."""
        self.steps += 1
        for i, p in enumerate(self.params):
            self._update(i, p)

    def _update(self, i: int, p: Parameter) -> None:
        group = self.group(i)
        g = p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        self._adam(i, p, g, group)

    def _adam(self, i: int, p: Parameter, g: np.ndarray, group: dict[str, Any]) -> None:
        """The moment updates and the step, from gradient ``g``."""
        beta1, beta2 = group["betas"]
        t = self.steps
        m, v = self.m[i], self.v[i]
        # every pass writes into m, v or one scratch array per parameter: on a large weight,
        # fresh temporaries would cost as much as the arithmetic
        tmp = self._scratch[i]
        if tmp is None or tmp.shape != m.shape:
            tmp = self._scratch[i] = np.empty_like(m)
        m *= beta1
        m += np.multiply(g, 1 - beta1, out=tmp)
        v *= beta2
        np.multiply(g, g, out=tmp)
        v += np.multiply(tmp, 1 - beta2, out=tmp)
        denom = np.sqrt(v, out=tmp)
        denom /= math.sqrt(1 - beta2**t)
        denom += group["eps"]
        step = np.divide(m, denom, out=tmp)
        step *= group["lr"] / (1 - beta1**t)
        p.data -= step

    _non_negative_slots = ("v",)

    def state_lists(self) -> dict[str, list[Any]]:
        return {"m": self.m, "v": self.v}
