"""Reader for IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header, then the data in C order::

    byte 0-1   0x00 0x00
    byte 2     type code (0x08 = uint8, see IDX_TYPES)
    byte 3     number of dimensions, d
    then       d sizes, each a 4-byte unsigned big-endian int
    then       prod(sizes) items of the given type

A file whose length disagrees with its header is corrupt, and is rejected
before anything is reshaped.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import Protocol

import numpy as np

from glassnet._checks import MAX_NDIM, clip, positive_int, short
from glassnet._files import display_name, open_regular

__all__ = ["read_idx", "IDX_TYPES", "MAX_BYTES"]

MAX_BYTES = 2**30  # the largest IDX payload read_idx accepts unless told otherwise (1 GiB)

# IDX type code -> big-endian dtype of one item.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _read_up_to(f: _Reader, size: int) -> bytes:
    """Up to ``size`` bytes (a header's few), fewer only at the end of the stream."""
    chunks = []
    while size > 0:
        chunk = f.read(min(size, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _count_rest(f: _Reader, limit: int) -> int:
    """How many bytes are left, counting no further than ``limit`` (a gzip bomb could go on for ever)."""
    total = 0
    while total < limit and (chunk := f.read(_CHUNK)):
        total += len(chunk)
    return total


def _fill(f: _Reader, out: np.ndarray) -> int:
    """Read into ``out``'s own bytes, chunk by chunk (never a second copy of the data); return the count."""
    view = out.reshape(-1).view(np.uint8)
    done = 0
    while done < len(view):
        chunk = f.read(min(_CHUNK, len(view) - done))
        if not chunk:
            break
        view[done : done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        done += len(chunk)
    return done


def _parse(f: _Reader, where: str, max_bytes: int, file_size: int | None) -> np.ndarray:
    magic = _read_up_to(f, 4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00":
        raise ValueError(
            f"{where} is not an IDX file: it should start with two zero bytes, a type byte and a "
            f"dimension count. Received first bytes: {magic.hex(' ') or '(empty file)'}"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({t.name})" for c, t in IDX_TYPES.items())
        raise ValueError(f"{where}: unknown IDX type code 0x{code:02X}; known codes are {known}")
    if ndim == 0:
        raise ValueError(f"{where}: the IDX header gives 0 dimensions; expected at least 1")
    if ndim > MAX_NDIM:
        raise ValueError(f"{where}: the IDX header gives {ndim} dimensions; NumPy allows at most {MAX_NDIM}")
    dims_bytes = _read_up_to(f, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise ValueError(
            f"{where} is truncated inside its header: {ndim} dimension sizes need {4 * ndim} bytes, "
            f"the file has {len(dims_bytes)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
    dtype = IDX_TYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    header = 4 + 4 * ndim
    if file_size is not None and file_size - header < expected:  # a raw file: its size is known up front
        raise ValueError(
            f"{where} is truncated: the header gives shape {dims} of {dtype.name}, which is {expected} "
            f"bytes of data, but the file holds {file_size - header} bytes after the {header}-byte header"
        )
    if expected > max_bytes:
        raise ValueError(
            f"{where}: the header gives shape {dims} of {dtype.name}, which is {expected} bytes of data, "
            f"more than max_bytes={max_bytes}; pass a larger max_bytes to read it"
        )
    # One array of the declared size, filled as the data arrive: the peak is 1x the data, and a
    # stream that ends early has only touched the pages it filled.
    out = np.empty(dims, dtype=dtype)
    got = _fill(f, out)
    rest = _count_rest(f, max_bytes) if got == expected else 0
    if got != expected or rest:
        kind = "truncated" if got < expected else "longer than its header says"
        if file_size is not None:
            holds = f"{file_size - header} bytes"
        else:
            holds = f"{got + rest} bytes" if rest < max_bytes else f"more than {got + rest} bytes"
        raise ValueError(
            f"{where} is {kind}: the header gives shape {dims} of {dtype.name}, which is {expected} "
            f"bytes of data, but the file holds {holds} after the {header}-byte header"
        )
    if not dtype.isnative:
        out.byteswap(inplace=True)  # in place: no second copy
        out = out.view(dtype.newbyteorder("="))
    return out


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a NumPy array.

    Compression is recognised by the gzip magic bytes, not by the file
    name. The header is checked (two zero bytes, a known type code, at least
    one dimension) and so is the length: the data must be exactly as long as
    the header's dimensions say, otherwise a ``ValueError`` names the file and
    both sizes.

    Memory: the data are streamed (decompressed chunk by chunk) into one
    array of the size the header declares, so the peak is the data's size
    once, not twice. A declared size over ``max_bytes`` (default
    ``MAX_BYTES``, 1 GiB: MNIST's training images are 47 MB) is refused before
    anything is allocated, because a small gzip file can truthfully declare
    gigabytes; pass a larger ``max_bytes`` to read such a file. A raw file
    whose declared size exceeds its length is refused up front. Only regular
    files are read: a FIFO, folder or device is refused without blocking.

    Args:
        path: the file, as a ``str`` or ``os.PathLike``.
        max_bytes: the largest data size (in bytes, after decompression) to accept.

    Returns:
        A fresh, writable array in native byte order with the header's shape,
        e.g. uint8 (60000, 28, 28) for MNIST training images or uint8 (60000,)
        for its labels. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
        0x0C int32, 0x0D float32, 0x0E float64.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file, an unknown type code, a truncated or
            oversized file, data larger than ``max_bytes``, a damaged gzip
            stream, or not a regular file.

    Example:
        >>> import gzip, os, tempfile
        >>> from glassnet.datasets import read_idx
        >>> header = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "tiny-idx2-ubyte.gz")
        ...     with gzip.open(path, "wb") as f:
        ...         _ = f.write(header + bytes(range(6)))
        ...     read_idx(path)
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike. Received: path={short(path)}")
    max_bytes = positive_int(max_bytes, "max_bytes")
    where = display_name(path)
    with open_regular(path) as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, where, max_bytes, os.fstat(raw.fileno()).st_size)
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            try:
                return _parse(stream, f"{where} (after gzip decompression)", max_bytes, None)
            except EOFError:
                raise ValueError(
                    f"{where}: the gzip stream is truncated (it ends before its end-of-stream marker)"
                ) from None
            except (OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError: bad CRC, bad header
                raise ValueError(f"{where}: the gzip stream is damaged ({clip(str(err))})") from None
