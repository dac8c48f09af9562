"""Learning-rate schedules, stepped once per epoch.

Each is a Callback, so it can go straight into ``fit(callbacks=[...])``; in a
manual loop call ``scheduler.step()`` at the end of every epoch. Each sets
``optimizer.lr`` from the optimizer's initial rate lr0 and the epoch count e.
"""

from __future__ import annotations

import math
from typing import Any

from glassnet._checks import positive_float, positive_int, real, short
from glassnet.callbacks import Callback
from glassnet.optim.optimizer import Optimizer, non_negative

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "WarmupCosineLR"]


class LRScheduler(Callback):
    """Base class: ``step()`` advances the epoch count and sets ``optimizer.lr``."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a glassnet Optimizer. Received: optimizer={short(optimizer)}")
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
        self.base_lr = non_negative(state["base_lr"], "base_lr")  # a run may start at lr 0
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
            raise ValueError(f"eta_min must be >= 0. Received: eta_min={short(eta_min)}")

    def get_lr(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class WarmupCosineLR(LRScheduler):
    """Linear warm-up, then cosine decay to ``min_lr``: nanoGPT's schedule, stepped once per batch.

    At step ``it`` = 0, 1, ... (the rate used for the update of step it):

        it < warmup_steps:       lr = lr0 * (it + 1) / (warmup_steps + 1)
        it <= total_steps:       r = (it - warmup_steps) / (total_steps - warmup_steps)
                                 lr = min_lr + (lr0 - min_lr) * (1 + cos(pi * r)) / 2
        after:                   lr = min_lr

    It sets the step-0 rate when built; in ``fit(callbacks=[...])`` it steps at
    the end of every batch (not epoch); in a manual loop call ``step()`` after
    every ``optimizer.step()``.

    Args:
        optimizer: the Optimizer; its lr is lr0.
        warmup_steps: steps of linear warm-up (>= 0).
        total_steps: the step at which the decay reaches min_lr (> warmup_steps).
        min_lr: the final rate, in [0, lr0].

    Example:
        >>> import glassnet as gn
        >>> opt = gn.AdamW(gn.Linear(2, 1, rng=0).parameters(), lr=1e-3)
        >>> sched = gn.WarmupCosineLR(opt, warmup_steps=100, total_steps=2000, min_lr=1e-4)
        >>> round(opt.lr, 8), round(sched.get_lr(100), 8), round(sched.get_lr(2000), 8)
        (9.9e-06, 0.001, 0.0001)
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> None:
        super().__init__(optimizer)
        self.warmup_steps = positive_int(warmup_steps, "warmup_steps", allow_zero=True)
        self.total_steps = positive_int(total_steps, "total_steps")
        if self.total_steps <= self.warmup_steps:
            raise ValueError(
                f"total_steps must be larger than warmup_steps. Received: total_steps={total_steps}, "
                f"warmup_steps={warmup_steps}"
            )
        self.min_lr = real(min_lr, "min_lr")
        if not 0 <= self.min_lr <= self.base_lr:
            raise ValueError(f"min_lr must be in [0, lr] = [0, {self.base_lr}]. Received: min_lr={short(min_lr)}")
        self.optimizer.lr = self.get_lr(0)

    def get_lr(self, epoch: int) -> float:
        it = epoch
        if it < self.warmup_steps:
            return self.base_lr * (it + 1) / (self.warmup_steps + 1)
        if it > self.total_steps:
            return self.min_lr
        ratio = (it - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * ratio))

    def on_batch_end(self, batch: int, loss: float) -> None:
        self.step()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        pass  # stepped per batch
