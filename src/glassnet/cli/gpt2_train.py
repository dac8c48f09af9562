"""GPT-2 on the command line: ``glassnet train --model gpt2``, and GPT-2 models for ``generate`` and ``export``.

- ``glassnet train --model gpt2 --init FOLDER --data FILE.txt`` fine-tunes a Hugging Face GPT-2
  folder (config.json + model.safetensors + its tokenizer files) on a UTF-8 text, with its own tokenizer;
- without ``--init`` it trains a byte-level BPE of ``--vocab-size`` tokens on the text, then a small
  GPT-2 (4 layers x 4 heads x 128 wide) from a random start;
- either way ``--out/model.gnet`` holds the model with its tokenizer in its metadata
  (``metadata["tokenizer"]``, ``BPETokenizer.to_config()``); ``glassnet generate`` reads it and
  ``glassnet export model.gnet FOLDER --format hf`` writes it back as a Hugging Face folder.

The loop is the library's (``glassnet.models.gpt2.finetune``, which runs ``glassnet.text_training.train_steps``);
Ctrl-C stops after the current step and saves the model trained so far.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from glassnet.cli.args import positive_int
from glassnet.cli.common import CHECKPOINT, output_files, plural
from glassnet.cli.errors import EXIT_INTERRUPTED, CommandError
from glassnet.cli.language_model import how_to_resume, plot_steps, resuming, run_flags
from glassnet.cli.lock import hold_folder
from glassnet.cli.runs import StopOnInterrupt, interruptible
from glassnet.datasets.bpe import BPETokenizer
from glassnet.datasets.text import from_text
from glassnet.io import load, save
from glassnet.models import GPT, gpt2
from glassnet.text_training import validation_loss

__all__ = [
    "is_text_file",
    "add_args",
    "run",
    "load_gpt2",
    "export_hf",
    "SCRATCH_MODEL",
    "FINETUNE",
    "SCRATCH",
]

DEFAULT_VOCAB_SIZE = 512  # a small text holds few frequent pairs: 512 tokens is 256 bytes + 255 merges + <|endoftext|>
SCRATCH_MODEL = {"n_layer": 4, "n_head": 4, "n_embd": 128}  # nanoGPT's small CPU model, in GPT-2's layout


@dataclass(frozen=True)
class Settings:
    steps: int
    batch_size: int
    context: int
    lr: float
    warmup_steps: int
    min_lr: float


# fine-tuning a pretrained model: a gentle rate (nanoGPT's finetune_shakespeare uses 3e-5 on GPT-2 XL);
# from a random start: nanoGPT's Shakespeare CPU recipe, with BPE tokens and a longer context
FINETUNE = Settings(steps=200, batch_size=4, context=128, lr=1e-4, warmup_steps=20, min_lr=1e-5)
SCRATCH = Settings(steps=2000, batch_size=12, context=128, lr=1e-3, warmup_steps=100, min_lr=1e-4)


def is_text_file(data: object) -> bool:
    """Whether ``--data`` names a text file rather than a data set."""
    return isinstance(data, str) and data.lower().endswith(".txt")


def add_args(p: argparse.ArgumentParser) -> None:
    """The flags only ``--model gpt2`` uses."""
    p.add_argument(
        "--init",
        default=None,
        metavar="PATH",
        help="gpt2: fine-tune this Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json + "
        "merges.txt or tokenizer.json) or a model.gnet written by --model gpt2; without it, a small GPT-2 "
        "and a BPE of --vocab-size tokens are trained from scratch on --data",
    )
    p.add_argument(
        "--vocab-size",
        type=positive_int,
        default=None,
        help=f"gpt2 without --init: tokens of the BPE trained on --data (default {DEFAULT_VOCAB_SIZE})",
    )


# -- reading GPT-2 models ------------------------------------------------------------------


def load_gpt2(path: str, flag: str = "") -> tuple[GPT, BPETokenizer]:
    """A GPT-2 and its tokenizer from a Hugging Face folder or a glassnet model file; errors as one line."""
    where = f"{flag} {path}" if flag else path
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")) and os.path.isfile(os.path.join(path, "model.gnet")):
            raise CommandError(f"{where} is a folder written by glassnet train: give its model file, model.gnet")
        try:
            model = gpt2.load_pretrained(path)
            tokenizer = BPETokenizer.load(path)
        except ValueError as err:
            raise CommandError(f"{where}: {err}") from None
        return model, tokenizer
    if not os.path.isfile(path):
        raise CommandError(f"{where}: no such file or folder (expected a Hugging Face GPT-2 folder or a model.gnet)")
    loaded = load(path)
    meta = getattr(loaded, "metadata", None) or {}
    if not isinstance(loaded, GPT) or "tokenizer" not in meta:
        raise CommandError(
            f"{where} holds no GPT-2 with its tokenizer: give a Hugging Face GPT-2 folder "
            "or a model.gnet written by glassnet train --model gpt2"
        )
    try:
        tokenizer = BPETokenizer.from_config(meta["tokenizer"])
    except (TypeError, ValueError) as err:
        raise CommandError(f"{where}: its tokenizer is unusable ({err})") from None
    if len(tokenizer) > loaded.vocab_size:
        raise CommandError(
            f"{where}: its tokenizer has {len(tokenizer)} tokens, more than the model's vocabulary of {loaded.vocab_size}"
        )
    return loaded, tokenizer


def export_hf(model_path: str, folder: str) -> int:
    """``glassnet export model.gnet FOLDER --format hf``: config.json, model.safetensors, vocab.json, merges.txt."""
    model, tokenizer = load_gpt2(model_path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CommandError(f"{folder} is a file: --format hf writes a folder (created if missing)")
    gpt2.save_pretrained(model, folder, eos_token_id=tokenizer.eot_id)  # the tokenizer's <|endoftext|>
    tokenizer.save(folder)
    print(
        f"{folder}: a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt); "
        "transformers loads it with GPT2LMHeadModel.from_pretrained and GPT2TokenizerFast.from_pretrained"
    )
    return 0


# -- training ------------------------------------------------------------------------------


def _read_text(path: str, encoding: str | None) -> str:
    """The text of ``--data``, read as every text file of one's own is (bounded, its encoding checked)."""
    try:
        text, _ = from_text(path, encoding=encoding or "utf-8")
    except ValueError as err:
        raise CommandError(f"--data {err}") from None
    return text


def _refuse_flags(args: argparse.Namespace) -> None:
    """What the other kinds of training take but --model gpt2 cannot, each said in one line."""
    if args.data is None:
        raise CommandError("--model gpt2 needs --data FILE.txt, the UTF-8 text to train on")
    if not is_text_file(args.data):
        raise CommandError(f"--model gpt2 trains on a text file: --data FILE.txt (received --data {args.data})")
    for flag, why in (
        ("seeds", "it reports test accuracy, which a text has not"),
        ("epochs", "--model gpt2 trains for --steps"),
        ("optimizer", "--model gpt2 trains with AdamW"),
        ("distributed", "GPT-2 trains in one process"),
        ("diagnose", "the diagnostics are for the image and toy data sets"),
        ("data_path", "--data names the text file itself"),
        ("download", "--data names the text file itself"),
    ):
        if getattr(args, flag, None) not in (None, False):
            raise CommandError(f"--{flag.replace('_', '-')} does not apply to --model gpt2: {why}")
    if args.init is not None and args.vocab_size is not None:
        raise CommandError("--vocab-size trains a new tokenizer; with --init the pretrained model's tokenizer is used")


def _split(tokens: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The first 90% of the tokens to train on, the rest to validate (when it holds a window)."""
    cut = int(len(tokens) * 0.9)
    if len(tokens) - cut > context + 1 and cut > context + 1:
        return tokens[:cut], tokens[cut:]
    return tokens, None


def run(args: argparse.Namespace) -> int:
    """``glassnet train --model gpt2``: fine-tune ``--init``, or train a BPE and a small GPT-2 from scratch."""
    _refuse_flags(args)
    started = time.perf_counter()
    args.seed = 0 if args.seed is None else args.seed
    text = _read_text(args.data, getattr(args, "encoding", None))
    base = FINETUNE if args.init is not None else SCRATCH
    s = Settings(
        steps=args.steps or base.steps,
        batch_size=args.batch_size or base.batch_size,
        context=args.context or base.context,
        lr=args.lr or base.lr,
        warmup_steps=min(base.warmup_steps, max(0, (args.steps or base.steps) // 10)),
        min_lr=min(base.min_lr, args.lr or base.lr),
    )
    if args.init is not None:
        model, tokenizer = load_gpt2(args.init, "--init")
        context = min(s.context, model.context)
        origin = f"fine-tuning {args.init}"
    else:
        vocab_size = args.vocab_size or DEFAULT_VOCAB_SIZE
        if vocab_size < 257:
            raise CommandError(f"--vocab-size {vocab_size}: a byte-level BPE needs at least 257 (256 bytes + 1)")
        print(f"training a BPE of {vocab_size} tokens on {args.data} ...", flush=True)
        tokenizer = BPETokenizer.train(text, vocab_size)
        context = s.context
        config = {"vocab_size": len(tokenizer), "n_positions": context, **SCRATCH_MODEL}
        model = gpt2.build(config, rng=args.seed)
        origin = "a random start"
    tokens = np.array(tokenizer.encode(text), dtype=np.int64)
    if len(tokens) <= context + 1:
        raise CommandError(
            f"--data {args.data} is {plural(len(tokens), 'token')} long, too short for a context of {context}: "
            "give a longer text or a smaller --context"
        )
    train_ids, val_ids = _split(tokens, context)
    # the data are good: only now is the output folder made, and held against a second run into it
    out = args.out or os.path.join("runs", f"{os.path.splitext(os.path.basename(args.data))[0]}-gpt2")
    model_path, plot_path, checkpoint_path = output_files(out, "--out", "model.gnet", "curves.png", CHECKPOINT)
    hold_folder(out)
    n_params = sum(p.data.size for p in model.parameters())
    print(
        f"glassnet train: {args.data}, gpt2 ({plural(n_params, 'parameter')}, {model.n_layer} layers x "
        f"{model.n_head} heads x {model.n_embd}), {origin}; {len(train_ids):,} training and "
        f"{0 if val_ids is None else len(val_ids):,} validation tokens, vocabulary {len(tokenizer):,}"
    )
    print(
        f"  {plural(s.steps, 'step')}, batch {s.batch_size}, context {context}, AdamW lr {s.lr:g} "
        f"({s.warmup_steps} warm-up steps, cosine decay to {s.min_lr:g}), clip 1.0, seed {args.seed}"
    )
    if resuming(args, out, model_path):
        return 0
    eval_interval = args.eval_interval or max(1, min(50, s.steps // 4))
    print(
        f"  (Ctrl-C stops after the current step and saves the model trained so far; {CHECKPOINT}, written every "
        f"{plural(eval_interval, 'step')}, resumes the run: --resume)",
        flush=True,
    )
    stop = StopOnInterrupt(batches=s.steps)
    with interruptible(stop):
        log = gpt2.finetune(
            model,
            train_ids,
            steps=s.steps,
            batch_size=s.batch_size,
            context=context,
            lr=s.lr,
            warmup_steps=s.warmup_steps,
            min_lr=s.min_lr,
            val_tokens=val_ids,
            eval_interval=eval_interval,
            seed=args.seed,
            should_stop=lambda: stop.requested,
            checkpoint=checkpoint_path,
            resume_from=getattr(args, "resume_from", None),
            metadata={"flags": run_flags(args)},
        )
    print(log.timing(), flush=True)
    val_loss = validation_loss(model, val_ids, context) if val_ids is not None else None
    metadata: dict[str, Any] = {
        "data": args.data,
        "model": "gpt2",
        "init": args.init,
        "input_shape": [context],
        "tokenizer": tokenizer.to_config(),
        "seed": args.seed,
        "settings": {**s.__dict__, "context": context},
        "validation_loss": val_loss,
        "curve": log.curve(),
    }
    if log.stopped_at is not None:
        metadata["interrupted"] = {"epoch": 1, "batch": log.stopped_at, "batches": s.steps}
    save(model, model_path, metadata=json.loads(json.dumps(metadata)))  # NaN estimates become JSON-safe
    print(f"model saved to {model_path} (with its tokenizer): glassnet generate {model_path} --prompt ...")
    plot_steps(log, plot_path, f"{args.data}, gpt2", val_loss, "nats per token")
    print(f"total time: {time.perf_counter() - started:.1f}s")
    if log.stopped_at is not None:
        print(f"interrupted after {plural(log.stopped_at, 'step')} of {s.steps}", file=sys.stderr)
        how_to_resume(out, checkpoint_path, log.stopped_at, s.steps)
    if val_loss is not None:
        print(f"validation loss: {val_loss:.4f} (nats per token)")
    return EXIT_INTERRUPTED if log.stopped_at is not None else 0
