"""``glassnet generate MODEL``: continue a prompt with a language model trained by ``glassnet train --data shakespeare``."""

from __future__ import annotations

import argparse
import os
import sys

from glassnet.cli.args import integer, positive_float, positive_int
from glassnet.cli.common import tokenizer_of
from glassnet.cli.errors import CommandError
from glassnet.io import load


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a language model written by glassnet train (model.gnet)")
    p.add_argument("--prompt", default="\n", help="the text to continue (default: a new line)")
    p.add_argument("--length", type=positive_int, default=500, help="characters to generate (default 500)")
    p.add_argument(
        "--temperature", type=positive_float, default=0.8, help="below 1: safer choices; above 1: wilder (default 0.8)"
    )
    p.add_argument("--top-k", type=positive_int, default=None, help="sample among the k likeliest characters only")
    p.add_argument(
        "--seed", type=integer, default=0, help="seed of the sampling: the same seed, the same text (default 0)"
    )


def run(args: argparse.Namespace) -> int:
    path = args.model_file
    if not os.path.isfile(path):
        hint = f" (did you mean {os.path.join(path, 'model.gnet')}?)" if os.path.isdir(path) else ""
        raise CommandError(f"{path}: no such model file{hint}")
    model = load(path)
    tokenizer = tokenizer_of(model, path)
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
