"""Files on disk: opening only regular files, and atomic writes that clean up after killed ones.

Every file glassnet writes (models, downloads) goes first to a hidden
temporary file in the destination folder, named
``.<name>.glassnet-<8 random characters>.tmp`` (``.part`` for downloads), and
is renamed over the destination once complete. A process killed midway leaves
its temporary file behind; the next write into the same folder removes those
of glassnet's own temporary files that have not changed for ``STALE_AFTER``
seconds. A writer running at the same moment keeps its file fresh, so it is
never touched; files of other programs never match the pattern.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from glassnet._checks import short

__all__ = [
    "display_name",
    "open_regular",
    "temp_file",
    "remove_stale_temps",
    "atomic_write",
    "copy_mode",
    "STALE_AFTER",
]

STALE_AFTER = 3600.0  # seconds without a change after which a temporary file is a killed writer's
_MARK = ".glassnet-"
# mkstemp's random part: 8 characters from [a-z0-9_]
_TEMP_NAME = re.compile(r"\..+\.glassnet-[a-z0-9_]{8}\.(?:tmp|part)")


def display_name(path: str | os.PathLike[str], limit: int = 300) -> str:
    """A file's name for messages: as given, shortened in the middle past ``limit`` characters."""
    name = os.fspath(path)
    name = name if isinstance(name, str) else repr(name)
    return name if len(name) <= limit else f"{name[: limit // 2]}...{name[-(limit // 2) :]}"


def open_regular(path: str | os.PathLike[str], what: str = "path") -> BinaryIO:
    """Open ``path`` for reading in binary mode, refusing anything but a regular file.

    The file is opened non-blocking and checked with ``fstat`` on the open
    descriptor (no race between the check and the open), so a FIFO, a
    directory or a device is refused at once instead of blocking or reading
    forever.

    Raises:
        TypeError: ``path`` is not a str or os.PathLike.
        FileNotFoundError, PermissionError: as ``open`` does.
        ValueError: ``path`` is not a regular file; the message names it.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a str or os.PathLike. Received: {what}={short(path)}")
    where = display_name(path)
    if os.fspath(path) in ("", b""):
        raise ValueError(f"{what} must name a file. Received: {what}=''")
    # stat first, so that a device or FIFO is not even opened; fstat after, on what was opened
    _refuse_irregular(os.stat(path).st_mode, where)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:  # Windows refuses to open a folder
        raise ValueError(f"{where} is a folder, not a file") from None
    try:
        _refuse_irregular(os.fstat(fd).st_mode, where)
        with contextlib.suppress(OSError, AttributeError):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _refuse_irregular(mode: int, where: str) -> None:
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise ValueError(f"{where} is {kind}: only regular files can be read")


def temp_file(target: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new temporary file next to ``target``, under glassnet's pattern: (descriptor, name).

    Stale temporary files in the folder are removed first (see ``remove_stale_temps``).
    """
    remove_stale_temps(target.parent)
    return tempfile.mkstemp(prefix=f".{target.name}{_MARK}", suffix=suffix, dir=target.parent)


def remove_stale_temps(folder: str | os.PathLike[str], max_age: float = STALE_AFTER) -> list[str]:
    """Remove glassnet's own temporary files in ``folder`` unchanged for ``max_age`` seconds.

    Only names of the pattern ``.<name>.glassnet-XXXXXXXX.tmp`` / ``.part``
    that are regular files (not links) qualify. Errors (a file removed by
    another process meanwhile, no permission) are ignored: cleaning up is a
    courtesy, never a reason for a write to fail. Returns the names removed.
    """
    removed: list[str] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > max_age:
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue
    return removed


def copy_mode(target: Path, tmp_name: str) -> None:
    """Give the new file the permissions of the one it replaces, or the usual 0o644 (mkstemp makes it 0o600)."""
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = 0o644
    with contextlib.suppress(OSError):
        os.chmod(tmp_name, mode)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then ``os.replace``.

    Errors name the file and say what is wrong (a missing folder, no permission, a full disk); the
    previous file is never touched before the rename.
    """
    target = Path(os.fspath(path))
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {target}: it is a folder")
    try:
        fd, tmp_name = temp_file(target)
    except PermissionError as err:
        raise PermissionError(
            err.errno, f"cannot write {target}: no permission to write in the folder {target.parent}"
        ) from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        copy_mode(target, tmp_name)
        os.replace(tmp_name, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(err, PermissionError):
            raise PermissionError(
                err.errno, f"cannot write {target}: no permission to write in the folder {target.parent}"
            ) from err
        if isinstance(err, OSError) and not isinstance(err, (FileNotFoundError, IsADirectoryError)):
            reason = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
            raise OSError(err.errno, f"cannot write {target}: {reason}; any previous file is unchanged") from err
        raise
