"""``glassnet explain [MODEL]``: one forward and backward pass printed as the chain rule, layer by layer.

Without a model file: the tutorial's network on its four rows; with ``--data``: a new, untrained
recipe model on a batch of that data set. The trace itself is ``glassnet.explain``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from glassnet.cli import recipes
from glassnet.cli.args import add_data_source_args, integer, non_negative_int, positive_int
from glassnet.cli.common import load_data, load_model, prepare_folder
from glassnet.cli.errors import CommandError
from glassnet.losses import CrossEntropyLoss, Loss, SSELoss
from glassnet.module import Module


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model_file", metavar="MODEL", nargs="?", default=None, help="a model file (default: the tutorial's network)"
    )
    p.add_argument("--data", default=None, choices=recipes.DATASETS, metavar="DATA", help="data set of the batch")
    p.add_argument("--model", default=None, choices=recipes.MODELS, help="a new, untrained mlp or cnn for --data")
    p.add_argument("--samples", type=positive_int, default=4, help="samples in the batch (default 4)")
    p.add_argument("--seed", type=integer, default=None, help="seed of the weights (default: 1 for the tutorial)")
    p.add_argument(
        "--values",
        type=non_negative_int,
        default=32,
        help="arrays with more elements are shown as shape, norm, mean and std (default 32)",
    )
    p.add_argument("--out", default=".", help="folder for glassnet-explain.png, created if missing (default: .)")
    add_data_source_args(p)


def _model_and_batch(args: argparse.Namespace, samples: int) -> tuple[Module, np.ndarray, np.ndarray, Loss, str]:
    """The model to look at, a batch of its data, its loss and a one-line description."""
    if args.model_file is not None:
        model, info = load_model(args.model_file)
        name = args.data or info.data
        if name is None:
            raise CommandError(f"{args.model_file} does not say which data set it was trained on: add --data DATA")
        seed = args.seed if args.seed is not None else (info.seed or 0)
        data = load_data(name, seed, args.data_path, args.download)
        what = f"{args.model_file} on {samples} {name} test samples"
        return model, data.x_test[:samples], data.y_test[:samples], CrossEntropyLoss(), what
    if args.data is None:
        from glassnet.datasets import tutorial
        from glassnet.models.tutorial import tutorial_network

        seed = 1 if args.seed is None else args.seed
        x, y = tutorial()
        return tutorial_network(seed), x, y, SSELoss(), f"the tutorial's 3-4-1 network, seed {seed}, its four rows"
    kind = args.model or "mlp"
    if kind == "cnn" and args.data not in recipes.IMAGE_DATASETS:
        raise CommandError(f"--model cnn needs image data ({', '.join(recipes.IMAGE_DATASETS)}); use --model mlp")
    seed = 0 if args.seed is None else args.seed
    data = load_data(args.data, seed, args.data_path, args.download)
    model = recipes.build_model(args.data, kind, tuple(data.x_train.shape[1:]), data.classes, seed=seed)
    what = f"a new {args.data} {kind} (seed {seed}, untrained) on {samples} training samples"
    return model, data.x_train[:samples], data.y_train[:samples], CrossEntropyLoss(), what


def run(args: argparse.Namespace) -> int:
    from glassnet.explain import draw
    from glassnet.explain import explain as trace_of

    if args.model is not None and args.model_file is not None:
        raise CommandError("give a MODEL file or --model, not both")
    prepare_folder(args.out, "--out")
    model, x, y, loss, what = _model_and_batch(args, args.samples)
    print(f"glassnet explain: {what}")
    trace = trace_of(model, x, y, loss)
    print(trace.text(max_values=args.values))
    path = os.path.join(args.out, "glassnet-explain.png")
    try:
        draw(trace, path)
    except ImportError:
        print('\nmatplotlib is not installed; for a PNG of the network: pip install "glassnet[plot]"')
    else:
        print(f"\npicture of the network written to {os.path.abspath(path)}")
    return 0
