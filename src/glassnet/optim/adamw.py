"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet.module import Parameter
from glassnet.optim.adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    """AdamW, PyTorch's update rule (``torch.optim.AdamW``, amsgrad off).

    For each parameter p with gradient g, at step t = 1, 2, ...:

        p = p * (1 - lr * weight_decay)          (decay, decoupled from the gradient)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g²
        p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Unlike Adam's L2 penalty, the decay never enters m and v, so it shrinks
    every weight at the same relative rate whatever its gradient's scale.
    Transformers decay only their matrices: pass parameter groups,
    ``[{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}]``.

    Args:
        params: parameters to update, or parameter groups (see Optimizer).
        lr: learning rate, >= 0.
        betas: (beta1, beta2), each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: decoupled decay coefficient, >= 0 (PyTorch's default 0.01).

    Example:
        >>> import glassnet as gn
        >>> model = gn.Sequential(gn.Linear(3, 4, rng=0), gn.LayerNorm(4))
        >>> decay = [p for p in model.parameters() if p.data.ndim >= 2]
        >>> others = [p for p in model.parameters() if p.data.ndim < 2]
        >>> opt = gn.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}], lr=1e-3)
        >>> [g["weight_decay"] for g in opt.param_groups]
        [0.1, 0.0]
    """

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _update(self, i: int, p: Parameter) -> None:
        group = self.group(i)
        if group["weight_decay"]:
            p.data *= np.asarray(1 - group["lr"] * group["weight_decay"], dtype=p.data.dtype)
        self._adam(i, p, p.grad, group)
