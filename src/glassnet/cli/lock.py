"""One ``glassnet train`` per output folder: a lock file holding the PID of the run that writes there.

A second run into a folder whose lock names a live process is refused; a lock left by a process
that is gone (killed) is taken over. The lock is removed when the process that holds it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os

from glassnet.cli.errors import CommandError

__all__ = ["LOCK_NAME", "hold_folder"]

LOCK_NAME = ".glassnet-train.lock"
_held: set[str] = set()  # the locks this process holds, removed at exit


def _owner(path: str) -> int | None:
    """The PID written in the lock, or None when it holds none (being written, or damaged)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read(32).strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    except OSError:  # a PID the system cannot even look up
        return False
    return True


def _release_all() -> None:
    for path in list(_held):
        if _owner(path) == os.getpid():
            with contextlib.suppress(OSError):
                os.remove(path)
        _held.discard(path)


def hold_folder(folder: str, flag: str = "--out") -> str:
    """Take ``folder``'s lock for this process (again, if it holds it already); returns the lock's path.

    Raises:
        CommandError: a live process holds it.
    """
    path = os.path.join(folder, LOCK_NAME)
    me = os.getpid()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner == me:  # this process's own earlier run (--seeds, or several runs in one Python session)
                return path
            if owner is not None and _alive(owner):
                raise CommandError(
                    f"{flag} {folder} is in use by a running glassnet train (PID {owner}): wait for it to end or "
                    f"choose another {flag} (if no such run is going on, remove {path})"
                ) from None
            with contextlib.suppress(FileNotFoundError):  # left by a process that is gone: taken over
                os.remove(path)
            continue
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{me}\n")
        if not _held:
            atexit.register(_release_all)
        _held.add(path)
        return path
    raise CommandError(f"{flag} {folder}: another run keeps taking its lock {path}; choose another {flag}")
