"""``glassnet lr-find --data DATA``: the learning-rate range test (``glassnet.lr_find``) on a recipe's model."""

from __future__ import annotations

import argparse
import os

from glassnet.cli import recipes
from glassnet.cli.args import add_data_source_args, integer, positive_float, positive_int
from glassnet.cli.common import load_data, make_optimizer, prepare_folder
from glassnet.cli.errors import CommandError
from glassnet.losses import CrossEntropyLoss


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, choices=recipes.DATASETS, metavar="DATA", help="data set to train on")
    p.add_argument("--model", default="mlp", choices=recipes.MODELS, help="mlp (default) or cnn (image data sets)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="adam (default) or sgd with momentum 0.9")
    p.add_argument("--batch-size", type=positive_int, help="samples per step (default per data set)")
    p.add_argument("--start-lr", type=positive_float, default=1e-7, help="first learning rate (default 1e-7)")
    p.add_argument("--end-lr", type=positive_float, default=10.0, help="last learning rate (default 10)")
    p.add_argument("--seed", type=integer, default=0, help="seed of the weights, the split and the order (default 0)")
    p.add_argument("--out", default=None, help="folder for lr-find.png (default runs/DATA-MODEL)")
    add_data_source_args(p)


def run(args: argparse.Namespace) -> int:
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
    optimizer = make_optimizer(s.optimizer, model, s.lr)
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
