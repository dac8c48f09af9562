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
    demo.add_argument("--iterations", type=_non_negative_int, default=1500, help="gradient-descent iterations (default 1500)")
    demo.add_argument("--lr", type=_positive_float, default=1.0, help="learning rate (default 1.0, the tutorial's)")
    demo.add_argument("--out", default=".", help="folder for the loss-curve PNG (default: current folder)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from glassnet.demo import main as demo_main

        return demo_main(seed=args.seed, iterations=args.iterations, lr=args.lr, out=args.out)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
