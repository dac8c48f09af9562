"""What several commands share: checking output folders, loading data and models, and their errors worded
for the command line; the confusion matrix; the pictures of an evaluation."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from glassnet.cli import recipes
from glassnet.cli.errors import CommandError
from glassnet.cli.runs import RunInfo, read_run_info
from glassnet.datasets.text import CharTokenizer
from glassnet.io import load
from glassnet.module import Module
from glassnet.optim import SGD, Adam, Optimizer

CHECKPOINT = "checkpoint.gnet"  # what glassnet train writes into --out, and --resume DIR continues


def checkpoint_of(resume: str) -> str:
    """The checkpoint file that ``--resume`` names: the file itself, or ``checkpoint.gnet`` in a folder."""
    path = os.path.join(resume, CHECKPOINT) if os.path.isdir(resume) else resume
    if not os.path.isfile(path):
        raise CommandError(
            f"--resume {resume}: no checkpoint there (glassnet train writes {CHECKPOINT} into its --out folder "
            "as it trains)"
        )
    return path


def plural(n: int, word: str) -> str:
    """ "1 epoch", "2 epochs"."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def note(text: str) -> None:
    """A remark that is not an error, on stderr so that stdout stays the result."""
    print(f"note: {text}", file=sys.stderr)


def prepare_folder(folder: str, flag: str) -> None:
    """Create ``folder`` if missing and make sure files can be written in it."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CommandError(f"{flag} {folder} is a file, not a folder: give a folder (it is created if missing)")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise CommandError(f"{flag} {folder}: cannot create the folder ({err.strerror or err})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"{flag} {folder}: cannot write in this folder; choose another one")


def output_files(folder: str, flag: str, *names: str) -> list[str]:
    """The paths of ``names`` in ``folder`` (created if missing), none of them a folder."""
    prepare_folder(folder, flag)
    paths = [os.path.join(folder, name) for name in names]
    for path in paths:
        if os.path.isdir(path):
            raise CommandError(
                f"{flag} {folder}: {path} is a folder, so the file cannot be written; choose another --out"
            )
    return paths


def load_data(name: str, seed: int, data_path: str | None, download: bool) -> recipes.Data:
    """``recipes.load_data`` with the data-source flags checked and its errors worded for the command line."""
    from glassnet.datasets import idx_sets

    if data_path is not None:
        if name not in recipes.IDX_DATASETS:
            origin = "ships with glassnet" if name == "digits" else "is generated"
            raise CommandError(
                f"--data-path is for the data sets read from files ({', '.join(recipes.IDX_DATASETS)}); "
                f"{name} {origin}: leave --data-path out"
            )
        title = idx_sets.TITLES[name]
        if os.path.exists(data_path) and not os.path.isdir(data_path):
            raise CommandError(f"--data-path {data_path} is a file: give the folder that holds the {title} IDX files")
        if not download:
            if not os.path.isdir(data_path):
                raise CommandError(
                    f"--data-path {data_path}: no such folder; give the folder that holds the {title} IDX files, "
                    "or add --download to fetch them into it"
                )
            missing = [
                s
                for s in idx_sets.FILES
                if not any(os.path.isfile(os.path.join(data_path, s + e)) for e in ("", ".gz"))
            ]
            if missing:
                raise CommandError(
                    f"--data-path {data_path} holds no {title} data set (missing {', '.join(missing)}, raw or .gz); "
                    "give the folder that holds them, or add --download to fetch them into it"
                )
    try:
        return recipes.load_data(name, seed=seed, data_path=data_path, download=download)
    except FileNotFoundError as err:
        if name not in recipes.IDX_DATASETS:
            raise
        title = idx_sets.TITLES[name]
        looked = ", ".join(str(folder) for _, folder in idx_sets.search_path(name, None))
        hint = idx_sets.INSTALL_HINTS.get(name)
        raise CommandError(
            f"{title} not found (looked in {looked}): add --download to fetch it into "
            f"{idx_sets.download_dir(name, None)}, or pass --data-path FOLDER for a folder that holds its four IDX files"
            + (f", or {hint}" if hint else "")
        ) from err


def load_model(path: str) -> tuple[Module, RunInfo]:
    """The model in ``path`` and what its metadata says about how it was trained (odd fields dropped, with a note)."""
    if os.path.isdir(path):
        inside = os.path.join(path, "model.gnet")
        hint = f"did you mean {inside}?" if os.path.isfile(inside) else "give the model file inside it (model.gnet)"
        raise CommandError(f"{path} is a folder, not a model file: {hint}")
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such model file (glassnet train writes runs/DATA-MODEL/model.gnet)")
    model = load(path)
    info, problems = read_run_info(getattr(model, "metadata", None))
    for problem in problems:
        note(f"{path}: {problem}")
    return model, info


def make_optimizer(name: str, model: Module, lr: float) -> Optimizer:
    """Adam, or SGD with momentum 0.9: the two optimizers the recipes use."""
    if name == "sgd":
        return SGD(model.parameters(), lr=lr, momentum=0.9)
    return Adam(model.parameters(), lr=lr)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of class i predicted as class j."""
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def format_confusion(matrix: np.ndarray, names: list[str]) -> str:
    """Rows labelled "number name", columns by number only, so long names never squeeze the columns.

    The last column is the recall: the share of each true class predicted right.
    """
    classes = len(matrix)
    width = max(len(f"{int(matrix.max()):,}"), len(str(classes - 1))) + 2
    labels = [str(i) if name == str(i) else f"{i:>{len(str(classes - 1))}}  {name}" for i, name in enumerate(names)]
    label_width = max(len("true"), *(len(label) for label in labels))
    header = f"{'true':<{label_width}}" + "".join(f"{j:>{width}}" for j in range(classes)) + f"{'recall':>10}"
    lines = [f"{'':<{label_width}}{'predicted':^{width * classes}}".rstrip(), header]
    for i, (label, row) in enumerate(zip(labels, matrix)):
        total = int(row.sum())
        recall = f"{100 * row[i] / total:7.1f}%" if total else "      -"
        lines.append(f"{label:<{label_width}}" + "".join(f"{int(v):>{width},}" for v in row) + f"  {recall}")
    return "\n".join(lines)


def draw_picture(path: str, what: str, draw: Callable[[], Any]) -> str | None:
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

    drawn: list[tuple[str, str]] = []
    matrix = confusion_matrix(y, logits.argmax(axis=1), len(names))
    path = os.path.join(folder, "confusion.png")
    caption = f"{title}: confusion matrix of the test split (rows: true class)"
    if draw_picture(
        path, "confusion matrix", lambda: pictures.confusion_matrix_png(matrix, names, path, title=caption)
    ):
        drawn.append((path, caption))
    if x.ndim == 4:
        path = os.path.join(folder, "errors.png")
        caption = f"{title}: the most confidently wrong test images"
        if draw_picture(
            path, "wrong images", lambda: pictures.confident_errors(x, y, logits, names, path, title=caption)
        ):
            drawn.append((path, caption))
    elif x.ndim == 2 and x.shape[1] == 2 and model is not None:
        path = os.path.join(folder, "boundary.png")
        caption = f"{title}: decision boundary, with the test points"
        if draw_picture(
            path, "decision boundary", lambda: pictures.decision_boundary(model, x, y, path, title=caption)
        ):
            drawn.append((path, caption))
    return drawn


def tokenizer_of(model: Any, path: str) -> CharTokenizer:
    """The vocabulary a language model's file records."""
    meta = getattr(model, "metadata", None) or {}
    if "vocabulary" not in meta:
        raise CommandError(f"{path} holds no vocabulary: generate needs a language model written by glassnet train")
    try:
        return CharTokenizer.from_config(meta["vocabulary"])
    except (TypeError, ValueError) as err:
        raise CommandError(f"{path}: its vocabulary is unusable ({err})") from None
