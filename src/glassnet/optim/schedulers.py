"""Learning-rate schedules, stepped once per epoch.

Each is a Callback, so it can go straight into ``fit(callbacks=[...])``; in a
manual loop call ``scheduler.step()`` at the end of every epoch. Each sets
``optimizer.lr`` from the optimizer's initial rate lr0 and the epoch count e.
"""

from __future__ import annotations

import math
from typing import Any

from glassnet._checks import positive_float, positive_int, real
from glassnet.callbacks import Callback
from glassnet.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR"]


class LRScheduler(Callback):
    """Base class: ``step()`` advances the epoch count and sets ``optimizer.lr``."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a glassnet Optimizer. Received: optimizer={optimizer!r}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_lr(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr(self.last_epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.step()

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s values; ``optimizer.lr`` comes from the optimizer's own state."""
        if not isinstance(state, dict) or set(state) != {"base_lr", "last_epoch"}:
            raise ValueError(
                f"a schedule's state must be {{'base_lr': ..., 'last_epoch': ...}}. Received: {state!r:.200}"
            )
        self.base_lr = positive_float(state["base_lr"], "base_lr")
        self.last_epoch = positive_int(state["last_epoch"], "last_epoch", allow_zero=True)


class StepLR(LRScheduler):
    """Step decay: ``lr = lr0 * gamma ** (e // step_size)``.

    Example:
        >>> import glassnet as gn
        >>> opt = gn.SGD(gn.Linear(2, 1, rng=0).parameters(), lr=1.0)
        >>> sched = gn.StepLR(opt, step_size=2, gamma=0.5)
        >>> for _ in range(4): sched.step()
        >>> opt.lr
        0.25
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = positive_int(step_size, "step_size")
        self.gamma = positive_float(gamma, "gamma")

    def get_lr(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Exponential decay: ``lr = lr0 * gamma ** e``."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer)
        self.gamma = positive_float(gamma, "gamma")

    def get_lr(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing: ``lr = eta_min + (lr0 - eta_min) * (1 + cos(pi * e / T_max)) / 2``.

    The rate falls from lr0 to eta_min over T_max epochs (PyTorch's closed form).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803 - PyTorch's name
        super().__init__(optimizer)
        self.T_max = positive_int(T_max, "T_max")
        self.eta_min = real(eta_min, "eta_min")
        if self.eta_min < 0:
            raise ValueError(f"eta_min must be >= 0. Received: eta_min={eta_min!r}")

    def get_lr(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
