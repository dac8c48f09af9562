"""``glassnet show MODEL``: a CNN's first-layer filters and feature maps, or a GPT's attention (PNGs).

The drawing itself is in ``glassnet.pictures``; without matplotlib, each picture says so in one line.
"""

from __future__ import annotations

import argparse
import os

from glassnet.cli.args import non_negative_int
from glassnet.cli.common import draw_picture, load_data, load_model, tokenizer_of
from glassnet.cli.errors import CommandError
from glassnet.layers import Conv2d, MultiHeadAttention


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file (model.gnet)")
    p.add_argument(
        "--image", type=non_negative_int, default=0, help="the test image whose feature maps to draw (default 0)"
    )
    p.add_argument("--prompt", default=None, help='the text whose attention to draw, for a GPT (default "ROMEO:")')
    p.add_argument("--out", default=None, help="folder for the PNGs (default: the model file's folder)")
    p.add_argument("--data-path", default=None, help="folder with the IDX files (Fashion-MNIST, MNIST)")


def run(args: argparse.Namespace) -> int:
    """``glassnet show MODEL``: first-layer filters and the feature maps of one test image (CNNs), or the
    attention of a prompt (GPTs)."""
    from glassnet import pictures

    model, info = load_model(args.model_file)
    folder = args.out or os.path.dirname(os.path.abspath(args.model_file))
    if not os.path.isdir(folder):
        raise CommandError(f"--out {folder}: no such folder")
    modules = list(model.modules())
    if any(isinstance(m, MultiHeadAttention) for m in modules):
        tok = tokenizer_of(model, args.model_file)
        prompt = args.prompt or "ROMEO:"
        unknown = sorted(set(prompt) - set(tok.chars))
        if unknown:
            raise CommandError(f"--prompt holds characters that are not in the vocabulary: {unknown}")
        path = os.path.join(folder, "attention.png")
        title = f"attention of {prompt!r}"
        draw_picture(
            path,
            "attention map",
            lambda: pictures.attention(model, tok.encode(prompt), list(prompt), path, title=title),
        )
        return 0
    if not any(isinstance(m, Conv2d) for m in modules):
        raise CommandError("show draws the filters of a CNN or the attention of a GPT; this model has neither")
    if info.data is None:
        raise CommandError("the model file does not say which data set it was trained on")
    data = load_data(info.data, info.seed if info.seed is not None else 0, args.data_path, False)
    if not 0 <= args.image < len(data.x_test):
        raise CommandError(f"--image {args.image}: the test split has images 0 to {len(data.x_test) - 1}")
    path = os.path.join(folder, "filters.png")
    draw_picture(path, "filters", lambda: pictures.filters(model, path, title=f"{info.data}: first-layer filters"))
    path = os.path.join(folder, f"feature-maps-{args.image}.png")
    label = data.class_names[int(data.y_test[args.image])]
    title = f"feature maps of {info.data} test image {args.image} ({label})"
    draw_picture(path, "feature maps", lambda: pictures.feature_maps(model, data.x_test[args.image], path, title=title))
    return 0
