"""The ``glassnet`` command line, laid out as pip lays out its own.

- ``main.py``: the command table (name -> module), the parser built from it, errors -> one line;
- ``errors.py``: ``CommandError`` and the exit codes;
- ``args.py``: argument types and the flags several commands share;
- ``common.py``: loading data and models for a command, output folders, the confusion matrix;
- ``recipes.py``, ``text_recipes.py``: the data sets, models and settings ``glassnet train`` knows;
- ``runs.py``: what a model file records about its run, and stopping cleanly on Ctrl-C;
- ``seeds.py``: many seeds of the tutorial's network (``glassnet demo --seeds``);
- ``commands/``: one module per subcommand, each ``add_args(parser)`` and ``run(args)``.
"""

from glassnet.cli.errors import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, CommandError
from glassnet.cli.main import SUBCOMMANDS, build_parser, main

__all__ = [
    "main",
    "build_parser",
    "SUBCOMMANDS",
    "CommandError",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
]
