"""What a training run leaves: the per-epoch History, and the TrainingRun that fit shares with its callbacks
(everything a checkpoint saves and restores)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassnet.callbacks import Callback
from glassnet.module import Module
from glassnet.optim.optimizer import Optimizer

__all__ = ["History", "TrainingRun"]


class History:
    """What ``fit`` returns: ``history[name]`` is the list of per-epoch values.

    Names are "loss", each metric's name, and "val_" + those with validation data.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


@dataclass
class TrainingRun:
    """What ``fit`` shares with its callbacks as ``callback.run``: everything a checkpoint saves.

    ``rng`` is fit's own generator (it shuffles, and seeded the stochastic
    layers); ``epoch`` counts the epochs completed so far (an epoch that a
    callback stopped part-way does not count).
    """

    model: Module
    optimizer: Optimizer
    rng: np.random.Generator
    history: History
    callbacks: list[Callback]
    samples: int
    batch_size: int
    epoch: int = 0
    log_names: tuple[str, ...] = ()  # the keys of each epoch's logs: "loss", the metrics, "val_" ones
