"""A language model's run for ``glassnet train``: the header, the loop, the model file and the curve.

``--data shakespeare`` and a text file of one's own (``--data story.txt``) differ only in where
their text and vocabulary come from; from there both run ``run_character_model``. GPT-2
(``glassnet.cli.gpt2_train``) has its own run, and shares the curve (``plot_steps``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

from glassnet.cli import text_recipes
from glassnet.cli.common import output_files, plural
from glassnet.cli.errors import EXIT_INTERRUPTED
from glassnet.cli.lock import hold_folder
from glassnet.cli.runs import StopOnInterrupt, interruptible
from glassnet.datasets.text import CharTokenizer, windows
from glassnet.io import save
from glassnet.text_training import StepLog, TextRecipe, train_steps, validation_loss

__all__ = ["run_character_model", "plot_steps"]


def run_character_model(
    args: argparse.Namespace,
    s: TextRecipe,
    tokenizer: CharTokenizer,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    *,
    out: str,
    title: str,
    metadata: dict[str, Any],
    steps_note: str = "",
) -> int:
    """Train ``s.build(...)`` on the token ids for ``s.steps`` steps, save it to ``out`` with its vocabulary.

    ``metadata`` holds what the caller knows of the data (its name, kind, preprocessing); the run adds
    the model, the vocabulary, the settings that ran, the validation loss and the curve.
    """
    started = time.perf_counter()
    s, schedule = text_recipes.fit_schedule(s)  # what runs, as the header says it
    model_path, plot_path = output_files(out, "--out", "model.gnet", "curves.png")
    hold_folder(out)
    model = s.build(tokenizer.vocab_size, s.context, args.seed)
    optimizer = s.optimizer(model, s)
    n_params = sum(p.data.size for p in model.parameters())
    print(
        f"glassnet train: {args.data}, {args.model} ({plural(n_params, 'parameter')}); "
        f"{len(train_ids):,} training and {len(val_ids):,} validation characters, vocabulary {tokenizer.vocab_size}"
    )
    print(
        f"  {s.describe}\n  {plural(s.steps, 'step')}{steps_note}, batch {s.batch_size}, context {s.context}, "
        f"lr {s.lr:g} ({schedule}), clip {s.clip}, seed {args.seed}"
    )
    print("  (Ctrl-C stops after the current step and saves the model trained so far)", flush=True)
    stop = StopOnInterrupt(batches=s.steps)
    with interruptible(stop):
        log = train_steps(
            model,
            windows(train_ids, s.context),
            windows(val_ids, s.context),
            optimizer,
            s,
            seed=args.seed,
            should_stop=lambda: stop.requested,
        )
    print(f"training: {log.seconds:.1f}s ({1000 * log.seconds / max(1, len(log.losses)):.1f} ms a step)", flush=True)
    val_loss = validation_loss(model, val_ids, s.context)
    record: dict[str, Any] = {
        **metadata,
        "model": args.model,
        "input_shape": [s.context],
        "vocabulary": tokenizer.to_config(),  # what glassnet generate reads
        "seed": args.seed,
        "settings": {
            "steps": s.steps,
            "batch_size": s.batch_size,
            "context": s.context,
            "lr": s.lr,
            "min_lr": s.min_lr,
            "warmup_steps": s.warmup_steps,
            "clip": s.clip,
        },
        "validation_loss": val_loss,
        "curve": {"step_loss": log.losses, "eval_steps": log.eval_steps, "train": log.eval_train, "val": log.eval_val},
    }
    if log.stopped_at is not None:
        record["interrupted"] = {"epoch": 1, "batch": log.stopped_at, "batches": s.steps}
    save(model, model_path, metadata=json.loads(json.dumps(record)))  # NaN estimates become JSON-safe
    print(f"model saved to {model_path} (with its vocabulary: glassnet generate {model_path} --prompt ...)")
    plot_steps(log, plot_path, title, val_loss, "nats per character")
    print(f"total time: {time.perf_counter() - started:.1f}s")
    if log.stopped_at is not None:
        print(f"interrupted after {plural(log.stopped_at, 'step')} of {s.steps}")
    print(f"validation loss: {val_loss:.4f}")
    return EXIT_INTERRUPTED if log.stopped_at is not None else 0


def plot_steps(log: StepLog, path: str, title: str, val_loss: float | None, unit: str) -> None:
    """The loss of every step, the periodic train/val estimates and the whole split's validation loss."""
    try:
        from glassnet.plot import pyplot

        plt = pyplot()
    except ImportError as err:
        print(f"no plot: {err}")
        return
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(range(len(log.losses)), log.losses, lw=0.6, alpha=0.5, label="training batch")
    ax.plot(log.eval_steps, log.eval_train, marker="o", label="train (estimate)")
    if not all(math.isnan(v) for v in log.eval_val):
        ax.plot(log.eval_steps, log.eval_val, marker="o", label="val (estimate)")
    if val_loss is not None:
        label = f"validation loss {val_loss:.4f} (whole split)"
        ax.plot([len(log.losses)], [val_loss], marker="*", ms=12, ls="", label=label)
    ax.set(title=title, xlabel="step", ylabel=f"cross-entropy ({unit})")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"loss curve saved to {path}")
