"""Your own data on the command line: which kind a ``--data`` path is, its flags, its splits and its models.

``glassnet train --data PATH`` takes, besides the built-in names:

- a ``.csv`` or ``.tsv`` file with a header (``--target``, ``--task``, ``--fill``): an MLP classifier or regressor;
- a folder of class folders of images (``--image-size``, ``--flip``, ``--shift``): a CNN (or ``--model mlp``);
- a ``.txt`` file: a character language model (``--model gpt|lstm|rnn``), its vocabulary the file's characters.

Everything here runs before anything is written: the data is read, split and
checked first, so a mistake in it leaves no ``--out`` folder behind.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from glassnet.cli import recipes, text_recipes
from glassnet.cli.errors import CommandError
from glassnet.datasets import Splits, data_warnings, from_csv, from_image_folder, read_csv
from glassnet.datasets.tabular import FILLS
from glassnet.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU
from glassnet.layers.augment import RandomHorizontalFlip, RandomShift
from glassnet.module import Module, Sequential

__all__ = [
    "KINDS",
    "detect",
    "data_argument",
    "add_args",
    "hidden_sizes",
    "OWN_FLAGS",
    "OwnData",
    "load",
    "build_model",
    "settings_for",
    "quietly",
]

KINDS = ("csv", "images", "text")
TABLE_SUFFIXES = (".csv", ".tsv")
TEXT_SUFFIXES = (".txt",)
# the flags of this module, and the data kinds each applies to (for the table of which flags go with which data)
OWN_FLAGS: dict[str, tuple[str, ...]] = {
    "--target": ("csv",),
    "--task": ("csv",),
    "--fill": ("csv",),
    "--image-size": ("images",),
    "--flip": ("images",),
    "--shift": ("images",),
    "--test": ("csv", "images"),
    "--encoding": ("csv", "text"),
    "--hidden": ("csv", "images", "built-in"),  # every MLP
    "--dropout": ("csv", "images", "built-in"),  # every MLP
}


def detect(path: str) -> str | None:
    """ "csv", "images" or "text" for an existing file or folder of that kind; None for anything else."""
    if os.path.isdir(path):
        return "images"
    if os.path.isfile(path):
        suffix = os.path.splitext(path)[1].lower()
        if suffix in TABLE_SUFFIXES:
            return "csv"
        if suffix in TEXT_SUFFIXES:
            return "text"
    return None


def data_argument(text: str) -> str:
    """``--data``: a built-in data set's name, or a CSV file, a folder of class folders, a .txt file."""
    builtin = recipes.DATASETS + ("shakespeare",)
    if text in builtin:
        return text
    kind = detect(text)
    if kind is not None:
        return text
    if os.path.isfile(text):
        raise argparse.ArgumentTypeError(
            f"{text} is neither a .csv/.tsv table nor a .txt text: rename it, or give a folder of class folders of images"
        )
    looks_like_path = os.sep in text or "." in text
    if looks_like_path:
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from {', '.join(builtin)}; or give a .csv file, a folder of class "
        "folders of images, or a .txt file)"
    )


def hidden_sizes(text: str) -> tuple[int, ...]:
    """``--hidden 128,64``: the hidden layers' widths."""
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths separated by commas, like 128,64; got {text!r}") from None
    if not sizes or min(sizes) <= 0 or len(sizes) > 64 or max(sizes) > 1_000_000:
        raise argparse.ArgumentTypeError(f"expected 1 to 64 positive widths, like 128,64; got {text!r}")
    return sizes


def _dropout(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}") from None
    if not 0.0 <= p < 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return p


def _side(text: str) -> int:
    try:
        side = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a side in pixels, like 32; got {text!r}") from None
    if not 4 <= side <= 512:
        raise argparse.ArgumentTypeError(f"expected a side from 4 to 512 pixels, got {text!r}")
    return side


def _shift(text: str) -> int:
    try:
        shift = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, like 2; got {text!r}") from None
    if shift <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of pixels, got {text!r}")
    return shift


def add_args(p: argparse.ArgumentParser) -> None:
    """The flags of one's own data (``--data PATH``), and the MLP's shape for every MLP recipe."""
    p.add_argument("--target", default=None, metavar="COL", help="CSV: the column to predict (default: the last one)")
    p.add_argument(
        "--task",
        choices=("classification", "regression"),
        default=None,
        help="CSV: what to predict (default: classification for strings or few whole numbers, else regression)",
    )
    p.add_argument(
        "--fill", choices=FILLS, default=None, help="CSV: what an empty cell becomes (default: an error naming it)"
    )
    p.add_argument(
        "--encoding", default=None, metavar="NAME", help="CSV and text files: their text encoding (default utf-8)"
    )
    p.add_argument(
        "--image-size",
        type=_side,
        default=None,
        metavar="N",
        help="image folders: the side images are resized to (default: their median, clipped to 16..64)",
    )
    p.add_argument("--flip", action="store_true", help="image folders: mirror training images at random")
    p.add_argument(
        "--shift", type=_shift, default=None, metavar="N", help="image folders: move training images by up to N pixels"
    )
    p.add_argument(
        "--test",
        default=None,
        metavar="FILE|FOLDER",
        help="CSV or image folder: a given test set, laid out as --data (default: 20%% of --data, drawn with the seed)",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=None,
        metavar="W1,W2",
        help="the MLP's hidden layers, e.g. 128,64 (every MLP; default per data set)",
    )
    p.add_argument(
        "--dropout", type=_dropout, default=None, metavar="P", help="dropout after each hidden layer of the MLP"
    )


# -- reading the data ------------------------------------------------------------------

T = TypeVar("T")


def quietly(read: Callable[[], T]) -> T:
    """``read()``, its warnings (unreadable images skipped) printed as ``warning:`` lines rather than raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = read()
    for w in caught:
        print(f"warning: {w.message}")
    return value


@dataclass
class OwnData:
    """A CSV file or an image folder split three ways, with what the command line needs to train on it."""

    kind: str  # "csv" or "images"
    path: str
    splits: Splits
    task: str  # "classification" or "regression"
    class_names: list[str]

    @property
    def preprocessing(self) -> Any:
        return self.splits.preprocessing

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.splits.x_train.shape[1:])


def _given(args: argparse.Namespace, flag: str) -> bool:
    value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
    return value is not None and value is not False


def check_flags(args: argparse.Namespace, kind: str) -> None:
    """A flag of another kind of data is a mistake worth saying, before any reading.

    ``kind``: "csv", "images", "text", or "built-in" for the built-in data sets.
    """
    for flag, kinds in OWN_FLAGS.items():
        if _given(args, flag) and kind not in kinds:
            what = {"csv": "a CSV file", "images": "an image folder", "text": "a text file", "built-in": "built in"}[
                kind
            ]
            plural = {"csv": "CSV files", "images": "image folders", "text": "text files", "built-in": "built-in data"}
            raise CommandError(
                f"{flag} applies to {' and '.join(plural[k] for k in kinds)}; "
                f"--data {args.data or '(the resumed run)'} is {what}: leave {flag} out"
            )


def load(args: argparse.Namespace, kind: str) -> OwnData:
    """The CSV file or image folder of ``--data`` (and ``--test``), split with ``--seed``; errors worded for the CLI."""
    test = args.test
    if test is not None and detect(test) != kind:
        want = "a .csv/.tsv file" if kind == "csv" else "a folder of class folders of images"
        raise CommandError(f"--test {test}: expected {want}, as --data {args.data} is")
    seed = args.seed
    try:
        if kind == "csv":
            delimiter = "\t" if args.data.lower().endswith(".tsv") else ","
            splits = from_csv(
                args.data,
                target=args.target,
                task=args.task,
                fill=args.fill,
                seed=seed,
                test_size=0.0 if test else 0.2,
                delimiter=delimiter,
                encoding=args.encoding or "utf-8",
            )
            prep = splits.preprocessing
            if test:
                table = read_csv(
                    test, delimiter="\t" if test.lower().endswith(".tsv") else ",", encoding=args.encoding or "utf-8"
                )
                x_test, y_test = prep.transform(table, unknown="zeros")
                if y_test is None:
                    raise CommandError(f"--test {test} has no column {prep.target!r}, the target: it cannot be scored")
                splits.x_test, splits.y_test = x_test, y_test
            task = prep.task
            names = list(prep.classes) if prep.classes else []
        else:
            splits = quietly(
                lambda: from_image_folder(args.data, size=args.image_size, seed=seed, test_size=0.0 if test else 0.2)
            )
            prep = splits.preprocessing
            if test:
                given = quietly(lambda: prep.load_labelled(test))
                splits.x_test, splits.y_test = given.x, given.y
            task, names = "classification", list(prep.classes)
    except (ValueError, ImportError) as err:
        message = str(err)
        cut = message.find("; pass fill=")  # the Python argument, said as the command line's flag
        if cut >= 0:
            message = message[:cut] + "; pass --fill mean, median or most-frequent"
        raise CommandError(message) from None
    if len(splits.x_test) == 0:
        raise CommandError(f"--data {args.data}: too few rows to hold out a test set; pass --test FILE")
    return OwnData(kind, args.data, splits, task, names)


def print_warnings(data: OwnData) -> None:
    for line in data_warnings(data.splits):
        print(f"warning: {line}")


# -- models and settings ----------------------------------------------------------------


def build_model(data: OwnData, model: str, args: argparse.Namespace) -> Module:
    """The default network for ``data``: an MLP (CSV; ``--model mlp`` on images) or a CNN that fits the images."""
    rng = np.random.default_rng(args.seed)
    prep = data.preprocessing
    outputs = prep.n_outputs
    dropout = args.dropout or 0.0
    augment: list[Module] = []
    if data.kind == "images":
        if args.flip:
            augment.append(RandomHorizontalFlip(0.5, rng=rng))
        if args.shift:
            augment.append(RandomShift(args.shift, rng=rng))
    if model == "mlp":
        # scikit-learn's MLP defaults for tables (100 hidden units, Glorot-uniform weights): the
        # comparison of docs/own-data.md; images flattened, 128 hidden units as for digits
        hidden = args.hidden or ((100,) if data.kind == "csv" else (128,))
        init = "xavier_uniform" if data.kind == "csv" else "he_uniform"
        features = int(np.prod(data.input_shape))
        return Sequential(
            *augment,
            *recipes.mlp(features, hidden, outputs, rng, dropout=dropout, init=init, flatten=data.kind == "images"),
        )
    c, h, w = data.input_shape
    # two 3x3 convolutions, each halving the side; ReLU after pooling (they commute, on a quarter of the values)
    pools = 2 if min(h, w) >= 8 else 1
    layers: list[Module] = [*augment, Conv2d(c, 16, 3, padding=1, rng=rng), MaxPool2d(2), ReLU(), BatchNorm2d(16)]
    layers += [Conv2d(16, 32, 3, padding=1, rng=rng)]
    if pools == 2:
        layers += [MaxPool2d(2)]
    layers += [ReLU(), BatchNorm2d(32), Flatten(), Dropout(args.dropout if args.dropout is not None else 0.2, rng=rng)]
    side = 2**pools
    layers += [
        Linear(32 * (h // side) * (w // side), 128, init="he_uniform", rng=rng),
        ReLU(),
        Linear(128, outputs, rng=rng),
    ]
    return Sequential(*layers)


def settings_for(data: OwnData, model: str, args: argparse.Namespace) -> recipes.Settings:
    """Epochs scaled to the data's size (fewer passes over more rows), then the command line's overrides.

    Tables: scikit-learn's MLP defaults (Adam lr 1e-3, batches of min(200, N), 200 epochs), with fewer epochs
    above 1,000 rows (about 200,000 rows seen, at least 10 epochs). Images: batch 32, Adam lr 1e-3, about
    30,000 images seen (10 to 40 epochs).
    """
    n = len(data.splits.x_train)
    if data.kind == "csv":
        base = recipes.Settings(
            epochs=min(200, max(10, math.ceil(200_000 / n))), batch_size=min(200, n), optimizer="adam", lr=1e-3
        )
    else:
        base = recipes.Settings(
            epochs=min(40, max(10, math.ceil(30_000 / n))), batch_size=32, optimizer="adam", lr=1e-3
        )
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer, "lr": args.lr}
    return recipes.Settings(**{**base.__dict__, **{k: v for k, v in given.items() if v is not None}})


def text_settings(model: str, args: argparse.Namespace, train_chars: int, val_chars: int) -> text_recipes.TextRecipe:
    """The language model's recipe, its steps scaled to the text (about 10 passes, 50 to the recipe's 2,000)."""
    if model not in text_recipes.RECIPES:
        raise CommandError(
            f"--model {model} is not a language model; for a text file use one of {', '.join(text_recipes.RECIPES)}, or --model gpt2"
        )
    for flag in ("epochs", "optimizer"):
        if getattr(args, flag, None) is not None:
            raise CommandError(
                f"--{flag} does not apply to a text file, which trains for --steps with its recipe's optimizer"
            )
    base = text_recipes.RECIPES[model]
    batch = args.batch_size or base.batch_size
    context = args.context or min(base.context, val_chars - 1)
    if context > val_chars - 1 or context < 2:
        raise CommandError(
            f"--data {args.data}: its validation part ({val_chars:,} characters, the last 10%) is too short for "
            f"a context of {context}: give a longer text" + (" or a smaller --context" if args.context else "")
        )
    steps = args.steps or min(base.steps, max(50, math.ceil(10 * train_chars / (batch * context))))
    s = base.with_overrides(
        steps=steps, batch_size=batch, context=context, lr=args.lr, eval_interval=args.eval_interval
    )
    if s.eval_interval > s.steps:
        s = s.with_overrides(eval_interval=s.steps)
    if s.warmup_steps >= s.steps:
        s = s.with_overrides(warmup_steps=s.steps // 10)
    if s.min_lr is not None and s.min_lr > s.lr:
        s = s.with_overrides(min_lr=s.lr)
    return s
