"""What ``glassnet train``, ``evaluate`` and ``show`` draw: the pictures of a run and its HTML report.

The drawing itself is in ``glassnet.pictures``; this module picks the pictures that fit a model and a
data set, names their files, and says where they went. Without matplotlib, each says so in one line
and the command goes on.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from glassnet.module import Module


def _draw(path: str, what: str, draw: Callable[[], Any]) -> str | None:
    """Run ``draw``; print where the picture went (or why there is none); the path, or None."""
    try:
        draw()
    except ImportError as err:
        print(f"no {what}: {err}")
        return None
    print(f"{what} saved to {path}")
    return path


def evaluation_pictures(
    folder: str,
    x: np.ndarray,
    y: np.ndarray,
    logits: np.ndarray,
    names: Sequence[str],
    title: str,
    model: Module | None = None,
) -> list[tuple[str, str]]:
    """The confusion matrix, the most confidently wrong samples (images) or the decision boundary (2-D points)."""
    from glassnet import pictures
    from glassnet.commands import confusion_matrix

    drawn: list[tuple[str, str]] = []
    matrix = confusion_matrix(y, logits.argmax(axis=1), len(names))
    path = os.path.join(folder, "confusion.png")
    caption = f"{title}: confusion matrix of the test split (rows: true class)"
    if _draw(path, "confusion matrix", lambda: pictures.confusion_matrix_png(matrix, names, path, title=caption)):
        drawn.append((path, caption))
    if x.ndim == 4:
        path = os.path.join(folder, "errors.png")
        caption = f"{title}: the most confidently wrong test images"
        if _draw(path, "wrong images", lambda: pictures.confident_errors(x, y, logits, names, path, title=caption)):
            drawn.append((path, caption))
    elif x.ndim == 2 and x.shape[1] == 2 and model is not None:
        path = os.path.join(folder, "boundary.png")
        caption = f"{title}: decision boundary, with the test points"
        if _draw(path, "decision boundary", lambda: pictures.decision_boundary(model, x, y, path, title=caption)):
            drawn.append((path, caption))
    return drawn


def show(args: argparse.Namespace) -> int:
    """``glassnet show MODEL``: first-layer filters and the feature maps of one test image (CNNs), or the
    attention of a prompt (GPTs)."""
    from glassnet import pictures
    from glassnet.cli import CommandError
    from glassnet.commands import load_data, load_model
    from glassnet.layers import Conv2d, MultiHeadAttention

    model, info = load_model(args.model_file)
    folder = args.out or os.path.dirname(os.path.abspath(args.model_file))
    if not os.path.isdir(folder):
        raise CommandError(f"--out {folder}: no such folder")
    modules = list(model.modules())
    if any(isinstance(m, MultiHeadAttention) for m in modules):
        from glassnet.text_commands import _tokenizer_of

        tok = _tokenizer_of(model, args.model_file)
        prompt = args.prompt or "ROMEO:"
        unknown = sorted(set(prompt) - set(tok.chars))
        if unknown:
            raise CommandError(f"--prompt holds characters that are not in the vocabulary: {unknown}")
        path = os.path.join(folder, "attention.png")
        title = f"attention of {prompt!r}"
        _draw(
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
    _draw(path, "filters", lambda: pictures.filters(model, path, title=f"{info.data}: first-layer filters"))
    path = os.path.join(folder, f"feature-maps-{args.image}.png")
    label = data.class_names[int(data.y_test[args.image])]
    title = f"feature maps of {info.data} test image {args.image} ({label})"
    _draw(path, "feature maps", lambda: pictures.feature_maps(model, data.x_test[args.image], path, title=title))
    return 0
