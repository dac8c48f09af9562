"""Language models on text: the training loop over random windows, the validation loss, the recipes.

nanoGPT trains for a number of steps, not epochs: each step draws a batch of
random windows from the training tokens (``datasets.random_batch`` over the
strided ``datasets.windows`` view), runs forward and backward, clips the
gradient norm and updates, with the learning rate of a warm-up + cosine
schedule. ``train_steps`` is that loop; ``validation_loss`` is the metric
``glassnet train`` reports: the mean cross-entropy in nats per token over the
whole validation split, cut into non-overlapping context-length windows.

``RECIPES`` holds one recipe per ``--model`` of ``glassnet train --data shakespeare``;
a new model family adds a row (a builder and its defaults).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet._checks import as_rng, positive_int
from glassnet.datasets.text import random_batch, sequential_windows
from glassnet.losses import CrossEntropyLoss
from glassnet.module import Module
from glassnet.optim import Adam, AdamW, Optimizer, WarmupCosineLR
from glassnet.training import train_step

__all__ = ["TextRecipe", "RECIPES", "train_steps", "validation_loss", "estimate_loss"]


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


def _gpt(vocab_size: int, context: int, seed: int) -> Module:
    from glassnet.models import gpt

    return gpt(vocab_size, context, n_layer=4, n_head=4, n_embd=128, rng=seed)


def _gpt_optimizer(model: Module, s: TextRecipe) -> Optimizer:
    from glassnet.models import gpt_param_groups

    return AdamW(gpt_param_groups(model, weight_decay=0.1), lr=s.lr, betas=(0.9, 0.99))


# nanoGPT's Tiny Shakespeare CPU recipe (its README): 4 layers, 4 heads, 128 wide, context 64,
# batch 12, 2,000 steps, AdamW lr 1e-3 (betas 0.9, 0.99; weight decay 0.1 on matrices),
# 100 warm-up steps, cosine decay to 1e-4, clipping at 1.0, no dropout.
RECIPES: dict[str, TextRecipe] = {
    "gpt": TextRecipe(
        build=_gpt,
        optimizer=_gpt_optimizer,
        describe="GPT 4 layers x 4 heads x 128, AdamW (0.9, 0.99) weight decay 0.1",
    ),
}


def _char_rnn(cell: str) -> Callable[[int, int, int], Module]:
    def build(vocab_size: int, context: int, seed: int) -> Module:
        from glassnet.models.char_rnn import CharRNN

        return CharRNN(vocab_size, embedding_dim=64, hidden_size=256, cell=cell, rng=seed)

    return build


def _adam(model: Module, s: TextRecipe) -> Optimizer:
    return Adam(model.parameters(), lr=s.lr)


# The character LSTM: Embedding(65, 64) -> LSTM(64, 256) -> Linear(256, 65), context 64, batch 32,
# Adam lr 2e-3 (constant), clipping at 1.0, 2,000 steps; "rnn" is the same recipe with a tanh RNN cell.
for _cell, _name in (("lstm", "LSTM"), ("rnn", "tanh RNN")):
    RECIPES[_cell] = TextRecipe(
        build=_char_rnn(_cell),
        optimizer=_adam,
        batch_size=32,
        lr=2e-3,
        min_lr=None,
        warmup_steps=0,
        describe=f"Embedding(V, 64) -> {_name}(64, 256) -> Linear(256, V), Adam; generation carries the state",
    )


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
            if should_stop():
                log.stopped_at = step + 1
                break
        evaluate(len(log.losses))
    finally:
        model.set_input_grad(True)
    log.seconds = time.perf_counter() - started
    return log
