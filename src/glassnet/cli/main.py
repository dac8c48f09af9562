"""The ``glassnet`` command: the command table, the parser built from it, and the one place where errors
become messages.

Each subcommand is one module in ``glassnet/cli/commands/`` with ``add_args(parser)`` and ``run(args)``,
and one row of ``SUBCOMMANDS`` here: its name, its help line and its module, loaded by name. A new
subcommand is one new file and one row.

Every user error ends as one line on stderr, ``glassnet CMD: error: ...``,
that says what to do, and a non-zero exit: 2 for a mistake in the arguments
(argparse's convention), 1 for one found while running, 130 after Ctrl-C.
``--debug`` shows the traceback instead. Under ``mpirun`` (``--distributed``),
an error on one rank is printed, then ends every rank with ``MPI_Abort``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from glassnet._version import VERSION
from glassnet.cli.errors import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, USER_ERRORS

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

# (name, help, the module that adds its arguments and runs it)
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("demo", "train the tutorial's 3-4-1 sigmoid network and plot its loss", "glassnet.cli.commands.demo"),
    (
        "train",
        "train a model on a data set or your own CSV file, image folder or text; save it and its curves",
        "glassnet.cli.commands.train",
    ),
    (
        "evaluate",
        "accuracy and confusion matrix (or regression errors) of a saved model on its test split or labelled files",
        "glassnet.cli.commands.evaluate",
    ),
    (
        "predict",
        "classes and probabilities (or values) for a .npy file, raw CSV rows or images",
        "glassnet.cli.commands.predict",
    ),
    ("summary", "layers, output shapes and parameter counts of a saved model", "glassnet.cli.commands.summary"),
    (
        "generate",
        "continue a prompt with a language model trained by glassnet train, or a Hugging Face GPT-2 folder",
        "glassnet.cli.commands.generate",
    ),
    (
        "export",
        "write a saved model as an ONNX file (needs glassnet[onnx]), or a GPT-2 as a Hugging Face folder",
        "glassnet.cli.commands.export",
    ),
    (
        "explain",
        "one forward and backward pass printed as the chain rule, layer by layer",
        "glassnet.cli.commands.explain",
    ),
    (
        "lr-find",
        "the learning-rate range test: loss against an exponentially growing lr, a suggestion",
        "glassnet.cli.commands.lr_find",
    ),
    (
        "show",
        "draw a CNN's first-layer filters and feature maps, or a GPT's attention (PNGs)",
        "glassnet.cli.commands.show",
    ),
]


def command(name: str) -> ModuleType:
    """The module of subcommand ``name`` (loaded by name from the table, as pip loads its commands)."""
    for known, _, module in SUBCOMMANDS:
        if known == name:
            return importlib.import_module(module)
    raise KeyError(name)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: no usage block above them."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glassnet", description="Neural networks from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"glassnet {VERSION}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text, _ in SUBCOMMANDS:
        module = command(name)
        epilog = getattr(module, "epilog", None)
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog() if epilog is not None else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_args(p)
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
    check = getattr(command(args.command), "check_args", None)  # what argparse cannot say, said its way
    if check is not None:
        check(parser, args)
    prog = f"glassnet {args.command}"
    debug = bool(getattr(args, "debug", False))
    try:
        code = int(command(args.command).run(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return _end_mpi_job(EXIT_INTERRUPTED)
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return _end_mpi_job(EXIT_ERROR)
    except Exception as err:
        if debug:
            raise
        print(
            f"{prog}: error: unexpected {type(err).__name__}: {_one_line(err)} "
            "(this is a bug in glassnet; run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return _end_mpi_job(EXIT_ERROR)


def _end_mpi_job(code: int) -> int:
    """Under ``mpirun`` with other ranks, after this rank's error is printed: end every rank (``MPI_Abort``).

    The others would otherwise wait for this one forever in their next collective call.
    Outside an MPI job (mpi4py never imported, or one rank) it returns ``code``.
    """
    if "mpi4py.MPI" in sys.modules:
        from glassnet.distributed import end_job

        end_job(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
