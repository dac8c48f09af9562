"""The ``glassnet`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from glassnet import __version__

    parser = argparse.ArgumentParser(prog="glassnet", description="Neural networks from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train the tutorial's 3-4-1 sigmoid network and plot its loss")
    demo.add_argument("--seed", type=int, default=1, help="seed of the initial weights (default 1)")
    demo.add_argument(
        "--iterations", type=_non_negative_int, default=1500, help="gradient-descent iterations (default 1500)"
    )
    demo.add_argument("--lr", type=_positive_float, default=1.0, help="learning rate (default 1.0, the tutorial's)")
    demo.add_argument("--out", default=".", help="folder for the loss-curve PNG (default: current folder)")

    from glassnet.recipes import DATASETS, MODELS

    train = sub.add_parser("train", help="train a classifier on a data set, save the model and its curves")
    train.add_argument("--data", required=True, choices=DATASETS)
    train.add_argument("--model", default="mlp", choices=MODELS, help="mlp (default) or cnn (image data sets)")
    train.add_argument("--epochs", type=_positive_int, help="passes over the training set (default per data set)")
    train.add_argument("--batch-size", type=_positive_int, help="samples per step (default per data set)")
    train.add_argument("--optimizer", choices=("sgd", "adam"), help="adam (default) or sgd with momentum 0.9")
    train.add_argument("--lr", type=_positive_float, help="initial learning rate (default per data set; cosine decay)")
    train.add_argument(
        "--seed", type=int, default=0, help="seed of the weights, the splits and the shuffling (default 0)"
    )
    train.add_argument("--out", default=None, help="folder for the model file and the curves (default runs/DATA-MODEL)")
    _data_source_args(train)

    evaluate = sub.add_parser(
        "evaluate", help="accuracy and confusion matrix of a saved model on a data set's test split"
    )
    evaluate.add_argument("model_file", metavar="MODEL")
    evaluate.add_argument("--data", required=True, choices=DATASETS)
    evaluate.add_argument(
        "--seed", type=int, default=None, help="seed of the split (default: the one the model was trained with)"
    )
    _data_source_args(evaluate)

    predict = sub.add_parser("predict", help="classes and probabilities for the samples in a .npy file")
    predict.add_argument("model_file", metavar="MODEL")
    predict.add_argument("input", metavar="FILE.npy", help="a NumPy .npy array of samples, batch first")
    predict.add_argument("--top", type=_positive_int, default=3, help="probabilities shown per sample (default 3)")

    summary = sub.add_parser("summary", help="layers, output shapes and parameter counts of a saved model")
    summary.add_argument("model_file", metavar="MODEL")
    summary.add_argument(
        "--input-shape", type=_shape, default=None, help="input shape without the batch axis, e.g. 1,28,28"
    )

    export = sub.add_parser("export", help="write a saved model as an ONNX file (needs glassnet[onnx])")
    export.add_argument("model_file", metavar="MODEL")
    export.add_argument("output", metavar="OUT.onnx")
    export.add_argument(
        "--input-shape",
        type=_shape,
        default=None,
        help="input shape without the batch axis (default: the recorded one)",
    )
    return parser


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes separated by commas, like 1,28,28; got {text}") from None
    if not dims or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes, like 1,28,28; got {text}")
    return dims


def _data_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-path", default=None, help="folder with the IDX files (Fashion-MNIST, MNIST)")
    parser.add_argument("--download", action="store_true", help="download missing IDX files into the cache")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from glassnet.demo import main as demo_main

        return demo_main(seed=args.seed, iterations=args.iterations, lr=args.lr, out=args.out)
    from glassnet import commands

    try:
        return int(getattr(commands, args.command)(args))
    except (FileNotFoundError, ValueError, TypeError, ImportError) as err:
        print(f"glassnet {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
