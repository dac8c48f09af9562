"""``glassnet train --data PATH``: training on a CSV file, an image folder or a text file of one's own.

The same run as for the built-in sets (``Module.fit`` with a cosine decay, Ctrl-C
saving the model so far, the curves, the pictures of the test split,
report.html, ``test accuracy: X`` at the end), with what the data decides:
classification (cross-entropy, accuracy) or regression (mean squared error on
the standardised target, then MAE, RMSE and R² in the target's units). The
model file keeps the preprocessing record, so ``glassnet predict`` and
``glassnet evaluate`` take raw files of the same kind. A text file trains a
language model for steps, as ``--data shakespeare`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from glassnet.cli import own_data, recipes, text_recipes
from glassnet.cli.common import (
    confusion_matrix,
    evaluation_pictures,
    format_confusion,
    make_optimizer,
    output_files,
    plural,
)
from glassnet.cli.errors import EXIT_INTERRUPTED, CommandError
from glassnet.cli.language_model import run_character_model
from glassnet.cli.runs import StopOnInterrupt, interruptible
from glassnet.datasets import from_text
from glassnet.history import History
from glassnet.losses import CrossEntropyLoss, MSELoss
from glassnet.module import Module
from glassnet.optim import CosineAnnealingLR

__all__ = ["is_own", "train", "regression_errors"]

# flags of the built-in runs that a file of one's own does not take (yet), and why
_NOT_FOR_OWN_DATA = {
    "resume": "--resume continues the built-in data sets' runs and language models'",
    "seeds": "--seeds runs the built-in data sets; for a file of your own, run --seed S once per seed",
    "distributed": "--distributed trains the built-in data sets",
    "diagnose": "--diagnose is for the built-in data sets",
    "data_path": "--data-path is for the IDX data sets",
    "download": "--download is for the IDX data sets",
}
_LANGUAGE_FLAGS = ("steps", "context", "eval_interval")


def is_own(data: str | None) -> bool:
    """Whether ``--data`` names a file or folder of one's own rather than a built-in data set."""
    builtin = recipes.DATASETS + ("shakespeare",)
    return data is not None and data not in builtin and own_data.detect(data) is not None


def _check_flags(args: argparse.Namespace, kind: str) -> None:
    for key, why in _NOT_FOR_OWN_DATA.items():
        if key == "resume" and kind == "text":  # a language model's run resumes from its checkpoint
            continue
        if getattr(args, key, None) not in (None, False):
            raise CommandError(f"{why}; --data {args.data} is a file of your own: leave it out")
    if kind != "text":
        for key in _LANGUAGE_FLAGS:
            if getattr(args, key, None) is not None:
                flag = "--" + key.replace("_", "-")
                raise CommandError(
                    f"{flag} is for language models (a .txt file); --data {args.data} trains for --epochs"
                )
    own_data.check_flags(args, kind)


def train(args: argparse.Namespace) -> int:
    """``glassnet train --data PATH``: the kind from the path, then the run."""
    kind = own_data.detect(args.data)
    if kind is None:  # pragma: no cover - is_own said it was one
        raise CommandError(f"--data {args.data}: not a CSV file, an image folder or a text file")
    _check_flags(args, kind)
    args.seed = 0 if args.seed is None else args.seed
    if kind == "text":
        return train_text(args)
    return train_table_or_images(args, kind)


def regression_errors(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² (1 - residual sum of squares / total sum of squares) of two (N,) arrays."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    total = float(((y_true - np.mean(y_true)) ** 2).sum())
    r2 = 1.0 - float((err**2).sum()) / total if total > 0 else float("nan")
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean())), "r2": r2}


def _describe(data: own_data.OwnData) -> str:
    prep = data.preprocessing
    if data.kind == "csv":
        what = f"{plural(len(prep.columns), 'column')} -> {plural(prep.n_features, 'feature')}"
        if data.task == "regression":
            return f"CSV, regression of {prep.target!r}, {what}"
        return f"CSV, {len(data.class_names)} classes of {prep.target!r}, {what}"
    c, h, w = prep.input_shape
    colour = "grayscale" if c == 1 else "RGB"
    return f"image folder, {len(data.class_names)} classes, {colour} {h}x{w}"


def train_table_or_images(args: argparse.Namespace, kind: str) -> int:
    started = time.perf_counter()
    model_name = args.model or ("cnn" if kind == "images" else "mlp")
    if model_name not in recipes.MODELS:
        raise CommandError(f"--model {model_name} is a language model: train it on a .txt file")
    if model_name == "cnn" and kind != "images":
        raise CommandError("--model cnn needs images: give a folder of class folders, or use --model mlp")
    if model_name == "cnn" and args.hidden is not None:
        raise CommandError("--hidden shapes the MLP; the CNN keeps its own: use --model mlp, or leave --hidden out")
    data = own_data.load(args, kind)  # read and checked before anything is written
    own_data.print_warnings(data)
    model = own_data.build_model(data, model_name, args)
    s = own_data.settings_for(data, model_name, args)
    stem = os.path.splitext(os.path.basename(os.path.normpath(args.data)))[0] or "data"
    out = args.out or os.path.join("runs", f"{stem}-{model_name}")
    model_path, plot_path = output_files(out, "--out", "model.gnet", "curves.png")
    sp = data.splits
    n_params = sum(p.data.size for p in model.parameters())
    print(
        f"glassnet train: {args.data} ({_describe(data)}), {model_name} ({plural(n_params, 'parameter')}); "
        f"{len(sp.x_train):,} training, {len(sp.x_val):,} validation, {len(sp.x_test):,} test samples"
        + (f" (from {args.test})" if args.test else "")
    )
    print(
        f"  {plural(s.epochs, 'epoch')}, batch {s.batch_size}, {s.optimizer} lr {s.lr:g} with cosine decay, seed {args.seed}"
    )
    print("  (Ctrl-C stops at the end of a batch and saves the model trained so far)", flush=True)
    classify = data.task == "classification"
    loss: Any = CrossEntropyLoss() if classify else MSELoss()
    metrics = ["accuracy"] if classify else []
    optimizer = make_optimizer(s.optimizer, model, s.lr)
    stop = StopOnInterrupt(batches=-(-len(sp.x_train) // min(s.batch_size, len(sp.x_train))))
    metadata: dict[str, Any] = {
        "data": args.data,
        "data_kind": kind,
        "model": model_name,
        "input_shape": list(data.input_shape),
        "seed": args.seed,
        "settings": {"epochs": s.epochs, "batch_size": s.batch_size, "optimizer": s.optimizer, "lr": s.lr},
    }
    if classify:
        metadata["class_names"] = data.class_names
    validation = (sp.x_val, sp.y_val) if len(sp.x_val) else None
    with interruptible(stop):
        history = model.fit(
            sp.x_train,
            sp.y_train,
            loss=loss,
            optimizer=optimizer,
            epochs=s.epochs,
            batch_size=s.batch_size,
            validation_data=validation,
            metrics=metrics,
            callbacks=[CosineAnnealingLR(optimizer, T_max=s.epochs), stop],
            seed=args.seed,
            verbose=1,
            preprocessing=data.preprocessing,
        )
    if stop.stopped is not None:
        epoch, batch = stop.stopped
        metadata["interrupted"] = {"epoch": epoch, "batch": batch, "batches": stop.batches}
        model.save(model_path, metadata=metadata)  # with the preprocessing fit recorded
        print(
            f"interrupted in epoch {epoch}/{s.epochs}: the model trained so far is saved to {model_path}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    outputs = model.predict(sp.x_test)
    results: dict[str, float]
    if classify:
        results = {"accuracy": float(np.mean(outputs.argmax(axis=1) == sp.y_test))}
        metadata["test_accuracy"] = results["accuracy"]
    else:
        prep = data.preprocessing
        results = regression_errors(prep.inverse_target(sp.y_test[:, 0]), prep.inverse_target(outputs[:, 0]))
        metadata["test_errors"] = results
    seconds = time.perf_counter() - started
    model.save(model_path, metadata=metadata)
    print(f"model saved to {model_path} (with its preprocessing: glassnet predict takes raw {_raw_kind(kind)})")
    title = f"{stem}, {model_name}"
    drawn = _curves(history, plot_path, title)
    if classify:
        drawn += evaluation_pictures(out, sp.x_test, sp.y_test, outputs, data.class_names, title, model)
    _report(out, args, model, data, s, history, results, seconds, drawn, outputs)
    print(f"total time: {seconds:.1f}s")
    if classify:
        print(f"test accuracy: {results['accuracy']:.4f}")
    else:
        print(f"test MAE: {results['mae']:.4g}")
        print(f"test RMSE: {results['rmse']:.4g}")
        print(f"test R²: {results['r2']:.4f}")
    return 0


def _raw_kind(kind: str) -> str:
    return {"csv": "CSV rows", "images": "image files and folders"}.get(kind, "text")


def _curves(history: History, path: str, title: str) -> list[tuple[str, str]]:
    try:
        from glassnet.plot import history_curves

        history_curves(history.history, path, title=title)
    except ImportError as err:
        print(f"no plot: {err}")
        return []
    print(f"curves saved to {path}")
    return [(path, f"{title}: loss per epoch")]


def _report(
    out: str,
    args: argparse.Namespace,
    model: Module,
    data: own_data.OwnData,
    s: recipes.Settings,
    history: History,
    results: dict[str, float],
    seconds: float,
    drawn: list[tuple[str, str]],
    outputs: np.ndarray,
) -> None:
    """report.html: the run on one self-contained page, as for the built-in data sets."""
    from glassnet.report import write_report
    from glassnet.summary import summary as summary_text

    sp = data.splits
    n_test = f"({len(sp.x_test):,} test samples)"
    if data.task == "classification":
        shown = {"test accuracy": f"{results['accuracy']:.4f} {n_test}"}
        matrix = confusion_matrix(sp.y_test, outputs.argmax(axis=1), len(data.class_names))
        texts = [
            (
                "Confusion matrix (rows: true class; columns: predicted class, numbered as the rows)",
                format_confusion(matrix, data.class_names),
            )
        ]
    else:
        shown = {
            "test MAE": f"{results['mae']:.4g} {n_test}",
            "test RMSE": f"{results['rmse']:.4g}",
            "test R²": f"{results['r2']:.4f}",
        }
        texts = []
    path = os.path.join(out, "report.html")
    write_report(
        path,
        title=f"glassnet train --data {args.data}" + (f" --model {args.model}" if args.model else ""),
        summary={
            **shown,
            "total time": f"{seconds:.1f} s",
            "epochs trained": len(history.epoch),
            "parameters": f"{sum(p.data.size for p in model.parameters()):,}",
        },  # fmt: skip
        settings={
            "data": f"{args.data} ({_describe(data)}): {len(sp.x_train):,} training, {len(sp.x_val):,} validation",
            "epochs": s.epochs,
            "batch size": s.batch_size,
            "optimizer": f"{s.optimizer}, lr {s.lr:g} with cosine decay",
            "seed": args.seed,
            "model file": os.path.join(out, "model.gnet"),
        },
        history=history.history,
        pictures=drawn,
        texts=[*texts, ("Layers", summary_text(model, data.input_shape))],
    )
    print(f"report saved to {path}")


# -- a text file ---------------------------------------------------------------------------

MIN_TEXT = 50  # characters: a validation part of 5 and a context of 4 at the least


def train_text(args: argparse.Namespace) -> int:
    """``glassnet train --data story.txt --model gpt|lstm|rnn``: a character model of the file, trained for steps."""
    model_name = args.model or "gpt"
    if model_name not in text_recipes.RECIPES:
        raise CommandError(
            f"--model {model_name} is not a language model; for a text file use one of {', '.join(text_recipes.RECIPES)}, or --model gpt2"
        )
    try:
        text, prep = from_text(args.data, encoding=getattr(args, "encoding", None) or "utf-8")
    except ValueError as err:
        raise CommandError(str(err)) from None
    if len(text) < MIN_TEXT:
        raise CommandError(
            f"--data {args.data} holds {len(text)} characters; a language model needs at least {MIN_TEXT}"
        )
    cut = int(len(text) * 0.9)  # the first 90% trains, the last 10% validates (nanoGPT's split)
    train_ids, val_ids = prep.encode(text[:cut]), prep.encode(text[cut:])
    s = own_data.text_settings(model_name, args, len(train_ids), len(val_ids))
    stem = os.path.splitext(os.path.basename(args.data))[0] or "text"
    args.model = model_name
    return run_character_model(
        args,
        s,
        prep,
        train_ids,
        val_ids,
        out=args.out or os.path.join("runs", f"{stem}-{model_name}"),
        title=f"{stem}, {model_name}",
        metadata={"data": args.data, "data_kind": "text", "preprocessing": prep.to_json()},
        steps_note="" if args.steps else " (scaled to the text)",
    )
