"""The learning-rate range test (Smith 2015; fastai's ``lr_find``): ``gn.lr_find`` and ``glassnet lr-find``.

Train from the current weights for one pass while the learning rate grows
exponentially, ``lr_i = start_lr * (end_lr / start_lr) ** (i / (n - 1))``,
recording each batch's loss. The loss first barely moves, then falls, then
blows up. A good learning rate sits where it falls fastest (the steepest
slope of the smoothed loss against log lr), about a tenth of the lr at the
minimum. Afterwards the weights, the optimizer's state and the layers' RNGs
are put back exactly as they were: the test trains nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from glassnet._checks import as_rng, positive_float, positive_int
from glassnet.losses import Loss
from glassnet.module import Module
from glassnet.optim.optimizer import Optimizer

__all__ = ["lr_find", "LRFinderResult"]

SMOOTHING = 0.98  # fastai's: an exponential moving average of the loss, bias-corrected
DIVERGED = 4.0  # stop once the smoothed loss is this many times its minimum, as fastai


@dataclass
class LRFinderResult:
    """What ``lr_find`` returns: per step the learning rate, the batch loss and the smoothed loss."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float  # the lr of the steepest fall of the smoothed loss
    min_lr: float  # the lr at the smoothed loss's minimum; min_lr / 10 is the other usual rule

    def plot(self, path: str, title: str = "", loss_name: str = "loss") -> None:
        """Write loss against learning rate (log axis) as a PNG, the suggestion marked (needs matplotlib)."""
        from glassnet.plot import pyplot

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        ax.plot(self.lrs, self.losses, color="#bbbbbb", linewidth=1, label="batch loss")
        ax.plot(self.lrs, self.smoothed, color="#3465a4", linewidth=2, label="smoothed loss")
        at = self.smoothed[int(np.argmin(np.abs(np.log(self.lrs) - math.log(self.suggestion))))]
        ax.plot([self.suggestion], [at], "o", color="#cc0000", label=f"suggested lr {self.suggestion:.2g}")
        ax.axvline(
            self.min_lr / 10, color="#888888", linestyle="--", linewidth=1, label=f"min / 10: {self.min_lr / 10:.2g}"
        )
        ax.set_xscale("log")
        top = max(self.smoothed[0], min(self.smoothed)) * 2  # the blow-up would flatten the rest of the curve
        ax.set_ylim(min(min(self.smoothed), min(self.losses)) * 0.9, top)
        ax.set(
            title=title or "Learning-rate range test",
            xlabel="learning rate (log scale)",
            ylabel=f"training {loss_name} per batch",
        )
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def _suggest(lrs: np.ndarray, smoothed: np.ndarray) -> tuple[float, float]:
    # the first steps are skipped, as fastai skips them: the moving average is still mostly one batch's noise
    skip = max(5, len(lrs) // 10)
    low = int(np.argmin(smoothed))
    if low - skip < 2:  # no fall to measure: a tenth of the minimum, the usual fallback
        return float(lrs[low]) / 10, float(lrs[low])
    slope = np.gradient(smoothed[skip : low + 1], np.log(lrs[skip : low + 1]))
    return float(lrs[skip + int(np.argmin(slope))]), float(lrs[low])


def lr_find(
    model: Module,
    x: Any,
    y: Any,
    *,
    loss: Loss,
    optimizer: Optimizer,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int | None = None,
    batch_size: int = 32,
    seed: int | np.random.Generator | None = 0,
) -> LRFinderResult:
    """Run the learning-rate range test and put the model and optimizer back as they were.

    Args:
        model, loss, optimizer: as for ``fit``; the optimizer's own lr is ignored during the test.
        x, y: the training data.
        start_lr, end_lr: the first and the last learning rate.
        steps: batches in the test; default one pass over ``x`` (at least 100
            batches: small sets are repeated).
        batch_size: samples per batch.
        seed: the order of the samples.

    Returns:
        An ``LRFinderResult``; its ``suggestion`` is the lr of the steepest fall.
        The test stops early once the loss has diverged (4x its minimum, or not finite).

    Example:
        >>> import glassnet as gn
        >>> X, y = gn.datasets.moons(256, noise=0.1, rng=0)
        >>> model = gn.Sequential(gn.Linear(2, 16, rng=0), gn.ReLU(), gn.Linear(16, 2, rng=1))
        >>> before = model.layers[0].weight.data.copy()
        >>> result = gn.lr_find(model, X, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1))
        >>> bool((model.layers[0].weight.data == before).all()), 1e-7 < result.suggestion < 10
        (True, True)
    """
    from glassnet.training import check_x, check_y, train_step

    start_lr = positive_float(start_lr, "start_lr")
    end_lr = positive_float(end_lr, "end_lr")
    if end_lr <= start_lr:
        raise ValueError(f"end_lr must be larger than start_lr. Received: start_lr={start_lr}, end_lr={end_lr}")
    batch_size = positive_int(batch_size, "batch_size")
    xa = check_x(model, x, "x")
    ya = check_y(xa, y, "y", xa.dtype)
    bs = min(batch_size, len(xa))
    n = max(-(-len(xa) // bs), 100) if steps is None else positive_int(steps, "steps")
    if n < 2:
        raise ValueError(f"steps must be at least 2 to grow the learning rate. Received: steps={steps}")
    rng = as_rng(seed)

    weights = model.state_dict()
    opt_state = optimizer.state_dict()
    rng_states = [(m, m.rng.bit_generator.state) for m in model.modules() if m.stochastic]  # type: ignore[attr-defined]
    was_training = model.training
    lrs, losses, smoothed = [], [], []
    average, best = 0.0, math.inf
    try:
        model.train()
        order = rng.permutation(len(xa))
        for i in range(n):
            lr = start_lr * (end_lr / start_lr) ** (i / (n - 1))
            start = (i * bs) % len(xa)
            if start + bs > len(xa):
                order = rng.permutation(len(xa))  # another pass, in a new order
                start = 0
            idx = order[start : start + bs]
            optimizer.lr = lr
            with np.errstate(all="ignore"):  # the end of the test is meant to blow up
                value = train_step(model, loss, optimizer, xa[idx], ya[idx])
            if not math.isfinite(value):
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            smooth = average / (1 - SMOOTHING ** (i + 1))
            lrs.append(lr)
            losses.append(value)
            smoothed.append(smooth)
            best = min(best, smooth)
            if smooth > DIVERGED * best:
                break
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(opt_state)
        for m, state in rng_states:
            m.rng.bit_generator.state = state  # type: ignore[attr-defined]
        model.zero_grad()
        model.train(was_training)
    if len(lrs) < 2:
        raise ValueError(
            f"the loss was not finite from the first steps: lower start_lr (Received: start_lr={start_lr})"
        )
    suggestion, min_lr = _suggest(np.array(lrs), np.array(smoothed))
    return LRFinderResult(lrs, losses, smoothed, suggestion, min_lr)
