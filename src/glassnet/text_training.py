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
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet._checks import as_rng, positive_int
from glassnet.checkpoint import restore_steps, save_checkpoint
from glassnet.datasets.text import random_batch, sequential_windows
from glassnet.distributed import data_digest
from glassnet.history import History, TrainingRun
from glassnet.losses import CrossEntropyLoss
from glassnet.module import Module
from glassnet.optim import Optimizer, WarmupCosineLR
from glassnet.training import replicas_for, train_step

__all__ = ["TextRecipe", "StepLog", "train_steps", "validation_loss", "estimate_loss", "tokens_digest"]


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

    def __init__(self, steps: int, report: Callable[[str], None] | None, start: int = 0) -> None:
        self.steps, self.report, self.start = steps, report, start  # start: the steps done before (a resume)
        self.bar: Any = None
        self.started = self.last = time.perf_counter()
        if report is print and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=steps, initial=start, unit="step", leave=False)

    def step(self, done: int, loss: float, evaluated: bool) -> None:
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        elif self.report is not None and not evaluated and now - self.last >= PROGRESS_SECONDS:
            self.report(
                f"step {done:>{len(str(self.steps))}}/{self.steps}: batch loss {loss:.4f}, "
                f"{1000 * (now - self.started) / max(1, done - self.start):.0f} ms a step, {now - self.started:.1f}s"
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
    """What ``train_steps`` records: the loss of every step, and the estimates at each evaluation.

    A resumed run's log holds the steps before the resume too; ``resumed_at`` says how many there
    were (0 for a fresh run) and ``seconds`` counts this call's time only.
    """

    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_train: list[float] = field(default_factory=list)
    eval_val: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_at: int | None = None
    resumed_at: int = 0

    def curve(self) -> dict[str, list[Any]]:
        """The losses as a model file's metadata keeps them (``glassnet train`` writes it as "curve")."""
        return {"step_loss": self.losses, "eval_steps": self.eval_steps, "train": self.eval_train, "val": self.eval_val}

    def timing(self) -> str:
        """This call's training time and time a step, e.g. "training: 12.3s (41.0 ms a step)"."""
        steps = max(1, len(self.losses) - self.resumed_at)
        return f"training: {self.seconds:.1f}s ({1000 * self.seconds / steps:.1f} ms a step)"

    def state(self) -> dict[str, list[Any]]:
        """The lists a checkpoint keeps."""
        return {"losses": self.losses, "eval_steps": self.eval_steps, "eval_train": self.eval_train,
                "eval_val": self.eval_val}  # fmt: skip


def tokens_digest(view: np.ndarray) -> str:
    """A fingerprint of the tokens behind ``windows(tokens, context)``: a resumed run must train on the same."""
    return data_digest(np.concatenate([view[:, 0], view[-1, 1:]]))


def train_steps(
    model: Module,
    train_view: np.ndarray,
    val_view: np.ndarray | None,
    optimizer: Optimizer,
    s: TextRecipe,
    seed: int = 0,
    report: Callable[[str], None] | None = print,
    should_stop: Callable[[], bool] = lambda: False,
    checkpoint: str | os.PathLike[str] | None = None,
    resume_from: str | os.PathLike[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> StepLog:
    """``s.steps`` steps of nanoGPT's loop on random windows; returns the StepLog.

    Each step: a batch from ``train_view`` (rows of ``datasets.windows``),
    forward, cross-entropy, backward, ``clip_grad_norm(s.clip)``, the
    optimizer step, then the schedule. Every ``s.eval_interval`` steps (and at
    the end) the train and val losses are estimated on ``s.eval_batches``
    random batches and reported. ``should_stop()`` is asked after every step
    (Ctrl-C): training then ends early with ``stopped_at`` set.

    Checkpoints (``glassnet.checkpoint``'s format, with the loop's own state):
    with ``checkpoint`` a path, the run is written there every ``s.eval_interval``
    steps, when ``should_stop()`` ends it and after the last step, with
    ``metadata``; ``resume_from`` continues such a run, bit for bit as if it had
    never stopped: the weights, AdamW's moments, the schedule, both generators
    (the batches' and the estimates') and the log are restored, after checking
    that the model, optimizer, batch, number of steps and tokens are the run's.
    A finished run's checkpoint trains nothing and gives its final report again.
    """
    rng = as_rng(seed)
    if (checkpoint is not None or resume_from is not None) and not isinstance(rng.bit_generator, np.random.PCG64):
        raise ValueError(
            "seed must be an int or a Generator of NumPy's default PCG64 for a run with checkpoints. "
            f"Received: a Generator of {type(rng.bit_generator).__name__}"
        )
    eval_rng = np.random.default_rng(rng.integers(2**63))  # estimates don't shift the training batches
    schedule = (
        WarmupCosineLR(optimizer, s.warmup_steps, s.steps, s.min_lr)
        if s.min_lr is not None and s.steps > s.warmup_steps
        else None
    )
    loss = CrossEntropyLoss()
    log = StepLog()
    run = TrainingRun(model, optimizer, rng, History(), [schedule] if schedule is not None else [],
                      samples=len(train_view), batch_size=s.batch_size)  # fmt: skip
    digest = tokens_digest(train_view) if checkpoint is not None or resume_from is not None else ""
    if resume_from is not None:
        state = restore_steps(resume_from, run, s.steps, digest)
        eval_rng.bit_generator.state = state["eval_rng"]
        for key, values in state["log"].items():
            setattr(log, key, list(values))
        log.resumed_at = len(log.losses)

    def save() -> None:
        if checkpoint is not None:
            loop = {"total": s.steps, "data": digest, "eval_rng": eval_rng.bit_generator.state, "log": log.state()}
            save_checkpoint(checkpoint, run, metadata=metadata, steps=loop)

    started = time.perf_counter()
    model.train()

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

    progress = _StepProgress(s.steps, report, start=log.resumed_at)
    replicas = None
    try:
        model.set_input_grad(False)  # nothing consumes a gradient for the token ids
        replicas = replicas_for(model, loss)  # more than one glassnet thread: each takes a share of every batch
        for step in range(log.resumed_at, s.steps):
            if step % s.eval_interval == 0:
                evaluate(step)
            x, y = random_batch(train_view, s.batch_size, rng)
            log.losses.append(train_step(model, loss, optimizer, x, y, clip=s.clip, replicas=replicas))
            if schedule is not None:
                schedule.step()
            if not math.isfinite(log.losses[-1]):
                raise FloatingPointError(f"the training loss became {log.losses[-1]} at step {step}; lower --lr")
            done = step + 1
            # a line between evaluations, not next to one (the last step is followed by the last report)
            progress.step(
                done - log.resumed_at, log.losses[-1], evaluated=done % s.eval_interval == 0 or done == s.steps
            )
            stop = should_stop()
            if stop or done % s.eval_interval == 0 or done == s.steps:
                save()  # before the last estimate, which a resumed run makes again
            if stop:
                log.stopped_at = done
                break
        progress.close()
        evaluate(len(log.losses))  # the last report
    finally:
        progress.close()
        model.set_input_grad(True)
        if replicas is not None:
            replicas.close()
    log.seconds = time.perf_counter() - started
    return log
