"""``glassnet predict`` and ``glassnet evaluate`` on raw files: CSV rows and images, through the model's record.

A model trained on a CSV file or an image folder keeps its preprocessing in
its file (``model.metadata["preprocessing"]``); here it is read back
(``preprocessing_from_metadata``), applied to the raw input (``apply``) and
the outputs turned back into class names or values in the target's units
(``decode``). Each input gets one line; ``--out results.csv`` writes the same
as a CSV file, and only once every input has been read and predicted.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from glassnet._files import atomic_write
from glassnet.cli.common import confusion_matrix, format_confusion
from glassnet.cli.errors import CommandError
from glassnet.cli.own_data import quietly
from glassnet.cli.own_training import regression_errors
from glassnet.datasets import TabularPreprocessing, TextPreprocessing, apply, decode, preprocessing_from_metadata
from glassnet.datasets.images import ImagePreprocessing, is_labelled_folder
from glassnet.datasets.preprocessing import Prepared, Preprocessing
from glassnet.module import Module

__all__ = ["preprocessing_of", "add_out_arg", "predict", "evaluate"]


def preprocessing_of(model: Module, path: str) -> Preprocessing | None:
    """The record of one's own data in the model file; None for a model without one (the built-in data sets')."""
    meta = getattr(model, "metadata", None)
    record = meta.get("preprocessing") if isinstance(meta, dict) else None
    if not isinstance(record, dict) or "kind" not in record:  # absent, or the built-in sets' {"divide_by": N}
        return None
    try:
        return preprocessing_from_metadata(meta)
    except ValueError as err:
        raise CommandError(f"{path}: its preprocessing record is unusable ({err})") from None


def add_out_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        default=None,
        metavar="RESULTS.csv",
        help="models trained on your own files: also write the results, one row per input, to this CSV file",
    )


def _check_out(path: str | None) -> None:
    """A results file that can be written, checked before any reading."""
    if path is None:
        return
    if os.path.isdir(path):
        raise CommandError(f"--out {path} is a folder: give a file name, like results.csv")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"--out {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"--out {path}: cannot write in {folder}; choose another place")


def _read(prep: Preprocessing, inputs: Sequence[str], labelled: bool) -> Prepared:
    """The raw inputs through ``prep``; every problem with them a CommandError naming it."""
    if isinstance(prep, TextPreprocessing):
        raise CommandError("this is a language model: continue a prompt with glassnet generate MODEL --prompt TEXT")
    try:
        if isinstance(prep, TabularPreprocessing):
            if len(inputs) != 1:
                raise CommandError(f"give one CSV file of rows; got {len(inputs)} inputs")
            path = inputs[0]
            if not os.path.isfile(path):
                raise CommandError(f"{path}: no such CSV file")
            delimiter = "\t" if path.lower().endswith(".tsv") else ","
            rows = apply(prep, path, delimiter=delimiter)
            if labelled and rows.y is None:
                raise CommandError(
                    f"{path} has no column {prep.target!r}, the target: evaluate scores predictions against it"
                )
            return rows
        image_prep: ImagePreprocessing = prep
        if labelled:
            if len(inputs) != 1 or not is_labelled_folder(inputs[0], image_prep.classes):
                raise CommandError(
                    "evaluate takes one folder of class folders named as the model's classes "
                    f"({', '.join(image_prep.classes)}); got {', '.join(inputs)}"
                )
            return quietly(lambda: image_prep.load_labelled(inputs[0]))
        images = quietly(lambda: image_prep.load(list(inputs)))
        if len(images.x) == 0:
            raise CommandError(f"none of the {len(images.skipped)} files given could be read as an image")
        return images
    except (ValueError, OSError, ImportError) as err:
        raise CommandError(str(err)) from None


def _outputs(model: Module, x: np.ndarray) -> np.ndarray:
    try:
        return model.predict(x)
    except ValueError as err:
        raise CommandError(f"the model cannot take these inputs: {err}") from None


def _write(path: str | None, header: list[str], rows: list[list[Any]]) -> None:
    if path is None:
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write(path, buffer.getvalue().encode("utf-8"))
    print(f"results written to {path}")


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(f"{h:<{w}}" for h, w in zip(header, widths)).rstrip())
    for r in rows:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths)).rstrip())


def predict(args: argparse.Namespace, model: Module, prep: Preprocessing) -> int:
    """``glassnet predict MODEL rows.csv`` / ``MODEL cat.jpg more/``: one line per input."""
    _check_out(args.out)
    data = _read(prep, args.input, labelled=False)
    labels, values = decode(prep, _outputs(model, data.x))
    if labels is None:  # regression, in the target's units
        target = prep.target if isinstance(prep, TabularPreprocessing) else "value"
        rows = [[name, f"{v:.6g}"] for name, v in zip(data.names, values.tolist())]
        _table(["input", target], rows)
        _write(args.out, ["input", target], [[n, v] for n, v in zip(data.names, values.tolist())])
        return 0
    rows = [[name, label, f"{p:.3f}"] for name, label, p in zip(data.names, labels, values.tolist())]
    _table(["input", "class", "probability"], rows)
    _write(
        args.out, ["input", "class", "probability"], [[n, c, p] for n, c, p in zip(data.names, labels, values.tolist())]
    )
    return 0


def evaluate(args: argparse.Namespace, model: Module, prep: Preprocessing) -> int:
    """``glassnet evaluate MODEL labelled.csv|folder/``: one line per input, then the confusion matrix or the errors."""
    for flag, value in (("--data", args.data), ("--seed", args.seed)):
        if value is not None:
            raise CommandError(
                f"{flag} is for the built-in data sets' test splits; {args.input} is the data: leave {flag} out"
            )
    _check_out(args.out)
    data = _read(prep, [args.input], labelled=True)
    outputs = _outputs(model, data.x)
    labels, values = decode(prep, outputs)
    y = data.y
    if y is None:  # pragma: no cover - _read refuses unlabelled input
        raise CommandError(f"{args.input} holds no targets")
    if labels is None:
        if not isinstance(prep, TabularPreprocessing):  # pragma: no cover - regression is tabular only
            raise CommandError("regression needs a tabular preprocessing record")
        truth = prep.inverse_target(y[:, 0])
        rows = [[n, f"{t:.6g}", f"{v:.6g}"] for n, t, v in zip(data.names, truth.tolist(), values.tolist())]
        _table(["input", "true", "predicted"], rows)
        errors = regression_errors(truth, values)
        print(f"{args.input}: {len(truth):,} rows")
        print(f"MAE: {errors['mae']:.4g}")
        print(f"RMSE: {errors['rmse']:.4g}")
        print(f"R²: {errors['r2']:.4f}")
        _write(
            args.out,
            ["input", "true", "predicted"],
            [[n, t, v] for n, t, v in zip(data.names, truth.tolist(), values.tolist())],
        )
        return 0
    classes: list[str] = list(getattr(prep, "classes", None) or [])
    true_names = [classes[i] for i in y.tolist()]
    rows = [
        [n, t, c, f"{p:.3f}", "" if t == c else "wrong"]
        for n, t, c, p in zip(data.names, true_names, labels, values.tolist())
    ]
    _table(["input", "true", "predicted", "probability", ""], rows)
    predicted = outputs.argmax(axis=1)
    print(f"{args.input}: {len(y):,} samples")
    print(f"accuracy: {float(np.mean(predicted == y)):.4f}")
    print("confusion matrix (rows: true class; columns: predicted class, numbered as the rows):")
    print(format_confusion(confusion_matrix(y, predicted, len(classes)), classes))
    _write(
        args.out,
        ["input", "true", "predicted", "probability"],
        [[n, t, c, p] for n, t, c, p in zip(data.names, true_names, labels, values.tolist())],
    )
    return 0
