"""A language model's run for ``glassnet train``: the header, the loop, the model file and the curve.

``--data shakespeare`` and a text file of one's own (``--data story.txt``) differ only in where
their text and vocabulary come from; from there both run ``run_character_model``. GPT-2
(``glassnet.cli.gpt2_train``) has its own run, and shares the curve (``plot_steps``) and the
checkpoints: every run writes ``--out/checkpoint.gnet`` at each evaluation, on Ctrl-C and at the
end, with the flags that made it (``run_flags``); ``glassnet train --resume DIR`` puts those flags
back (``resume_args``) and continues the run bit for bit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.checkpoint import Checkpoint, finite_number
from glassnet.cli import text_recipes
from glassnet.cli.common import CHECKPOINT, output_files, plural
from glassnet.cli.errors import EXIT_INTERRUPTED, CommandError
from glassnet.cli.lock import hold_folder
from glassnet.cli.runs import StopOnInterrupt, interruptible
from glassnet.datasets.text import CharTokenizer, windows
from glassnet.io import save
from glassnet.text_training import StepLog, TextRecipe, train_steps, validation_loss

__all__ = ["run_character_model", "plot_steps", "run_flags", "resume_args", "resuming", "how_to_resume", "RUN_FLAGS"]

# the flags that make a language model's run: stored in its checkpoint, put back by --resume
RUN_FLAGS = ("data", "model", "seed", "steps", "batch_size", "context", "lr", "eval_interval", "init", "vocab_size",
             "encoding")  # fmt: skip
_COUNTS = ("steps", "batch_size", "context", "eval_interval", "vocab_size")


_PATHS = ("data", "init")  # stored absolute, so that --resume works from another folder


def _absolute(key: str, value: Any) -> Any:
    """A path flag's value as an absolute path (a file or folder that exists); any other value as it is."""
    if key in _PATHS and isinstance(value, str) and os.path.exists(value):
        return os.path.abspath(value)
    return value


def run_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The flags of this run as given (None: the recipe's default; paths made absolute), for its checkpoint."""
    return {key: _absolute(key, getattr(args, key, None)) for key in RUN_FLAGS}


def _check_flags(flags: Any, path: str) -> dict[str, Any]:
    """The flags a checkpoint stores, checked as the command line checks its own."""
    if not isinstance(flags, dict) or set(flags) != set(RUN_FLAGS):
        raise CommandError(f"--resume: {path} was not written by glassnet train (no run flags in it)")

    def bad(key: str, what: str) -> CommandError:
        return CommandError(f"--resume: {path}: the stored flag {key} must be {what}. Received: {short(flags[key])}")

    for key in ("data", "model"):
        if not isinstance(flags[key], str) or not flags[key]:
            raise bad(key, "a name")
    seed = flags["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise bad("seed", "an integer >= 0")
    for key in _COUNTS:
        value = flags[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise bad(key, "an integer >= 1 or null")
    lr = flags["lr"]
    if lr is not None and (not finite_number(lr) or lr <= 0):
        raise bad("lr", "a number > 0 or null")
    for key in ("init", "encoding"):
        if flags[key] is not None and not isinstance(flags[key], str):
            raise bad(key, "a string or null")
    return flags


def resume_args(args: argparse.Namespace, path: str, ck: Checkpoint) -> None:
    """``--resume`` of a language model's run: its flags put into ``args`` (a flag given must agree)."""
    flags = _check_flags(ck.metadata.get("flags"), path)
    for key in RUN_FLAGS:
        given, flag = getattr(args, key, None), "--" + key.replace("_", "-")
        if given is not None and _absolute(key, given) != flags[key]:
            was = "not given" if flags[key] is None else f"{flag} {flags[key]}"
            raise CommandError(
                f"{flag} {given} differs from the run being resumed ({was}): leave it out to continue it"
            )
        setattr(args, key, flags[key])
    steps = ck.steps or {}
    args.resume_from, args.resume_step, args.resume_total = path, len(steps["log"]["losses"]), steps["total"]
    if args.out is None:
        args.out = os.path.dirname(path) or "."


def resuming(args: argparse.Namespace, out: str, model_path: str) -> bool:
    """Say where a resumed run continues; True when it is finished and its model is written (nothing to do)."""
    if getattr(args, "resume_from", None) is None:
        return False
    step, total = args.resume_step, args.resume_total
    if step < total:
        print(f"  resuming from step {step}/{total} ({args.resume_from})")
        return False
    if os.path.isfile(model_path):
        print(
            f"the run in {out} is finished (step {step} of {total}): nothing left to train; its model is {model_path}"
        )
        return True
    print(f"the run in {out} is finished (step {step} of {total}) but its model file is missing: writing {model_path}")
    return False


def how_to_resume(out: str, checkpoint_path: str, done: int, total: int) -> None:
    """After Ctrl-C: the checkpoint that continues the run, and the command."""
    print(
        f"the checkpoint {checkpoint_path} continues the run from step {done}/{total}: glassnet train --resume {out}",
        file=sys.stderr,
    )


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
    model_path, plot_path, checkpoint_path = output_files(out, "--out", "model.gnet", "curves.png", CHECKPOINT)
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
    if resuming(args, out, model_path):
        return 0
    print(
        f"  (Ctrl-C stops after the current step and saves the model trained so far; {CHECKPOINT}, written every "
        f"{plural(s.eval_interval, 'step')}, resumes the run: --resume)",
        flush=True,
    )
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
            checkpoint=checkpoint_path,
            resume_from=getattr(args, "resume_from", None),
            metadata={"flags": run_flags(args)},
        )
    print(log.timing(), flush=True)
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
        "curve": log.curve(),
    }
    if log.stopped_at is not None:
        record["interrupted"] = {"epoch": 1, "batch": log.stopped_at, "batches": s.steps}
    save(model, model_path, metadata=json.loads(json.dumps(record)))  # NaN estimates become JSON-safe
    print(f"model saved to {model_path} (with its vocabulary: glassnet generate {model_path} --prompt ...)")
    plot_steps(log, plot_path, title, val_loss, "nats per character")
    print(f"total time: {time.perf_counter() - started:.1f}s")
    if log.stopped_at is not None:
        print(f"interrupted after {plural(log.stopped_at, 'step')} of {s.steps}")
        how_to_resume(out, checkpoint_path, log.stopped_at, s.steps)
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
