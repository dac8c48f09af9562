"""The 8x8 handwritten digits shipped inside the package (works offline).

The data are the test part of the UCI "Optical Recognition of Handwritten
Digits" set by E. Alpaydin and C. Kaynak (1998), licensed CC BY 4.0; see
``data/NOTICE`` next to this file.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
from importlib import resources

import numpy as np

from glassnet._checks import short

__all__ = ["digits"]

_FILE = "digits.csv.gz"
# Checked on every load: hashing 57 kB costs microseconds, and a damaged
# install then fails loudly instead of training on garbage.
_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
_N, _SIDE, _MAX = 1797, 8, 16


@functools.lru_cache(maxsize=1)
def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    """Parse the shipped file once: uint8 pixels (1797, 64) and uint8 labels (1797,).

    Callers get copies, so the cached arrays are never handed out.
    """
    blob = (resources.files("glassnet.datasets") / "data" / _FILE).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != _SHA256:
        raise RuntimeError(f"the shipped {_FILE} is damaged (sha256 {digest}, expected {_SHA256}); reinstall glassnet")
    table = np.loadtxt(io.StringIO(gzip.decompress(blob).decode("ascii")), delimiter=",", dtype=np.int64)
    if table.shape != (_N, _SIDE * _SIDE + 1):
        raise RuntimeError(f"the shipped {_FILE} has shape {table.shape}, expected {(_N, _SIDE * _SIDE + 1)}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > _MAX or labels.min() < 0 or labels.max() > 9:
        raise RuntimeError(f"the shipped {_FILE} holds values out of range; reinstall glassnet")
    pixels, labels = pixels.astype(np.uint8), labels.astype(np.uint8)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def digits(*, flat: bool = False, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """1,797 handwritten digits, 8x8 pixels, ten classes; shipped, no download.

    Args:
        flat: return each image as a row of 64 pixels (row-major) instead of
            a (1, 8, 8) NCHW image, for fully connected networks.
        raw: return the original counts 0..16 as uint8 instead of float32
            scaled to [0, 1].

    Returns:
        images: float32 of shape (1797, 1, 8, 8) with values in [0, 1]
            (pixel / 16), by default; (1797, 64) with ``flat=True``;
            uint8 with values 0..16 with ``raw=True``.
        labels: int64 of shape (1797,), values 0..9 (about 180 per class).

    Each call returns fresh arrays; the file is parsed once per process.

    Example:
        >>> from glassnet.datasets import digits
        >>> x, y = digits()
        >>> x.shape, x.dtype, float(x.min()), float(x.max())
        ((1797, 1, 8, 8), dtype('float32'), 0.0, 1.0)
        >>> y.shape, y.dtype, int(y[0])
        ((1797,), dtype('int64'), 0)
        >>> digits(flat=True, raw=True)[0].shape
        (1797, 64)
    """
    if not isinstance(flat, bool):
        raise TypeError(f"flat must be True or False. Received: flat={short(flat)}")
    if not isinstance(raw, bool):
        raise TypeError(f"raw must be True or False. Received: raw={short(raw)}")
    pixels, labels = _load_raw()
    shape = (_N, _SIDE * _SIDE) if flat else (_N, 1, _SIDE, _SIDE)
    images = pixels.reshape(shape).copy() if raw else np.divide(pixels.reshape(shape), _MAX, dtype=np.float32)
    return images, labels.astype(np.int64)
