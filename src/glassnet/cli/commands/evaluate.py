"""``glassnet evaluate MODEL [FILE|FOLDER]``: accuracy and confusion matrix (or regression errors) of a saved model.

A model trained on a CSV file or an image folder is scored on raw labelled files instead
(``cli/raw_inputs.py``): ``glassnet evaluate model.gnet labelled.csv`` or ``... labelled-folder/``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from glassnet.cli import raw_inputs, recipes
from glassnet.cli.args import add_data_source_args, data_help, integer
from glassnet.cli.common import confusion_matrix, evaluation_pictures, format_confusion, load_data, load_model, note
from glassnet.cli.errors import CommandError
from glassnet.cli.runs import RunInfo


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file written by glassnet train (model.gnet)")
    p.add_argument(
        "input",
        nargs="?",
        default=None,
        metavar="FILE|FOLDER",
        help="for a model trained on your own files: a CSV file with the target column, or a folder of class folders",
    )
    raw_inputs.add_out_arg(p)
    p.add_argument(
        "--data", default=None, choices=recipes.DATASETS, metavar="DATA", help=data_help() + " (default: the model's)"
    )
    p.add_argument(
        "--seed", type=integer, default=None, help="seed of the split (default: the one the model was trained with)"
    )
    add_data_source_args(p)


def _samples_are(name: str, shape: tuple[int, ...]) -> str:
    return f"{name} {'images are' if name in recipes.IMAGE_DATASETS else 'samples are'} {recipes.describe_shape(name, shape).removesuffix(' images')}"


def _evaluation_seed(seed: int | None, info: RunInfo, name: str) -> int:
    if seed is None:
        return info.seed if info.seed is not None else 0
    if info.seed is not None and seed != info.seed and name == info.data and name in recipes.SEEDED_SPLITS:
        raise CommandError(
            f"the {name} test split is drawn with the seed, and this model was trained with seed {info.seed}: "
            f"--seed {seed} would test it on samples it trained on; leave --seed out"
        )
    return seed


def run(args: argparse.Namespace) -> int:
    model, info = load_model(args.model_file)
    prep = raw_inputs.preprocessing_of(model, args.model_file)
    if prep is not None or args.input is not None or args.out is not None:
        if prep is None:
            raise CommandError(
                f"{args.model_file} keeps no preprocessing record: raw files (and --out) are for models trained on "
                "your own CSV files or image folders; leave them out to score it on its data set's test split"
            )
        if args.input is None:
            raise CommandError(
                f"{args.model_file} was trained on {info.data}: give a labelled CSV file or folder to score it on"
            )
        return raw_inputs.evaluate(args, model, prep)
    name = args.data or info.data
    if name is None:
        raise CommandError("the model file does not say which data set it was trained on: pass --data NAME")
    if name not in recipes.DATASETS:
        raise CommandError(
            f"the model was trained on {name}; evaluate knows {', '.join(recipes.DATASETS)}: pass --data NAME"
        )
    seed = _evaluation_seed(args.seed, info, name)
    data = load_data(name, seed, args.data_path, args.download)
    shape = tuple(data.x_test.shape[1:])
    if info.input_shape is not None and info.input_shape != shape:
        trained = f"{info.data}, " if info.data else ""
        raise CommandError(
            f"this model was trained on {trained}{recipes.describe_shape(info.data, info.input_shape)}; "
            f"{_samples_are(name, shape)}"
            + (f": leave --data out to use {info.data}" if info.data in recipes.DATASETS else "")
        )
    if info.data is not None and info.data != name:
        note(f"this model was trained on {info.data}; scoring it on {name}")
    try:
        logits = model.predict(data.x_test)
    except ValueError as err:
        raise CommandError(f"the model cannot take {_samples_are(name, shape)}: {err}") from None
    if logits.ndim != 2 or logits.shape[1] != data.classes:
        raise CommandError(f"the model outputs shape {logits.shape[1:]}, but {name} has {data.classes} classes")
    predicted = logits.argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_test))
    print(
        f"{name} test split: {len(data.y_test):,} samples"
        + (f" (seed {seed})" if name in recipes.SEEDED_SPLITS else "")
    )
    print(f"accuracy: {accuracy:.4f}")
    print("confusion matrix (rows: true class; columns: predicted class, numbered as the rows):")
    print(format_confusion(confusion_matrix(data.y_test, predicted, data.classes), data.class_names))
    folder = os.path.dirname(os.path.abspath(args.model_file))
    evaluation_pictures(
        folder, data.x_test, data.y_test, logits, data.class_names, f"{name}, {info.model or 'model'}", model
    )
    return 0
