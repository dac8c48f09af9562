"""The command line's errors and exit codes: a command raises ``CommandError``; main.py prints it as one line."""

from __future__ import annotations

__all__ = ["CommandError", "USER_ERRORS", "EXIT_ERROR", "EXIT_USAGE", "EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `cat big | head`


class CommandError(Exception):
    """A user error found by a command, already worded for the command line."""


# Errors that describe the user's input or environment: shown as their message.
# Anything else is a bug, shown as one line too, with the exception's type.
USER_ERRORS: tuple[type[Exception], ...] = (CommandError, OSError, ValueError, TypeError, ImportError)
