"""Gradient clipping by global norm, as ``torch.nn.utils.clip_grad_norm_``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from glassnet._checks import positive_float
from glassnet.callbacks import Callback
from glassnet.module import Parameter

__all__ = ["clip_grad_norm", "GradientClipping"]


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale all gradients together so that their global 2-norm is at most ``max_norm``.

    ``total = sqrt(sum over every parameter of sum(grad²))``; if it exceeds
    ``max_norm``, every grad is multiplied, in place, by
    ``max_norm / (total + 1e-6)`` (PyTorch's formula), which keeps the
    direction of the whole update and shortens it.

    Args:
        params: the parameters whose ``grad`` to clip (``model.parameters()``).
        max_norm: the largest norm allowed, > 0.

    Returns:
        The total norm before clipping, as ``clip_grad_norm_`` returns it.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> p = gn.Parameter(np.zeros(2))
        >>> p.grad[:] = [3.0, 4.0]
        >>> gn.clip_grad_norm([p], max_norm=1.0)
        5.0
        >>> p.grad.round(6)
        array([0.6, 0.8])
    """
    max_norm = positive_float(max_norm, "max_norm")
    grads = [p.grad for p in params]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if total > max_norm:
        coef = max_norm / (total + 1e-6)
        for g in grads:
            g *= np.asarray(coef, dtype=g.dtype)
    return total


class GradientClipping(Callback):
    """Clip the gradients by global norm before every optimizer step of ``fit``.

    Args:
        max_norm: as for ``clip_grad_norm``.

    ``norms`` collects each step's norm before clipping (a diverging run shows there first).

    Example:
        >>> import glassnet as gn
        >>> clip = gn.GradientClipping(1.0)   # model.fit(..., callbacks=[clip])
    """

    def __init__(self, max_norm: float) -> None:
        self.max_norm = positive_float(max_norm, "max_norm")
        self.norms: list[float] = []

    def on_train_begin(self) -> None:
        self.norms = []
        self._params = self.model.parameters()

    def on_before_optimizer_step(self) -> None:
        self.norms.append(clip_grad_norm(self._params, self.max_norm))
