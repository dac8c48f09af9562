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
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = ["read_idx", "IDX_TYPES"]

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
    """Up to ``size`` bytes, fewer only at the end of the stream.

    Read in chunks, so a header that claims terabytes costs no more memory
    than the file really holds.
    """
    chunks = []
    while size > 0:
        chunk = f.read(min(size, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _count_rest(f: _Reader) -> int:
    total = 0
    while chunk := f.read(_CHUNK):
        total += len(chunk)
    return total


def _parse(f: _Reader, where: str) -> np.ndarray:
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
    dims_bytes = _read_up_to(f, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise ValueError(
            f"{where} is truncated inside its header: {ndim} dimension sizes need {4 * ndim} bytes, "
            f"the file has {len(dims_bytes)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
    dtype = IDX_TYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    # One byte more than the header promises tells an oversized file apart.
    payload = _read_up_to(f, expected + 1)
    if len(payload) != expected:
        actual = len(payload) + (_count_rest(f) if len(payload) > expected else 0)
        kind = "truncated" if actual < expected else "longer than its header says"
        raise ValueError(
            f"{where} is {kind}: the header gives shape {dims} of {dtype.name}, which is {expected} "
            f"bytes of data, but the file holds {actual} bytes after the {4 + 4 * ndim}-byte header"
        )
    # astype copies: the result owns its memory, is writable and in native byte order.
    return np.frombuffer(payload, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a NumPy array.

    Compression is recognised by the gzip magic bytes, not by the file
    name. The header is checked (two zero bytes, a known type code, at least
    one dimension) and so is the length: the data must be exactly as long as
    the header's dimensions say, otherwise a ``ValueError`` names the file and
    both sizes. Nothing is allocated from the header's claims alone.

    Args:
        path: the file, as a ``str`` or ``os.PathLike``.

    Returns:
        A fresh, writable array in native byte order with the header's shape,
        e.g. uint8 (60000, 28, 28) for MNIST training images or uint8 (60000,)
        for its labels. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
        0x0C int32, 0x0D float32, 0x0E float64.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file, an unknown type code, a truncated or
            oversized file, or a damaged gzip stream.

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
        raise TypeError(f"path must be a str or os.PathLike. Received: path={path!r}")
    file = Path(path)
    where = str(file)
    with open(file, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, where)
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            try:
                return _parse(stream, f"{where} (after gzip decompression)")
            except EOFError:
                raise ValueError(
                    f"{where}: the gzip stream is truncated (it ends before its end-of-stream marker)"
                ) from None
            except (OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError: bad CRC, bad header
                raise ValueError(f"{where}: the gzip stream is damaged ({err})") from None
