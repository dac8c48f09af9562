"""The container of glassnet's files: one uncompressed zip of a JSON header and raw arrays.

An archive holds

* a JSON header (``model.json`` by default): a JSON object whose ``"arrays"``
  key maps each array's name to ``{"dtype": "float32", "shape": [...]}``;
  the other keys belong to whoever writes the file (a model, a checkpoint);
* ``arrays/<name>``, one per array: its values as raw little-endian bytes in C order.

``write_archive`` writes one atomically; ``open_archive`` opens one and checks
everything about it before a single array is read, so that what reading costs
is bounded by the file's size:

* only a regular file is opened (a FIFO or a device is refused without blocking);
* the entries are stored (not compressed, not encrypted), named once each, and
  their regions (local header and data) lie inside the file without
  overlapping, so no byte is counted twice;
* the header is at most ``MAX_JSON_BYTES`` long and, before it is parsed, is
  checked to nest at most ``MAX_JSON_DEPTH`` deep and to hold at most one
  object or array per 8 bytes (plus 4,096), so parsing it costs a small
  multiple of its size;
* every described array has an entry of exactly its byte size and no other
  entry exists, so the arrays' total size is at most the file's size.

Every problem is a ValueError naming the file, including zip structures that
make ``zipfile`` fail with OSError, struct.error or EOFError.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from glassnet._checks import clip, short
from glassnet._files import copy_mode, display_name, open_regular, temp_file

__all__ = ["Archive", "open_archive", "write_archive", "check_json", "check_entries", "ALLOWED_DTYPES"]

ALLOWED_DTYPES = ("float16", "float32", "float64")
ARRAY_PREFIX = "arrays/"
MAX_JSON_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 256
_MAX_NDIM = 32
_CHUNK = 1 << 20
_JSON_CHUNK = 1 << 16  # a JSON pass's temporaries: ~20 bytes per byte of a chunk
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry times: the same content gives the same bytes
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # 30 bytes; the last two fields: name and extra lengths


# -- JSON, bounded ----------------------------------------------------------
def check_json(data: bytes, where: str, container_bytes: int = 8) -> None:
    """Refuse JSON text that would cost far more memory than its size to parse, before parsing it.

    At most one object or array per ``container_bytes`` bytes (plus 4,096): each costs about
    200 bytes once parsed. A checkpoint, whose bulk is lists of numbers, asks for 32.
    """
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{where}: the JSON header is {len(data)} bytes, more than the {MAX_JSON_BYTES} allowed")
    containers, depth = _containers(data)
    if containers > 4096 + len(data) // container_bytes:
        raise ValueError(
            f"{where}: the JSON header holds about {containers} objects and arrays in {len(data)} bytes; "
            f"a glassnet file of this kind holds at most one per {container_bytes} bytes"
        )
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{where}: the JSON header is nested {depth} levels deep, more than {MAX_JSON_DEPTH}")


def _containers(data: bytes) -> tuple[int, int]:
    """(objects and arrays, deepest nesting) of JSON text, brackets inside strings not counted.

    In chunks of ``_JSON_CHUNK`` bytes, so this costs a few MiB whatever the text holds (a regular
    expression that emptied each string built one object per string: 430 MiB for 15 MiB of ``{"a":0}``).
    """
    # Drop escapes first: then every quote left opens or closes a string (a stray backslash
    # outside strings is invalid JSON, and the parser stops there).
    text = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    opens = closes = level = deepest = 0
    inside = 0  # 1 within a string at the chunk's start
    for start in range(0, len(text), _JSON_CHUNK):
        b = np.frombuffer(text, dtype=np.uint8, count=min(_JSON_CHUNK, len(text) - start), offset=start)
        quotes = np.cumsum(b == ord('"'), dtype=np.uint8)  # wraps at 256: only its parity counts
        outside = ((quotes + inside) & 1) == 0
        inside = (inside + int(quotes[-1])) & 1
        up = outside & ((b == ord("[")) | (b == ord("{")))
        down = outside & ((b == ord("]")) | (b == ord("}")))
        steps = up.astype(np.int32) - down.astype(np.int32)
        levels = np.cumsum(steps, dtype=np.int64) + level
        opens, closes = opens + int(up.sum()), closes + int(down.sum())
        deepest = max(deepest, int(levels.max()))
        level = int(levels[-1])
    return max(opens, closes), deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {short(key)}")
        out[key] = value
    return out


def _parse_json(data: bytes, where: str, container_bytes: int = 8) -> dict[str, Any]:
    check_json(data, where, container_bytes)
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{where}: the JSON header is not valid JSON ({clip(str(err))})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: the JSON header must hold a JSON object, got {type(value).__name__}")
    return value


# -- writing ----------------------------------------------------------------
def _target(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike. Received: path={short(path)}")
    name = os.fspath(path)
    if not isinstance(name, str) or name == "":
        raise ValueError(f"path must name a file. Received: path={short(name)}")
    target = Path(name)
    if target.is_dir():
        raise ValueError(f"path must name a file, not a folder. Received: path={display_name(name)}")
    return target


def _entry(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    info.external_attr = 0o644 << 16
    return info


def write_archive(
    path: str | os.PathLike[str],
    header: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    *,
    json_name: str,
    container_bytes: int = 8,
) -> None:
    """Write ``header`` (plus an ``"arrays"`` description) and ``arrays`` to ``path``, atomically.

    The archive goes to a temporary file next to ``path`` (stale ones left by
    killed writers are removed first), is flushed to disk, gets the old
    file's permissions (or 0o644), and is renamed over ``path``: a crash
    leaves the old file or the new one, never half of one.

    Raises:
        TypeError, ValueError: ``path`` is not a file name (empty, a folder).
        ValueError: the header is not JSON-safe, or too large or deep for
            ``open_archive`` to accept; an array's dtype is not allowed.
    """
    target = _target(path)
    for name, array in arrays.items():
        if array.dtype.name not in ALLOWED_DTYPES:
            raise ValueError(f"cannot save {name!r}: dtype {array.dtype} is not one of {list(ALLOWED_DTYPES)}")
    document = {**header, "arrays": {n: {"dtype": a.dtype.name, "shape": list(a.shape)} for n, a in arrays.items()}}
    try:
        text = json.dumps(document, allow_nan=False, indent=1)
    except (TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"cannot save: the config or the metadata is not JSON-safe ({clip(str(err))})") from None
    data = text.encode("utf-8")
    check_json(data, "cannot save", container_bytes)  # never write a file that open_archive would refuse

    fd, tmp_name = temp_file(target, ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(_entry(json_name, len(data)), data)
                for name, array in arrays.items():
                    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
                    zf.writestr(_entry(ARRAY_PREFIX + name, len(raw)), raw)
            f.flush()
            os.fsync(f.fileno())
        copy_mode(target, tmp_name)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (POSIX)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.fsync(fd)
    os.close(fd)


# -- reading ----------------------------------------------------------------
@contextlib.contextmanager
def _damaged(where: str) -> Iterator[None]:
    """Report whatever zipfile raises on a damaged archive as a ValueError naming the file."""
    try:
        yield
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        struct.error,
        zlib.error,
        NotImplementedError,
        OverflowError,
        OSError,  # a seek to a negative offset read from the file: Errno 22
    ) as err:
        raise ValueError(f"{where}: damaged or unsupported zip archive ({clip(str(err))})") from None


def check_entries(zf: zipfile.ZipFile, file_size: int, where: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by name, once each checked: stored, not encrypted, inside the file, not overlapping.

    Reads each entry's local header (30 bytes) through ``zf.fp``; call it
    before any entry is opened. zipfile's own errors are left to the caller
    (see ``_damaged``).
    """
    entries: dict[str, zipfile.ZipInfo] = {}
    fp = zf.fp
    if fp is None:
        raise ValueError(f"{where}: the archive is closed")
    regions = []
    for info in zf.infolist():
        name = info.filename
        if name in entries:
            raise ValueError(f"{where}: the archive holds two entries named {short(name)}")
        if info.flag_bits & 0x1:
            raise ValueError(f"{where}: entry {short(name)} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise ValueError(f"{where}: entry {short(name)} is compressed; glassnet files are stored uncompressed")
        start = info.header_offset
        if start < 0 or start + _LOCAL_HEADER.size > file_size:
            raise ValueError(f"{where}: entry {short(name)} starts outside the file")
        fp.seek(start)
        fields = _LOCAL_HEADER.unpack(fp.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise ValueError(f"{where}: entry {short(name)} has no local header where the directory says")
        end = start + _LOCAL_HEADER.size + fields[-2] + fields[-1] + info.compress_size
        if end > zf.start_dir:
            raise ValueError(f"{where}: entry {short(name)} runs past the end of the data ({end} bytes)")
        regions.append((start, end, name))
        entries[name] = info
    regions.sort()
    for (_, end, first), (start, _, second) in zip(regions, regions[1:]):
        if start < end:
            raise ValueError(
                f"{where}: entries {short(first)} and {short(second)} overlap; each byte of a glassnet "
                "file belongs to one entry"
            )
    return entries


class Archive:
    """An archive opened and checked by ``open_archive``.

    Attributes:
        header: the parsed JSON header (a dict), including ``"arrays"``.
        specs: ``{name: (dtype, shape)}`` of every array, checked.
        nbytes: the arrays' total size in bytes (at most the file's size).
        where: the file's name, for messages.
    """

    def __init__(
        self, f: BinaryIO, where: str, json_name: str, kind: str = "glassnet", container_bytes: int = 8
    ) -> None:
        self.where = where
        file_size = os.fstat(f.fileno()).st_size
        with _damaged(where):
            self._zf = zipfile.ZipFile(f)
            self._entries = check_entries(self._zf, file_size, where)
            info = self._entries.get(json_name)
            if info is None:
                raise ValueError(f"{where}: the archive has no {json_name}, so it is not a {kind} file")
            if info.file_size > MAX_JSON_BYTES:
                raise ValueError(f"{where}: {json_name} is {info.file_size} bytes, more than {MAX_JSON_BYTES}")
            self.header = _parse_json(self._read_entry(info), f"{where}: {json_name}", container_bytes)
        self.specs = self._check_specs(self.header.get("arrays"), json_name)
        self.nbytes = sum(math.prod(shape) * dtype.itemsize for dtype, shape in self.specs.values())

    def _read_entry(self, info: zipfile.ZipInfo) -> bytes:
        with self._zf.open(info) as f:
            data = f.read(info.file_size + 1)  # the CRC is checked when the entry is read to its end
        if len(data) != info.file_size:
            raise ValueError(f"{self.where}: entry {short(info.filename)} is shorter than its directory says")
        return data

    def _check_specs(self, described: Any, json_name: str) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        where = self.where
        if not isinstance(described, dict):
            raise ValueError(f"{where}: {json_name}'s 'arrays' must be a JSON object")
        specs = {}
        for name, meta in described.items():
            if not isinstance(meta, dict) or set(meta) != {"dtype", "shape"}:
                raise ValueError(f"{where}: array {short(name)} must be described as {{'dtype': ..., 'shape': [...]}}")
            dtype_name, shape = meta["dtype"], meta["shape"]
            if dtype_name not in ALLOWED_DTYPES:
                raise ValueError(
                    f"{where}: array {short(name)} has dtype {short(dtype_name)}; only {list(ALLOWED_DTYPES)} are allowed"
                )
            if (
                not isinstance(shape, list)
                or len(shape) > _MAX_NDIM
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            ):
                raise ValueError(f"{where}: array {short(name)} has an invalid shape {short(shape)}")
            specs[name] = (np.dtype(dtype_name).newbyteorder("<"), tuple(shape))
        stored = {n[len(ARRAY_PREFIX) :] for n in self._entries if n.startswith(ARRAY_PREFIX)}
        others = sorted(set(self._entries) - {json_name} - {ARRAY_PREFIX + n for n in stored})
        if others:
            raise ValueError(f"{where}: unexpected entries in the archive: {short(others)}")
        missing, extra = sorted(set(specs) - stored), sorted(stored - set(specs))
        if missing or extra:
            raise ValueError(
                f"{where}: the arrays stored differ from those {json_name} describes: "
                f"described but not stored {short(missing)}, stored but not described {short(extra)}"
            )
        for name, (dtype, shape) in specs.items():
            size, nbytes = self._entries[ARRAY_PREFIX + name].file_size, math.prod(shape) * dtype.itemsize
            if size != nbytes:
                raise ValueError(
                    f"{where}: entry {short(ARRAY_PREFIX + name)} holds {size} bytes, expected {nbytes} "
                    f"({dtype.name} of shape {shape}, as {json_name} says)"
                )
        return specs

    def read(self, name: str) -> np.ndarray:
        """Array ``name``: a fresh, writable array in native byte order, read straight into place."""
        dtype, shape = self.specs[name]
        array = np.empty(shape, dtype=dtype)
        view = array.reshape(-1).view(np.uint8)  # the array's own bytes, filled chunk by chunk
        with _damaged(self.where), self._zf.open(self._entries[ARRAY_PREFIX + name]) as f:
            done = 0
            while done < len(view):
                chunk = f.read(min(_CHUNK, len(view) - done))
                if not chunk:
                    raise ValueError(f"{self.where}: entry {short(ARRAY_PREFIX + name)} ends early")
                view[done : done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                done += len(chunk)
            if f.read(1):  # reading to the end also checks the CRC
                raise ValueError(f"{self.where}: entry {short(ARRAY_PREFIX + name)} is longer than described")
        if not dtype.isnative:
            array.byteswap(inplace=True)  # in place: no second copy on big-endian machines
            array = array.view(dtype.newbyteorder("="))
        return array


@contextlib.contextmanager
def open_archive(
    path: str | os.PathLike[str], *, json_name: str, kind: str = "glassnet", container_bytes: int = 8
) -> Iterator[Archive]:
    """Open and check the archive ``path`` (see the module docstring); read arrays with ``Archive.read``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: anything else wrong with the file, naming it.
    """
    with open_regular(path) as f:
        where = display_name(path)
        start = f.read(4)
        if start[:1] == b"\x80":
            raise ValueError(f"{where}: this looks like a pickle file; glassnet never loads pickles")
        if start != b"PK\x03\x04":
            raise ValueError(f"{where}: not a {kind} file (a {kind} file is a zip archive)")
        f.seek(0)
        archive = Archive(f, where, json_name, kind, container_bytes)
        yield archive
