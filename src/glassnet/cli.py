"""The ``glassnet`` command: argument parsing, and the one place where errors become messages.

Each subcommand is one row of ``SUBCOMMANDS``: its name, its help line and a
function that adds its arguments; ``glassnet.commands.<name>(args)`` runs it.
A new subcommand adds a row and a function here and a function in commands.py.

Every user error ends as one line on stderr, ``glassnet CMD: error: ...``,
that says what to do, and a non-zero exit: 2 for a mistake in the arguments
(argparse's convention), 1 for one found while running, 130 after Ctrl-C.
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `cat big | head`


class CommandError(Exception):
    """A user error found by a command, already worded for the command line."""


# Errors that describe the user's input or environment: shown as their message.
# Anything else is a bug, shown as one line too, with the exception's type.
USER_ERRORS: tuple[type[Exception], ...] = (CommandError, OSError, ValueError, TypeError, ImportError)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: no usage block above them."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types: their messages are what the user sees -----------------


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes separated by commas, like 1,28,28; got {text!r}") from None
    if not dims or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes, like 1,28,28; got {text!r}")
    return dims


# -- one function per subcommand ---------------------------------------------


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=_int, default=1, help="seed of the initial weights (default 1)")
    p.add_argument(
        "--iterations", type=_non_negative_int, default=1500, help="gradient-descent iterations (default 1500)"
    )
    p.add_argument("--lr", type=_positive_float, default=1.0, help="learning rate (default 1.0, the tutorial's)")
    p.add_argument("--out", default=".", help="folder for the loss-curve PNG, created if missing (default: .)")
    p.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        metavar="N",
        help="train from seeds 0..N-1 across processes instead",
    )
    p.add_argument(
        "--tutorial-rng",
        action="store_true",
        help="draw the weights as the tutorial does: np.random.seed(s); np.random.rand(3, 4); np.random.rand(4, 1)",
    )
    p.add_argument("--workers", type=_positive_int, default=None, help="processes for --seeds (default: one per core)")


def _data_help() -> str:
    return (
        "data set: digits (8x8 images, shipped), fashion-mnist or mnist (28x28 images, from IDX files; "
        "see --data-path, --download), spirals, moons or xor (generated 2-D points), "
        "shakespeare (text, shipped; --model gpt, lstm or rnn)"
    )


def _defaults_table() -> str:
    from glassnet.recipes import DEFAULTS

    lines = ["defaults per data set and model (each can be overridden):"]
    for (data, model), s in DEFAULTS.items():
        lines.append(f"  {data:<14} {model:<4} {s.epochs:>4} epochs, batch {s.batch_size:<4} {s.optimizer} lr {s.lr:g}")
    from glassnet.text import RECIPES as TEXT_MODELS

    for model, r in TEXT_MODELS.items():
        lines.append(
            f"  {'shakespeare':<14} {model:<4} {r.steps:>4} steps,  batch {r.batch_size:<4} context {r.context}, lr {r.lr:g}"
        )
    lines.append(
        "all with a cosine learning-rate decay (lstm, rnn: a constant rate); the model and curves go to --out (default runs/DATA-MODEL)"
    )
    return "\n".join(lines)


def _train_args(p: argparse.ArgumentParser) -> None:
    from glassnet.recipes import DATASETS, MODELS
    from glassnet.text import RECIPES as TEXT_MODELS
    from glassnet.text_commands import TEXT_DATASETS, add_train_args

    p.add_argument(
        "--data", default=None, choices=DATASETS + TEXT_DATASETS, metavar="DATA", help=_data_help()
    )  # required unless --resume
    p.add_argument(
        "--model",
        default=None,
        choices=MODELS + tuple(TEXT_MODELS),
        help=f"mlp (default) or cnn (image data sets); for shakespeare: {', '.join(TEXT_MODELS)} (default gpt)",
    )
    p.add_argument("--epochs", type=_positive_int, help="passes over the training set (default per data set)")
    p.add_argument("--batch-size", type=_positive_int, help="samples per step (default per data set)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="adam (default) or sgd with momentum 0.9")
    p.add_argument("--lr", type=_positive_float, help="initial learning rate (default per data set; cosine decay)")
    p.add_argument(
        "--seed", type=_int, default=None, help="seed of the weights, the splits and the shuffling (default 0)"
    )
    p.add_argument(
        "--out", default=None, help="folder for the model file, the curves and the checkpoint (default runs/DATA-MODEL)"
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue the run whose checkpoint.gnet is in DIR (its --out), with its settings, bit for bit",
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="train data-parallel over MPI, the same model as one process: mpirun -n 2 glassnet train ... "
        "--distributed (needs glassnet[mpi]); --batch-size stays the global batch",
    )
    _data_source_args(p)
    add_train_args(p)
    from glassnet.seeing import add_inside_train_args

    add_inside_train_args(p)  # --diagnose, --seeds


def _generate_args(p: argparse.ArgumentParser) -> None:
    from glassnet.text_commands import generate_args

    generate_args(p)


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    from glassnet.recipes import DATASETS

    p.add_argument("model_file", metavar="MODEL", help="a model file written by glassnet train (model.gnet)")
    p.add_argument(
        "--data", default=None, choices=DATASETS, metavar="DATA", help=_data_help() + " (default: the model's)"
    )
    p.add_argument(
        "--seed", type=_int, default=None, help="seed of the split (default: the one the model was trained with)"
    )
    _data_source_args(p)


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file written by glassnet train (model.gnet)")
    p.add_argument("input", metavar="FILE.npy", help="a NumPy .npy array of samples, batch first (numpy.save)")
    p.add_argument("--top", type=_positive_int, default=3, help="probabilities shown per sample (default 3)")


def _summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file (model.gnet)")
    p.add_argument("--input-shape", type=_shape, default=None, help="input shape without the batch axis, e.g. 1,28,28")


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file (model.gnet)")
    p.add_argument(
        "--image", type=_non_negative_int, default=0, help="the test image whose feature maps to draw (default 0)"
    )
    p.add_argument("--prompt", default=None, help='the text whose attention to draw, for a GPT (default "ROMEO:")')
    p.add_argument("--out", default=None, help="folder for the PNGs (default: the model file's folder)")
    p.add_argument("--data-path", default=None, help="folder with the IDX files (Fashion-MNIST, MNIST)")


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file (model.gnet)")
    p.add_argument("output", metavar="OUT.onnx", help="the ONNX file to write (replaced atomically)")
    p.add_argument(
        "--input-shape",
        type=_shape,
        default=None,
        help="input shape without the batch axis (default: the recorded one)",
    )


def _data_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-path", default=None, metavar="FOLDER", help="folder with the IDX files (Fashion-MNIST, MNIST)"
    )
    p.add_argument("--download", action="store_true", help="download missing IDX files (into --data-path if given)")


def _explain_args(p: argparse.ArgumentParser) -> None:
    from glassnet.seeing import add_explain_args

    add_explain_args(p)


def _lr_find_args(p: argparse.ArgumentParser) -> None:
    from glassnet.seeing import add_lr_find_args

    add_lr_find_args(p)


# (name, help, adds the arguments); glassnet.commands.<name> runs it
SUBCOMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None]]] = [
    ("demo", "train the tutorial's 3-4-1 sigmoid network and plot its loss", _demo_args),
    ("train", "train a classifier on a data set, save the model and its curves", _train_args),
    ("evaluate", "accuracy and confusion matrix of a saved model on its data set's test split", _evaluate_args),
    ("predict", "classes and probabilities for the samples in a .npy file", _predict_args),
    ("summary", "layers, output shapes and parameter counts of a saved model", _summary_args),
    (
        "generate",
        "continue a prompt with a language model trained by glassnet train --data shakespeare",
        _generate_args,
    ),
    ("export", "write a saved model as an ONNX file (needs glassnet[onnx])", _export_args),
    ("explain", "one forward and backward pass printed as the chain rule, layer by layer", _explain_args),
    ("lr-find", "the learning-rate range test: loss against an exponentially growing lr, a suggestion", _lr_find_args),
    ("show", "draw a CNN's first-layer filters and feature maps, or a GPT's attention (PNGs)", _show_args),
]

_EPILOGS: dict[str, Callable[[], str]] = {"train": _defaults_table}


def build_parser() -> argparse.ArgumentParser:
    from glassnet import __version__

    parser = _Parser(prog="glassnet", description="Neural networks from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text, add_arguments in SUBCOMMANDS:
        epilog = _EPILOGS[name]() if name in _EPILOGS else None
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(p)
        # also accepted after the command; SUPPRESS keeps a --debug given before it
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")
    return parser


# -- running: errors become one line ---------------------------------------------


def _one_line(err: BaseException) -> str:
    """The error's message as one line; a long explanation keeps its first line."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{os.fsdecode(err.filename)}: {err.strerror.lower()}"
    else:
        text = str(err).strip() or type(err).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        return f"{lines[0]} (details with --debug)"
    return lines[0] if lines else type(err).__name__


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit's flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``glassnet ARGS``; returns the exit code (argument errors exit with 2 via SystemExit)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        names = ", ".join(name for name, _, _ in SUBCOMMANDS)
        parser.error(f"choose a command: {names}")
    if args.command == "train" and args.data is None and args.resume is None:
        parser.error("the following arguments are required: --data (or --resume DIR to continue a run)")
    prog = f"glassnet {args.command}"
    debug = bool(getattr(args, "debug", False))
    from glassnet import commands

    run: Callable[[argparse.Namespace], Any] = getattr(commands, args.command.replace("-", "_"))
    try:
        code = int(run(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:
        if debug:
            raise
        print(
            f"{prog}: error: unexpected {type(err).__name__}: {_one_line(err)} "
            "(this is a bug in glassnet; run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
