"""``glassnet generate MODEL``: continue a prompt with a language model.

MODEL is a model file written by ``glassnet train`` (a character model of ``--data shakespeare``,
or a GPT-2 of ``--model gpt2`` with its BPE tokenizer in its metadata), or a Hugging Face GPT-2
folder (config.json, model.safetensors, and vocab.json + merges.txt or tokenizer.json).
"""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata

from glassnet.cli.args import integer, positive_float, positive_int, positive_int_at_most
from glassnet.cli.common import tokenizer_of
from glassnet.cli.errors import CommandError
from glassnet.cli.gpt2_train import load_gpt2
from glassnet.io import load
from glassnet.models import gpt2

CHAR_LENGTH, BPE_LENGTH = 500, 100  # --length's defaults: characters, or BPE tokens


def _probability(text: str) -> float:
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


MAX_LENGTH = 1_000_000  # characters a run may ask for: the output is held in memory, one int64 each


def escaped(text: str) -> str:
    """``text`` with control characters other than newline and tab written as escapes (\\x1b), for a terminal."""
    return "".join(
        c
        if c in "\n\t" or (c.isprintable() and not unicodedata.category(c).startswith("C"))
        else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model_file",
        metavar="MODEL",
        help="a language model written by glassnet train (model.gnet), or a Hugging Face GPT-2 folder",
    )
    p.add_argument("--prompt", default="\n", help="the text to continue (default: a new line)")
    p.add_argument(
        "--length",
        type=positive_int_at_most(MAX_LENGTH),
        default=None,
        help=f"characters to generate (default {CHAR_LENGTH}); BPE tokens for a GPT-2 (default {BPE_LENGTH}); "
        f"at most {MAX_LENGTH:,}",
    )
    p.add_argument(
        "--temperature", type=positive_float, default=0.8, help="below 1: safer choices; above 1: wilder (default 0.8)"
    )
    p.add_argument(
        "--top-k", type=positive_int, default=None, help="sample among the k likeliest tokens only (1: greedy)"
    )
    p.add_argument(
        "--top-p",
        type=_probability,
        default=None,
        help="GPT-2: sample among the likeliest tokens whose probabilities reach p (nucleus sampling)",
    )
    p.add_argument(
        "--seed", type=integer, default=0, help="seed of the sampling: the same seed, the same text (default 0)"
    )


def _is_gpt2(path: str) -> tuple[bool, object]:
    """Whether ``path`` is a GPT-2 (a folder, or a model file with a BPE tokenizer); the loaded file if one was read."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "model.gnet")) and not os.path.isfile(os.path.join(path, "config.json")):
            raise CommandError(f"{path} is a folder written by glassnet train: give {os.path.join(path, 'model.gnet')}")
        return True, None
    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such model file or Hugging Face GPT-2 folder")
    model = load(path)
    return "tokenizer" in (getattr(model, "metadata", None) or {}), model


def run(args: argparse.Namespace) -> int:
    path = args.model_file
    is_gpt2, loaded = _is_gpt2(path)
    if not args.prompt and not is_gpt2:
        raise CommandError("--prompt is empty: give at least one character (the default is a new line)")
    if is_gpt2:
        return _generate_gpt2(args)
    if args.top_p is not None:
        raise CommandError("--top-p is for GPT-2 models; a character model samples with --temperature and --top-k")
    model = loaded
    tokenizer = tokenizer_of(model, path)
    if not hasattr(model, "generate"):
        raise CommandError(f"{path}: this {type(model).__name__} model cannot generate text")
    outputs = getattr(model, "vocab_size", None)
    if outputs is not None and outputs != tokenizer.vocab_size:
        raise CommandError(
            f"{path}: its vocabulary has {tokenizer.vocab_size} characters but the model has {outputs} outputs: "
            "the file's metadata does not belong to this model"
        )
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
    length = args.length or CHAR_LENGTH
    new = model.generate(ids[None, :], length, temperature=args.temperature, top_k=args.top_k, rng=args.seed)  # type: ignore[attr-defined]
    text = args.prompt + tokenizer.decode(new[0])
    print(escaped(text) if sys.stdout.isatty() else text)  # a terminal gets no raw control characters
    return 0


def _generate_gpt2(args: argparse.Namespace) -> int:
    """A GPT-2: ``--length`` BPE tokens after the prompt, with the key/value cache."""
    model, tokenizer = load_gpt2(args.model_file)
    try:
        ids = tokenizer.encode(args.prompt)
    except ValueError as err:
        raise CommandError(f"--prompt: {err}") from None
    if len(ids) > model.context:
        print(
            f"note: the prompt has {len(ids)} tokens, more than the model's context of {model.context}: "
            f"the model reads its last {model.context}",
            file=sys.stderr,
        )
    try:
        text = gpt2.generate(
            model,
            tokenizer,
            args.prompt,
            args.length or BPE_LENGTH,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
        )
    except ValueError as err:  # an empty prompt and no end-of-text token to start from
        raise CommandError(f"--prompt: {err}") from None
    text = args.prompt + text
    print(escaped(text) if sys.stdout.isatty() else text)  # a terminal gets no raw control characters
    return 0
