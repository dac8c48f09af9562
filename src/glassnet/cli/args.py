"""Argument types and flags that several commands share: their messages are what the user sees."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = [
    "integer",
    "positive_int",
    "positive_int_at_most",
    "non_negative_int",
    "positive_float",
    "shape",
    "add_data_source_args",
    "data_help",
]


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    value = integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_int_at_most(high: int) -> Callable[[str], int]:
    """An argparse type: a positive integer up to ``high``, a bound on the work a flag can ask for."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"expected at most {high:,}, got {text!r}")
        return value

    return parse


def non_negative_int(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes separated by commas, like 1,28,28; got {text!r}") from None
    if not dims or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes, like 1,28,28; got {text!r}")
    return dims


def add_data_source_args(p: argparse.ArgumentParser) -> None:
    """--data-path and --download: where the IDX data sets (Fashion-MNIST, MNIST) come from."""
    p.add_argument(
        "--data-path", default=None, metavar="FOLDER", help="folder with the IDX files (Fashion-MNIST, MNIST)"
    )
    p.add_argument("--download", action="store_true", help="download missing IDX files (into --data-path if given)")


def data_help() -> str:
    return (
        "data set: digits (8x8 images, shipped), fashion-mnist or mnist (28x28 images, from IDX files; "
        "see --data-path, --download), spirals, moons or xor (generated 2-D points), "
        "shakespeare (text, shipped; --model gpt, lstm or rnn), "
        "or FILE.txt, a UTF-8 text of your own (--model gpt2)"
    )
