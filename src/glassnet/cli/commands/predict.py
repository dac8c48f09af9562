"""``glassnet predict MODEL INPUT...``: classes and probabilities (or values) for a .npy file, raw CSV rows or images.

A model trained on a CSV file or an image folder takes raw files instead (``cli/raw_inputs.py``):
``glassnet predict model.gnet new_rows.csv``, ``glassnet predict model.gnet cat.jpg dog.png more/``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from glassnet.cli import raw_inputs, recipes
from glassnet.cli.args import positive_int
from glassnet.cli.common import load_model, note
from glassnet.cli.errors import CommandError
from glassnet.cli.runs import RunInfo
from glassnet.layers.activations import softmax


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file written by glassnet train (model.gnet)")
    p.add_argument(
        "input",
        metavar="FILE.npy|CSV|IMAGE",
        nargs="+",
        help="a NumPy .npy array of samples, batch first (numpy.save); for a model trained on your own files: "
        "a CSV file of rows (without the target), or image files and folders",
    )
    p.add_argument("--top", type=positive_int, default=3, help="probabilities shown per sample (default 3)")
    raw_inputs.add_out_arg(p)


def _read_npy(path: str) -> np.ndarray:
    if os.path.isdir(path):
        raise CommandError(f"{path} is a folder: give a .npy file of samples (numpy.save(path, x))")
    with open(path, "rb") as f:
        start = f.read(6)
    if start != b"\x93NUMPY":
        kind = "a .npz archive" if start[:2] == b"PK" else "not a .npy file"
        raise CommandError(f"{path} is {kind}: save one array of samples with numpy.save(path, x)")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err):
            raise CommandError(
                f"{path} holds Python objects, not numbers: save a numeric array (e.g. float32)"
            ) from None
        raise CommandError(f"{path} is a damaged .npy file ({err})") from None
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise CommandError(f"{path} holds {x.dtype} values: save real numbers (integers or floats)")
    return x


def fit_input(x: np.ndarray, info: RunInfo, source: str) -> np.ndarray:
    """``x`` as the model's input: the batch axis and layout restored, and the training's scaling applied."""
    shape = info.input_shape
    if shape is not None and x.shape[1:] != shape:
        size = int(np.prod(shape))
        if x.ndim >= 2 and int(np.prod(x.shape[1:])) == size:
            x = x.reshape((len(x), *shape))  # the same pixels in another layout, e.g. (N, 8, 8) for (N, 1, 8, 8)
        elif x.size == size:
            x = x.reshape((1, *shape))  # one sample without the batch axis
        else:
            trained = f"{info.data}, " if info.data else ""
            raise CommandError(
                f"this model was trained on {trained}{recipes.describe_shape(info.data, shape)} "
                f"(input (N, {', '.join(map(str, shape))})); {source} holds an array of shape {x.shape}"
            )
    d = info.divide_by
    if np.issubdtype(x.dtype, np.integer):
        if d is not None:
            note(f"{source} holds integers: divided by {d:g}, as the model's training data were")
            return np.divide(x, d, dtype=np.float32)
        return x.astype(np.float32)
    if d is not None and x.size:
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise CommandError(
                f"{source} holds values from {lo:g} to {hi:g}, but this model was trained on pixels scaled to [0, 1] "
                f"(pixel / {d:g}): save the raw integer pixels, or divide them by {d:g} first"
            )
    return x


def run(args: argparse.Namespace) -> int:
    model, info = load_model(args.model_file)
    prep = raw_inputs.preprocessing_of(model, args.model_file)
    if prep is not None:  # trained on a CSV file or an image folder: raw files of that kind
        return raw_inputs.predict(args, model, prep)
    if len(args.input) != 1 or args.out is not None:
        raise CommandError(
            "this model takes one .npy file of samples (several inputs and --out are for models trained on "
            "your own CSV files or image folders)"
        )
    args.input = args.input[0]
    x = fit_input(_read_npy(args.input), info, args.input)
    try:
        logits = model.predict(x)
    except ValueError as err:
        raise CommandError(f"the model cannot take the samples in {args.input}: {err}") from None
    if logits.ndim != 2:
        raise CommandError(
            f"the model outputs shape {logits.shape[1:]} per sample; predict shows classes of (N, classes)"
        )
    probs = softmax(logits, axis=1)
    names = [str(i) for i in range(probs.shape[1])]
    if info.class_names is not None:
        if len(info.class_names) == probs.shape[1]:
            names = info.class_names
        else:
            note(
                f"the model file names {len(info.class_names)} classes but the model has {probs.shape[1]} outputs: showing numbers"
            )
    top = min(args.top, probs.shape[1])
    print(f"sample  class  probabilities (top {top})")
    for i, row in enumerate(probs):
        best = np.argsort(row)[::-1][:top]
        shown = ", ".join(f"{names[j]}: {row[j]:.3f}" for j in best)
        print(f"{i:>6}  {best[0]:>5}  {shown}")
    return 0
