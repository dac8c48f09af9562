"""``glassnet train --data shakespeare`` and ``glassnet generate``: character-level language models.

cli.py adds the arguments (``add_train_args``, ``generate_args``) and
commands.py hands text data sets over to ``train`` here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from glassnet.cli import CommandError
from glassnet.datasets.text import CharTokenizer, shakespeare, windows
from glassnet.io import load, save
from glassnet.text import RECIPES, StepLog, TextRecipe, train_steps, validation_loss

__all__ = ["TEXT_DATASETS", "add_train_args", "generate_args", "train", "generate"]

TEXT_DATASETS = ("shakespeare",)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_train_args(p: argparse.ArgumentParser) -> None:
    """The flags of ``glassnet train`` that only language models use."""
    p.add_argument("--steps", type=_positive_int, help="language models: training steps (default: the recipe's, 2000)")
    p.add_argument("--context", type=_positive_int, help="language models: characters of context (default 64)")
    p.add_argument("--eval-interval", type=_positive_int, help="language models: steps between loss reports (250)")


def generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a language model written by glassnet train (model.gnet)")
    p.add_argument("--prompt", default="\n", help="the text to continue (default: a new line)")
    p.add_argument("--length", type=_positive_int, default=500, help="characters to generate (default 500)")
    p.add_argument(
        "--temperature", type=_positive_float, default=0.8, help="below 1: safer choices; above 1: wilder (default 0.8)"
    )
    p.add_argument("--top-k", type=_positive_int, default=None, help="sample among the k likeliest characters only")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling: the same seed, the same text (default 0)")


def _settings(args: argparse.Namespace) -> TextRecipe:
    if args.model not in RECIPES:
        raise CommandError(
            f"--model {args.model} is not a language model; for --data {args.data} use one of {sorted(RECIPES)}"
        )
    for flag in ("epochs", "optimizer"):
        if getattr(args, flag, None) is not None:
            raise CommandError(
                f"--{flag} does not apply to --data {args.data}, which trains for --steps with its recipe's optimizer (AdamW for gpt, Adam for lstm and rnn)"
            )
    s = RECIPES[args.model].with_overrides(
        steps=getattr(args, "steps", None),
        batch_size=args.batch_size,
        context=getattr(args, "context", None),
        lr=args.lr,
        eval_interval=getattr(args, "eval_interval", None),
    )
    if s.min_lr is not None and s.min_lr > s.lr:
        s = s.with_overrides(min_lr=s.lr)
    return s


def train(args: argparse.Namespace) -> int:
    from glassnet.commands import _output_files, plural
    from glassnet.runs import StopOnInterrupt, interruptible

    started = time.perf_counter()
    s = _settings(args)
    out = args.out or os.path.join("runs", f"{args.data}-{args.model}")
    model_path, plot_path = _output_files(out, "--out", "model.gnet", "curves.png")
    train_text, val_text = shakespeare()
    tokenizer = CharTokenizer.from_text(train_text + val_text)  # nanoGPT's vocabulary: every character of the corpus
    train_ids, val_ids = tokenizer.encode(train_text), tokenizer.encode(val_text)
    model = s.build(tokenizer.vocab_size, s.context, args.seed)
    optimizer = s.optimizer(model, s)
    n_params = sum(p.data.size for p in model.parameters())
    print(
        f"glassnet train: {args.data}, {args.model} ({plural(n_params, 'parameter')}); "
        f"{len(train_ids):,} training and {len(val_ids):,} validation characters, vocabulary {tokenizer.vocab_size}"
    )
    schedule = f"{s.warmup_steps} warm-up steps, cosine decay to {s.min_lr:g}" if s.min_lr is not None else "constant"
    print(
        f"  {s.describe}\n  {plural(s.steps, 'step')}, batch {s.batch_size}, context {s.context}, lr {s.lr:g} "
        f"({schedule}), clip {s.clip}, seed {args.seed}"
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
    metadata: dict[str, Any] = {
        "data": args.data,
        "model": args.model,
        "input_shape": [s.context],
        "vocabulary": tokenizer.to_config(),
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
        metadata["interrupted"] = {"epoch": 1, "batch": log.stopped_at, "batches": s.steps}
    save(model, model_path, metadata=json.loads(json.dumps(metadata)))
    print(f"model saved to {model_path} (with its vocabulary)")
    _plot(log, plot_path, f"{args.data}, {args.model}", val_loss)
    print(f"total time: {time.perf_counter() - started:.1f}s")
    if log.stopped_at is not None:
        print(f"interrupted after {plural(log.stopped_at, 'step')} of {s.steps}")
    print(f"validation loss: {val_loss:.4f}")
    return 130 if log.stopped_at is not None else 0


def _plot(log: StepLog, path: str, title: str, val_loss: float) -> None:
    try:
        from glassnet.plot import _pyplot

        plt = _pyplot()
    except ImportError as err:
        print(f"no plot: {err}")
        return
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(range(len(log.losses)), log.losses, lw=0.6, alpha=0.5, label="training batch")
    ax.plot(log.eval_steps, log.eval_train, marker="o", label="train (estimate)")
    ax.plot(log.eval_steps, log.eval_val, marker="o", label="val (estimate)")
    ax.plot(
        [len(log.losses)], [val_loss], marker="*", ms=12, ls="", label=f"validation loss {val_loss:.4f} (whole split)"
    )
    ax.set(title=title, xlabel="step", ylabel="cross-entropy (nats per character)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"loss curve saved to {path}")


def _tokenizer_of(model: Any, path: str) -> CharTokenizer:
    meta = getattr(model, "metadata", None) or {}
    if "vocabulary" not in meta:
        raise CommandError(f"{path} holds no vocabulary: generate needs a language model written by glassnet train")
    try:
        return CharTokenizer.from_config(meta["vocabulary"])
    except (TypeError, ValueError) as err:
        raise CommandError(f"{path}: its vocabulary is unusable ({err})") from None


def generate(args: argparse.Namespace) -> int:
    path = args.model_file
    if not os.path.isfile(path):
        hint = f" (did you mean {os.path.join(path, 'model.gnet')}?)" if os.path.isdir(path) else ""
        raise CommandError(f"{path}: no such model file{hint}")
    model = load(path)
    tokenizer = _tokenizer_of(model, path)
    if not hasattr(model, "generate"):
        raise CommandError(f"{path}: this {type(model).__name__} model cannot generate text")
    if not args.prompt:
        raise CommandError("--prompt is empty: give at least one character (the default is a new line)")
    try:
        ids = tokenizer.encode(args.prompt, name="--prompt")
    except ValueError as err:
        raise CommandError(str(err)) from None
    context = getattr(model, "context", None)
    if context is not None and len(ids) > context:
        print(
            f"note: the prompt has {len(ids)} characters, more than the model's context of {context}: "
            f"the model reads its last {context}",
            file=sys.stderr,
        )
    new = model.generate(ids[None, :], args.length, temperature=args.temperature, top_k=args.top_k, rng=args.seed)
    print(args.prompt + tokenizer.decode(new[0]))
    return 0
