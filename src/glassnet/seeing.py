"""What ``glassnet explain`` and ``glassnet lr-find`` do (cli.py parses the arguments, commands.py forwards here).

Kept apart from commands.py, which runs the training commands: these show
what happens inside a network rather than produce a model.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from glassnet import recipes
from glassnet.cli import CommandError
from glassnet.losses import CrossEntropyLoss, Loss, SSELoss
from glassnet.module import Module


def _model_and_batch(args: argparse.Namespace, samples: int) -> tuple[Module, np.ndarray, np.ndarray, Loss, str]:
    """The model to look at, a batch of its data, its loss and a one-line description."""
    from glassnet.commands import load_data, load_model

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
        from glassnet.demo import tutorial_network

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


def explain(args: argparse.Namespace) -> int:
    from glassnet.commands import prepare_folder
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


def add_explain_args(p: argparse.ArgumentParser) -> None:
    from glassnet.cli import _data_source_args, _int, _non_negative_int, _positive_int

    p.add_argument(
        "model_file", metavar="MODEL", nargs="?", default=None, help="a model file (default: the tutorial's network)"
    )
    p.add_argument("--data", default=None, choices=recipes.DATASETS, metavar="DATA", help="data set of the batch")
    p.add_argument("--model", default=None, choices=recipes.MODELS, help="a new, untrained mlp or cnn for --data")
    p.add_argument("--samples", type=_positive_int, default=4, help="samples in the batch (default 4)")
    p.add_argument("--seed", type=_int, default=None, help="seed of the weights (default: 1 for the tutorial)")
    p.add_argument(
        "--values",
        type=_non_negative_int,
        default=32,
        help="arrays with more elements are shown as shape, norm, mean and std (default 32)",
    )
    p.add_argument("--out", default=".", help="folder for glassnet-explain.png, created if missing (default: .)")
    _data_source_args(p)


# -- glassnet train --diagnose -------------------------------------------------------------


def add_inside_train_args(p: argparse.ArgumentParser) -> None:
    from glassnet.cli import _positive_int

    p.add_argument(
        "--diagnose",
        action="store_true",
        help="record per-layer statistics, warn when training goes wrong, write diagnostics.png",
    )
    p.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        metavar="K",
        help="train K times, seeds --seed .. --seed+K-1 (each into --out/seed-S), and report test accuracy mean ± std",
    )


def train_seeds(args: argparse.Namespace) -> int:
    """``glassnet train ... --seeds K``: one run per seed, then the test accuracy as mean ± std."""
    from glassnet.commands import train
    from glassnet.io import load
    from glassnet.text_commands import TEXT_DATASETS

    if args.data in TEXT_DATASETS:
        raise CommandError(f"--seeds reports test accuracy, which --data {args.data} has not: leave --seeds out")
    if args.resume is not None:
        raise CommandError("--seeds starts fresh runs: leave out --resume, or --seeds to resume one run")
    if args.data is None:
        raise CommandError("--seeds needs --data")
    base = 0 if args.seed is None else args.seed
    out = args.out or os.path.join("runs", f"{args.data}-{args.model or 'mlp'}")
    seeds = list(range(base, base + args.seeds))
    accuracies = []
    for k, seed in enumerate(seeds):
        print(f"== seed {seed} ({k + 1} of {len(seeds)}) ==", flush=True)
        run = argparse.Namespace(
            **{**vars(args), "seeds": None, "seed": seed, "out": os.path.join(out, f"seed-{seed}")}
        )
        code = train(run)
        if code != 0:
            return int(code)
        accuracies.append(float(load(os.path.join(run.out, "model.gnet")).metadata["test_accuracy"]))  # type: ignore[attr-defined]
    acc = np.array(accuracies)
    spread = float(acc.std(ddof=1)) if len(acc) > 1 else 0.0
    print()
    print("  seed  test accuracy")
    for seed, a in zip(seeds, accuracies):
        print(f"  {seed:>4}  {a:.4f}")
    print(
        f"test accuracy over {len(seeds)} seeds ({seeds[0]} to {seeds[-1]}): {acc.mean():.4f} ± {spread:.4f} "
        f"(mean ± sample standard deviation; min {acc.min():.4f}, max {acc.max():.4f})"
    )
    return 0


def diagnostics_for(args: argparse.Namespace) -> list[Any]:
    """``[Diagnostics()]`` for ``--diagnose``, else ``[]``."""
    from glassnet.diagnostics import Diagnostics

    return [Diagnostics()] if getattr(args, "diagnose", False) else []


def report_diagnostics(diagnostics: list[Any], out: str, title: str) -> None:
    """Print the last epoch's table and write diagnostics.png into ``out``."""
    for diag in diagnostics:
        print(diag.table())
        if not diag.warnings:
            print("diagnostics: no warning (gradients, ReLUs, saturation, loss and NaN all looked healthy)")
        path = os.path.join(out, "diagnostics.png")
        try:
            diag.plot(path, title=f"glassnet diagnostics: {title}")
        except ImportError:
            print('matplotlib is not installed; for a PNG of the diagnostics: pip install "glassnet[plot]"')
        else:
            print(f"diagnostics written to {path}")


# -- glassnet lr-find ----------------------------------------------------------------------


def add_lr_find_args(p: argparse.ArgumentParser) -> None:
    from glassnet.cli import _data_source_args, _int, _positive_float, _positive_int

    p.add_argument("--data", required=True, choices=recipes.DATASETS, metavar="DATA", help="data set to train on")
    p.add_argument("--model", default="mlp", choices=recipes.MODELS, help="mlp (default) or cnn (image data sets)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="adam (default) or sgd with momentum 0.9")
    p.add_argument("--batch-size", type=_positive_int, help="samples per step (default per data set)")
    p.add_argument("--start-lr", type=_positive_float, default=1e-7, help="first learning rate (default 1e-7)")
    p.add_argument("--end-lr", type=_positive_float, default=10.0, help="last learning rate (default 10)")
    p.add_argument("--seed", type=_int, default=0, help="seed of the weights, the split and the order (default 0)")
    p.add_argument("--out", default=None, help="folder for lr-find.png (default runs/DATA-MODEL)")
    _data_source_args(p)


def lr_find(args: argparse.Namespace) -> int:
    from glassnet.commands import _optimizer, load_data, prepare_folder
    from glassnet.lr_find import lr_find as range_test

    if args.model == "cnn" and args.data not in recipes.IMAGE_DATASETS:
        raise CommandError(f"--model cnn needs image data ({', '.join(recipes.IMAGE_DATASETS)}); use --model mlp")
    if args.end_lr <= args.start_lr:
        raise CommandError(f"--end-lr {args.end_lr:g} must be larger than --start-lr {args.start_lr:g}")
    out = args.out or os.path.join("runs", f"{args.data}-{args.model}")
    prepare_folder(out, "--out")
    data = load_data(args.data, args.seed, args.data_path, args.download)
    model = recipes.build_model(args.data, args.model, tuple(data.x_train.shape[1:]), data.classes, seed=args.seed)
    s = recipes.settings_for(args.data, args.model, batch_size=args.batch_size, optimizer=args.optimizer)
    optimizer = _optimizer(s.optimizer, model, s.lr)
    print(
        f"glassnet lr-find: {args.data}, {args.model}, {s.optimizer}, batch {s.batch_size}: "
        f"lr from {args.start_lr:g} to {args.end_lr:g}, growing exponentially over one pass of the data (at least 100 batches)"
    )
    result = range_test(
        model, data.x_train, data.y_train, loss=CrossEntropyLoss(), optimizer=optimizer,
        start_lr=args.start_lr, end_lr=args.end_lr, batch_size=s.batch_size, seed=args.seed,
    )  # fmt: skip
    stopped = (
        "" if result.lrs[-1] >= args.end_lr * 0.999 else f" (stopped at lr {result.lrs[-1]:.2g}: the loss diverged)"
    )
    print(
        f"  {len(result.lrs)} steps{stopped}; lowest smoothed loss {min(result.smoothed):.4f} at lr {result.min_lr:.2g}"
    )
    print(f"  suggested lr: {result.suggestion:.2g} (steepest fall of the loss); min / 10: {result.min_lr / 10:.2g}")
    print(f"  the recipe's default for {args.data} {args.model}: {s.lr:g}; the model's weights are as before the test")
    path = os.path.join(out, "lr-find.png")
    try:
        result.plot(path, title=f"Learning-rate range test: {args.data}, {args.model}, {s.optimizer}",
                    loss_name="cross-entropy")  # fmt: skip
    except ImportError:
        print('matplotlib is not installed; for a PNG of the curve: pip install "glassnet[plot]"')
    else:
        print(f"loss against learning rate written to {path}")
    return 0
