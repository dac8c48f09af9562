"""Language models on text: the training loop over random windows, and the validation loss.

nanoGPT trains for a number of steps, not epochs: each step draws a batch of
random windows from the training tokens (``datasets.random_batch`` over the
strided ``datasets.windows`` view), runs forward and backward, clips the
gradient norm and updates, with the learning rate of a warm-up + cosine
schedule. ``train_steps`` is that loop, with its settings in a ``TextRecipe``;
``validation_loss`` is the metric ``glassnet train`` reports: the mean
cross-entropy in nats per token over the whole validation split, cut into
non-overlapping context-length windows. ``glassnet train --data shakespeare``
(its recipes are in ``glassnet.cli.text_recipes``) and GPT-2's fine-tuning
(``glassnet.models.gpt2.finetune``) both run this loop.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet._checks import as_rng, positive_int
from glassnet.datasets.text import random_batch, sequential_windows
from glassnet.losses import CrossEntropyLoss
from glassnet.module import Module
from glassnet.optim import Optimizer, WarmupCosineLR
from glassnet.training import train_step

__all__ = ["TextRecipe", "StepLog", "train_steps", "validation_loss", "estimate_loss"]


@dataclass
class TextRecipe:
    """How ``glassnet train`` builds and trains one kind of language model.

    ``build(vocab_size, context, seed)`` returns the model; ``optimizer(model, s)``
    the optimizer for settings ``s`` (this recipe with the command line's overrides).
    """

    build: Callable[[int, int, int], Module]
    optimizer: Callable[[Module, TextRecipe], Optimizer]
    steps: int = 2000
    batch_size: int = 12
    context: int = 64
    lr: float = 1e-3
    min_lr: float | None = 1e-4  # cosine decay to min_lr; None: a constant rate
    warmup_steps: int = 100
    clip: float | None = 1.0
    eval_interval: int = 250
    eval_batches: int = 20
    describe: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, **overrides: Any) -> TextRecipe:
        values = {**self.__dict__, **{k: v for k, v in overrides.items() if v is not None}}
        return TextRecipe(**values)


def estimate_loss(model: Module, view: np.ndarray, batch_size: int, batches: int, rng: np.random.Generator) -> float:
    """Mean loss over ``batches`` random batches of windows, in eval mode (nanoGPT's estimate_loss)."""
    loss = CrossEntropyLoss()
    was_training = model.training
    model.eval()
    try:
        return float(
            np.mean([loss(model(x), y) for x, y in (random_batch(view, batch_size, rng) for _ in range(batches))])
        )
    finally:
        model.train(was_training)


def validation_loss(model: Module, tokens: np.ndarray, context: int, batch_size: int = 64) -> float:
    """Mean cross-entropy (nats per token) over all of ``tokens``, in non-overlapping ``context``-long windows.

    Every window predicts its ``context`` next tokens; the mean is over every
    predicted token of every window (the last incomplete window is left out).
    """
    x, y = sequential_windows(tokens, context)
    batch_size = positive_int(batch_size, "batch_size")
    loss = CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            total += loss(model(xb), yb) * len(xb)  # loss is the mean over the batch's tokens
    finally:
        model.train(was_training)
    return total / len(x)


PROGRESS_SECONDS = 10.0  # without a live bar, a progress line at least this often


class _StepProgress:
    """Progress between evaluations: a live tqdm bar on a terminal, otherwise a line every PROGRESS_SECONDS."""

    def __init__(self, steps: int, report: Callable[[str], None] | None) -> None:
        self.steps, self.report = steps, report
        self.bar: Any = None
        self.started = self.last = time.perf_counter()
        if report is print and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=steps, unit="step", leave=False)

    def step(self, done: int, loss: float, evaluated: bool) -> None:
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        elif self.report is not None and not evaluated and now - self.last >= PROGRESS_SECONDS:
            self.report(
                f"step {done:>{len(str(self.steps))}}/{self.steps}: batch loss {loss:.4f}, "
                f"{1000 * (now - self.started) / done:.0f} ms a step, {now - self.started:.1f}s"
            )
            self.last = now
        if evaluated:  # the evaluation's line is the report of this moment
            self.last = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@dataclass
class StepLog:
    """What ``train_steps`` records: the loss of every step, and the estimates at each evaluation."""

    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_train: list[float] = field(default_factory=list)
    eval_val: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_at: int | None = None


def train_steps(
    model: Module,
    train_view: np.ndarray,
    val_view: np.ndarray | None,
    optimizer: Optimizer,
    s: TextRecipe,
    seed: int = 0,
    report: Callable[[str], None] | None = print,
    should_stop: Callable[[], bool] = lambda: False,
) -> StepLog:
    """``s.steps`` steps of nanoGPT's loop on random windows; returns the StepLog.

    Each step: a batch from ``train_view`` (rows of ``datasets.windows``),
    forward, cross-entropy, backward, ``clip_grad_norm(s.clip)``, the
    optimizer step, then the schedule. Every ``s.eval_interval`` steps (and at
    the end) the train and val losses are estimated on ``s.eval_batches``
    random batches and reported. ``should_stop()`` is asked after every step
    (Ctrl-C): training then ends early with ``stopped_at`` set.
    """
    rng = as_rng(seed)
    eval_rng = np.random.default_rng(rng.integers(2**63))  # estimates don't shift the training batches
    schedule = (
        WarmupCosineLR(optimizer, s.warmup_steps, s.steps, s.min_lr)
        if s.min_lr is not None and s.steps > s.warmup_steps
        else None
    )
    loss = CrossEntropyLoss()
    log = StepLog()
    started = time.perf_counter()
    model.train()
    model.set_input_grad(False)  # nothing consumes a gradient for the token ids

    def evaluate(step: int) -> None:
        log.eval_steps.append(step)
        log.eval_train.append(estimate_loss(model, train_view, s.batch_size, s.eval_batches, eval_rng))
        val = (
            estimate_loss(model, val_view, s.batch_size, s.eval_batches, eval_rng) if val_view is not None else math.nan
        )
        log.eval_val.append(val)
        if report is not None:
            report(
                f"step {step:>{len(str(s.steps))}}/{s.steps}: train loss {log.eval_train[-1]:.4f}, "
                f"val loss {val:.4f}, lr {optimizer.lr:.2e}, {time.perf_counter() - started:.1f}s"
            )

    progress = _StepProgress(s.steps, report)
    try:
        for step in range(s.steps):
            if step % s.eval_interval == 0:
                evaluate(step)
            x, y = random_batch(train_view, s.batch_size, rng)
            log.losses.append(train_step(model, loss, optimizer, x, y, clip=s.clip))
            if schedule is not None:
                schedule.step()
            if not math.isfinite(log.losses[-1]):
                raise FloatingPointError(f"the training loss became {log.losses[-1]} at step {step}; lower --lr")
            # a line between evaluations, not next to one (the last step is followed by the last report)
            progress.step(step + 1, log.losses[-1], evaluated=(step + 1) % s.eval_interval == 0 or step + 1 == s.steps)
            if should_stop():
                log.stopped_at = step + 1
                break
        progress.close()
        evaluate(len(log.losses))  # the last report
    finally:
        progress.close()
        model.set_input_grad(True)
    log.seconds = time.perf_counter() - started
    return log
