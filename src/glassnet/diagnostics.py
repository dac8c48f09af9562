"""Diagnostics while training: what each layer does, epoch by epoch, and plain-word warnings.

``Diagnostics`` is a callback. It watches the layers without changing the
training loop: in ``on_train_begin`` it wraps each layer's ``forward`` in an
observer (an instance attribute over the class method, so only this model
is affected) and removes the wrappers in ``on_train_end``. The observers see
each training batch's outputs; the optimizer hooks see the gradients before
the step and the weights after it.

Per layer and epoch it records (over the epoch's training batches):
    act_mean, act_std   mean and standard deviation of the layer's outputs
    saturated           Sigmoid/Tanh: share of outputs within 0.01 of an asymptote
    dead                ReLU: share of units never positive in the whole epoch
    grad_norm           L2 norm of the layer's parameter gradients, mean over batches
    update_ratio        ||ΔW|| / ||W|| per step, mean over batches (around 1e-3 is healthy)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet._checks import real
from glassnet.callbacks import Callback
from glassnet.layers import ReLU, Sigmoid, Tanh
from glassnet.module import Module, Sequential

__all__ = ["Diagnostics"]

SATURATION_MARGIN = 0.01  # an output within this of 0/1 (Sigmoid) or ±1 (Tanh) passes almost no gradient


class _Watch:
    """What one layer did during the current epoch."""

    def __init__(self, index: int, layer: Module) -> None:
        self.index, self.layer, self.name = index, layer, type(layer).__name__
        self.params = layer.parameters()
        self.previous: Any = None
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.saturated = 0
        self.alive: np.ndarray | None = None  # ReLU units positive at least once this epoch
        self.grad_norms: list[float] = []
        self.ratios: list[float] = []

    def observe(self, y: np.ndarray) -> bool:
        """Adds one batch's outputs; returns False when they hold NaN or inf."""
        values = np.asarray(y, dtype=np.float64)
        total = float(values.sum())
        if not math.isfinite(total):
            return False
        self.count += values.size
        self.total += total
        self.total_sq += float(np.vdot(values, values))
        if isinstance(self.layer, Sigmoid):
            self.saturated += int(np.count_nonzero((y < SATURATION_MARGIN) | (y > 1 - SATURATION_MARGIN)))
        elif isinstance(self.layer, Tanh):
            self.saturated += int(np.count_nonzero(np.abs(y) > 1 - SATURATION_MARGIN))
        elif isinstance(self.layer, ReLU):
            positive: np.ndarray = np.asarray((y.reshape(len(y), -1) > 0).any(axis=0))
            self.alive = positive if self.alive is None or self.alive.shape != positive.shape else self.alive | positive
        return True

    def summary(self, epoch: int) -> dict[str, Any]:
        mean = self.total / self.count if self.count else math.nan
        var = self.total_sq / self.count - mean * mean if self.count else math.nan
        return {
            "epoch": epoch,
            "layer": self.index,
            "name": self.name,
            "act_mean": mean,
            "act_std": math.sqrt(max(var, 0.0)) if self.count else math.nan,
            "saturated": self.saturated / self.count
            if self.count and isinstance(self.layer, (Sigmoid, Tanh))
            else None,
            "dead": 1.0 - float(self.alive.mean()) if self.alive is not None else None,
            "grad_norm": float(np.mean(self.grad_norms)) if self.grad_norms else None,
            "update_ratio": float(np.mean(self.ratios)) if self.ratios else None,
        }


class Diagnostics(Callback):
    """Record per-layer statistics each epoch and warn, naming the layer and a remedy, when training goes wrong.

    Warnings (each printed once per layer, and kept in ``warnings``):
    vanishing gradients (a layer's gradient RMS below ``vanishing`` times the
    largest layer's), dead ReLUs (more than ``dead`` of a ReLU's units never
    positive in an epoch), saturated Sigmoid/Tanh outputs (more than
    ``saturated`` of them), the loss rising three epochs in a row, and NaN or
    inf, with the epoch, batch and layer where it first appeared.

    Args:
        vanishing: gradient-RMS ratio below which gradients count as vanishing.
        dead: share of dead ReLU units that triggers the warning.
        saturated: share of saturated outputs that triggers the warning.
        print_fn: where warnings go as they fire (``None``: only kept).

    Attributes:
        records: one dict per layer and epoch (keys in the module docstring).
        warnings: the warnings, in the order they fired.

    Example:
        >>> import glassnet as gn
        >>> X, y = gn.datasets.tutorial()
        >>> model = gn.Sequential(gn.Linear(3, 4, rng=0), gn.Tanh(), gn.Linear(4, 1, rng=0))
        >>> diag = gn.Diagnostics(print_fn=None)
        >>> _ = model.fit(X, y, loss=gn.MSELoss(), optimizer=gn.SGD(model.parameters(), lr=0.1),
        ...               epochs=3, verbose=0, callbacks=[diag])
        >>> sorted(diag.records[0])[:4], diag.warnings
        (['act_mean', 'act_std', 'dead', 'epoch'], [])
    """

    def __init__(
        self,
        vanishing: float = 1e-3,
        dead: float = 0.5,
        saturated: float = 0.5,
        print_fn: Callable[[str], Any] | None = print,
    ) -> None:
        self.vanishing = real(vanishing, "vanishing")
        self.dead = real(dead, "dead")
        self.saturated = real(saturated, "saturated")
        for name, value in (("dead", self.dead), ("saturated", self.saturated)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a share between 0 and 1. Received: {name}={value}")
        self.print_fn = print_fn
        self.records: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self._watches: list[_Watch] = []
        self._before: list[list[np.ndarray] | None] = []

    # -- hooks ---------------------------------------------------------------------
    def on_train_begin(self) -> None:
        self.records, self.warnings = [], []
        self._fired: set[Any] = set()
        self._losses: list[float] = []
        self._before = []
        self._epoch, self._batch = 0, 0
        self._nan_seen = False
        layers = list(self.model.layers) if isinstance(self.model, Sequential) else [self.model]
        self._watches = [_Watch(i, layer) for i, layer in enumerate(layers)]
        for watch in self._watches:
            watch.previous = vars(watch.layer).get("forward")  # a forward already set on this object, kept
            watch.layer.forward = self._observer(watch)  # type: ignore[method-assign,assignment]

    def _observer(self, watch: _Watch) -> Callable[[np.ndarray], np.ndarray]:
        forward = watch.layer.forward

        def observed(x: np.ndarray) -> np.ndarray:
            y = forward(x)
            if watch.layer.training and not watch.observe(y) and not self._nan_seen:
                self._nan(f"in layer {watch.index}'s ({watch.name}) output")
            return y

        return observed

    def on_before_optimizer_step(self) -> None:
        self._before.clear()
        for watch in self._watches:
            if not watch.params:
                self._before.append(None)
                continue
            sq = sum(float(np.vdot(p.grad, p.grad)) for p in watch.params)
            if not math.isfinite(sq) and not self._nan_seen:
                self._nan(f"in the gradient of layer {watch.index} ({watch.name})")
            watch.grad_norms.append(math.sqrt(sq))
            self._before.append([p.data.copy() for p in watch.params])

    def on_batch_end(self, batch: int, loss: float) -> None:
        self._batch = batch
        for watch, before in zip(self._watches, self._before):
            if before is None:
                continue
            step = math.sqrt(sum(float(np.sum((p.data - b) ** 2)) for p, b in zip(watch.params, before)))
            size = math.sqrt(sum(float(np.vdot(b, b)) for b in before))
            if size > 0 and math.isfinite(step):
                watch.ratios.append(step / size)
        self._before.clear()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        rows = [watch.summary(epoch) for watch in self._watches]
        self.records += rows
        self._losses.append(logs.get("loss", math.nan))
        self._check(epoch, rows)
        for watch in self._watches:
            watch.reset()
        self._epoch = epoch + 1

    def on_train_end(self) -> None:
        self.restore()

    def restore(self) -> None:
        """Remove the observers from the layers (``on_train_end`` does; call it after an exception)."""
        for watch in self._watches:
            vars(watch.layer).pop("forward", None)
            if watch.previous is not None:
                watch.layer.forward = watch.previous  # type: ignore[method-assign,assignment]
        self._watches = []

    # -- warnings --------------------------------------------------------------------
    def _warn(self, key: Any, text: str) -> None:
        if key in self._fired:
            return
        self._fired.add(key)
        self.warnings.append(text)
        if self.print_fn is not None:
            self.print_fn(f"diagnostics: {text}")

    def _nan(self, where: str) -> None:
        self._nan_seen = True
        self._warn(
            "nan",
            f"NaN or inf first appeared in epoch {self._epoch + 1}, batch {self._batch + 1}, {where}: "
            "lower the learning rate, clip the gradients (gn.GradientClipping), or check the inputs for NaN",
        )

    def _check(self, epoch: int, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            label = f"layer {row['layer']}'s ({row['name']})"
            if row["dead"] is not None and row["dead"] > self.dead:
                self._warn(
                    ("dead", row["layer"]),
                    f"{row['dead']:.0%} of {label} units were never positive in epoch {epoch + 1}: dead ReLUs; "
                    "lower the learning rate, or try LeakyReLU or He initialisation",
                )
            if row["saturated"] is not None and row["saturated"] > self.saturated:
                self._warn(
                    ("saturated", row["layer"]),
                    f"{row['saturated']:.0%} of {label} outputs are saturated in epoch {epoch + 1} (within "
                    f"{SATURATION_MARGIN} of an asymptote, where the derivative is near 0): scale the inputs, "
                    "start from smaller weights, or use ReLU",
                )
        rms = [
            (row, row["grad_norm"] / math.sqrt(sum(p.data.size for p in w.params)))
            for row, w in zip(rows, self._watches)
            if row["grad_norm"] is not None and w.params
        ]
        rms = [(row, r) for row, r in rms if math.isfinite(r)]
        if len(rms) > 1:
            top_row, top = max(rms, key=lambda t: t[1])
            low_row, low = min(rms, key=lambda t: t[1])
            if top > 0 and low / top < self.vanishing:
                self._warn(
                    "vanishing",
                    f"layer {low_row['layer']}'s ({low_row['name']}) gradients are {low / top:.0e} of layer "
                    f"{top_row['layer']}'s ({top_row['name']}) in epoch {epoch + 1}: vanishing gradients; "
                    "try ReLU or He initialisation",
                )
        last = self._losses[-4:]
        if len(last) == 4 and all(b > a for a, b in zip(last, last[1:])):
            self._warn(
                "rising",
                f"the loss rose three epochs in a row (epochs {epoch - 1} to {epoch + 1}: "
                f"{last[0]:.4g} to {last[-1]:.4g}): the learning rate is likely too high; try a tenth of it",
            )

    # -- reading the records -----------------------------------------------------------
    def table(self, epoch: int | None = None) -> str:
        """The records of one epoch (default: the last) as a text table."""
        if not self.records:
            return "(no epoch recorded)"
        epoch = self.records[-1]["epoch"] if epoch is None else epoch
        rows = [r for r in self.records if r["epoch"] == epoch]

        def cell(value: float | None, fmt: str, width: int) -> str:
            empty = value is None or (isinstance(value, float) and math.isnan(value))
            return f"{'-':>{width}}" if empty else format(value, f"{width}{fmt}")

        lines = [f"diagnostics, epoch {epoch + 1}:"]
        lines.append(
            f"  {'layer':<16} {'act mean':>9} {'act std':>9} {'saturated':>9} {'dead':>6} {'grad norm':>10} {'update/W':>9}"
        )
        for r in rows:
            lines.append(
                f"  {str(r['layer']) + ' ' + r['name']:<16} {cell(r['act_mean'], '.3g', 9)} {cell(r['act_std'], '.3g', 9)}"
                f" {cell(r['saturated'], '.1%', 9)} {cell(r['dead'], '.1%', 6)} {cell(r['grad_norm'], '.3g', 10)}"
                f" {cell(r['update_ratio'], '.2g', 9)}"
            )
        return "\n".join(lines)

    def plot(self, path: str, title: str = "") -> None:
        """Write the per-layer gradient norms and update ratios over the epochs as a PNG (needs matplotlib)."""
        from glassnet.plot import pyplot

        plt = pyplot()
        from matplotlib.ticker import MaxNLocator

        fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.4), dpi=100)
        layers = sorted({(r["layer"], r["name"]) for r in self.records if r["grad_norm"] is not None})
        for index, name in layers:
            rows = [r for r in self.records if r["layer"] == index]
            epochs = [r["epoch"] + 1 for r in rows]
            left.plot(epochs, [r["grad_norm"] or math.nan for r in rows], marker="o", label=f"{index} {name}")
            right.plot(epochs, [r["update_ratio"] or math.nan for r in rows], marker="o", label=f"{index} {name}")
        right.axhline(1e-3, color="grey", linestyle="--", linewidth=1, label="1e-3, a healthy ratio")
        for ax in (left, right):
            ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        left.set(title="gradient norm per layer", ylabel="L2 norm of dW, db (mean over batches, log scale)")
        right.set(title="update-to-weight ratio per layer", ylabel="||ΔW|| / ||W|| per step (log scale)")
        right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the lines, never over them
        fig.suptitle(title or "glassnet diagnostics")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
