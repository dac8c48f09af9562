"""``glassnet summary MODEL``: layers, output shapes and parameter counts of a saved model."""

from __future__ import annotations

import argparse

from glassnet.cli.args import shape
from glassnet.cli.common import load_model
from glassnet.cli.errors import CommandError


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file (model.gnet)")
    p.add_argument("--input-shape", type=shape, default=None, help="input shape without the batch axis, e.g. 1,28,28")


def run(args: argparse.Namespace) -> int:
    model, info = load_model(args.model_file)
    shape = args.input_shape or info.input_shape
    context = getattr(model, "context", None)
    if shape is None and isinstance(context, int):
        shape = (context,)  # a language model (GPT, GPT-2) reads up to `context` token ids
    if shape is None:
        raise CommandError("the model file does not record its input shape: pass --input-shape, e.g. 1,28,28")
    described = info.describe()
    if described:
        print(described)
    model.summary(shape)
    return 0
