"""Callbacks: code that ``fit`` runs at the end of each batch and epoch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet._checks import as_bool, bounded_int, positive_int, real, real_or_inf, short

__all__ = ["Callback", "EarlyStopping", "TerminateOnNaN"]


class Callback:
    """Base class; override the hooks you need. ``self.model`` is set by ``fit``.

    To end training, set ``self.model.stop_training = True``. ``on_train_end``
    runs however fit ends, after an exception or Ctrl-C too.
    """

    model: Any = None
    run: Any = None  # set by fit: the TrainingRun (optimizer, RNG, History) that checkpoints save
    rank_zero_only: bool = False  # in distributed training, only rank 0 runs it (it writes files)
    runs_last: bool = False  # fit calls on_epoch_end of these after the others (checkpoints see the epoch's end)

    def on_train_begin(self) -> None:
        pass

    def on_before_optimizer_step(self) -> None:
        """After backward, before the update: the gradients are in ``p.grad`` (clipping goes here)."""

    def on_batch_end(self, batch: int, loss: float) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when a monitored value has stopped improving.

    Args:
        monitor: a key of the epoch logs; "val_loss" falls back to "loss" when
            there is no validation data.
        patience: epochs without improvement after which training stops (as in Keras).
        min_delta: smallest change that counts as an improvement.
        mode: "min", "max", or "auto" (max for names containing "acc").
        restore_best_weights: when training ends, load the weights of the best epoch,
            however fit ends (by this callback, at the last epoch, by an exception or
            by Ctrl-C); when no epoch gave a finite value, the weights from before training.

    A NaN or infinite monitored value stops training at once: it never recovers.

    Example:
        >>> import glassnet as gn
        >>> stop = gn.EarlyStopping(patience=3, restore_best_weights=True)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        self.monitor = monitor
        self.patience = positive_int(patience, "patience", allow_zero=True)
        self.min_delta = abs(real(min_delta, "min_delta"))
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'. Received: mode={short(mode)}")
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.restore_best_weights = as_bool(restore_best_weights, "restore_best_weights")
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_state: dict[str, np.ndarray] | None = None

    def on_train_begin(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch = None
        # the weights before training: what comes back if the first epoch already blows up
        self._best_state = self.model.state_dict() if self.restore_best_weights else None

    def _improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        key = self.monitor
        if key not in logs and key == "val_loss":
            key = "loss"
        if key not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, but the epoch logs hold only {sorted(logs)}")
        value = logs[key]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_state = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience or not math.isfinite(value):
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self) -> None:
        if self.restore_best_weights and self._best_state is not None:
            self.model.load_state_dict(self._best_state)

    def state_dict(self) -> dict[str, Any]:
        """The counters a checkpoint keeps (the best weights, an array per name, are ``best_weights()``)."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def best_weights(self) -> dict[str, np.ndarray] | None:
        """The weights ``on_train_end`` restores (with ``restore_best_weights``), or None."""
        return self._best_state

    def load_state_dict(self, state: Any, best_weights: dict[str, np.ndarray] | None = None) -> None:
        """Continue from ``state_dict()`` and ``best_weights()``: a resumed run stops where it would have.

        Without saved weights (``restore_best_weights`` was off when they were saved) the best
        weights become the model's weights now, those resumed from: never weights from before.
        """
        keys = {"best", "best_epoch", "wait", "stopped_epoch"}
        if not isinstance(state, dict) or set(state) != keys:
            raise ValueError(f"an EarlyStopping state must have the keys {sorted(keys)}. Received: {short(state)}")
        best = real_or_inf(state["best"], "best")
        best_epoch = bounded_int(state["best_epoch"], "best_epoch", -1, 2**62)
        wait = positive_int(state["wait"], "wait", allow_zero=True)
        stopped = state["stopped_epoch"]
        if stopped is not None:
            stopped = positive_int(stopped, "stopped_epoch", allow_zero=True)
        self.best, self.best_epoch, self.wait, self.stopped_epoch = best, best_epoch, wait, stopped
        if self.restore_best_weights:
            self._best_state = best_weights if best_weights is not None else self.model.state_dict()


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite, keeping the last finite weights.

    ``fit`` never applies the optimizer step of a batch whose loss is not finite,
    so when this callback stops training the weights are those from before that
    batch. ``terminated_at`` is the batch's index within its epoch.
    """

    def __init__(self) -> None:
        self.terminated_at: int | None = None

    def on_batch_end(self, batch: int, loss: float) -> None:
        if not math.isfinite(loss):
            self.terminated_at = batch
            self.model.stop_training = True
