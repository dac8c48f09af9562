"""MNIST and Fashion-MNIST: find the four IDX files on disk, or download them.

Both sets use the same four file names, each raw or gzip'd::

    train-images-idx3-ubyte[.gz]   uint8 (60000, 28, 28)
    train-labels-idx1-ubyte[.gz]   uint8 (60000,)
    t10k-images-idx3-ubyte[.gz]    uint8 (10000, 28, 28)
    t10k-labels-idx1-ubyte[.gz]    uint8 (10000,)

Search order (the first folder that holds all four files wins; files are
never mixed across folders):

1. ``path``, if given;
2. ``$GLASSNET_DATA/<name>``, then ``$GLASSNET_DATA`` itself, if set
   (the subfolder comes first because both sets share file names);
3. ``~/.cache/glassnet/<name>``;
4. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist`` package).

``<name>`` is ``mnist`` or ``fashion-mnist``. Files found on disk are checked
for their IDX headers, exact lengths, matching image and label counts and
labels in 0..9; checksums are verified when downloading (the official MD5s of
the .gz files as served), not on every load.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glassnet._checks import short, strict_bool
from glassnet.datasets import download as _download
from glassnet.datasets.idx import read_idx

__all__ = ["mnist", "fashion_mnist", "FASHION_MNIST_CLASSES"]

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Folders where a system package installs a data set, searched last.
SYSTEM_DIRS: dict[str, list[str]] = {
    "mnist": [],
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
}
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
INSTALL_HINTS = {"fashion-mnist": "on Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist"}

Split = tuple[np.ndarray, np.ndarray]


def _files_in(folder: Path) -> list[Path | None]:
    """Each of the four files in ``folder`` (raw preferred over .gz), or None where missing."""
    found: list[Path | None] = []
    for stem in FILES:
        candidates = [folder / stem, folder / f"{stem}.gz"]
        found.append(next((c for c in candidates if c.is_file()), None))
    return found


def search_path(name: str, path: Path | None) -> list[tuple[str, Path]]:
    """(how the folder was chosen, folder) in search order."""
    folders: list[tuple[str, Path]] = []
    if path is not None:
        folders.append(("path argument", path))
    env = os.environ.get("GLASSNET_DATA")
    if env:
        root = Path(env).expanduser()
        folders += [(f"$GLASSNET_DATA/{name}", root / name), ("$GLASSNET_DATA", root)]
    folders.append(("user cache", Path.home() / ".cache" / "glassnet" / name))
    folders += [("system package", Path(d)) for d in SYSTEM_DIRS.get(name, [])]
    return folders


def download_dir(name: str, path: Path | None) -> Path:
    """The folder a download goes to: ``path``, else $GLASSNET_DATA/NAME, else the user cache."""
    if path is not None:
        return path
    env = os.environ.get("GLASSNET_DATA")
    if env:
        return Path(env).expanduser() / name
    return Path.home() / ".cache" / "glassnet" / name


def _not_found(name: str, path: Path | None) -> FileNotFoundError:
    title = TITLES[name]
    lines = [f"{title} files not found. Looked for {', '.join(s + '[.gz]' for s in FILES)} in:"]
    for how, folder in search_path(name, path):
        if not folder.is_dir():
            state = "no such folder"
        else:
            missing = [stem for stem, f in zip(FILES, _files_in(folder), strict=True) if f is None]
            state = "missing " + ", ".join(missing)
        lines.append(f"  {folder}  ({how}: {state})")
    if not os.environ.get("GLASSNET_DATA"):
        lines.append("  ($GLASSNET_DATA is not set)")
    lines.append("To get them:")
    if name in INSTALL_HINTS:
        lines.append(f"  - {INSTALL_HINTS[name]}")
    lines.append(f"  - pass download=True to fetch them into {download_dir(name, path)}")
    lines.append("  - or put the four files in a folder and pass path=<folder>, or set GLASSNET_DATA=<folder>")
    return FileNotFoundError("\n".join(lines))


def _fetch_missing(name: str, folder: Path) -> None:
    mirrors = _download.MIRRORS[name]
    checksums = _download.MD5.get(name, {})
    for stem, found in zip(FILES, _files_in(folder), strict=True):
        if found is None:
            filename = f"{stem}.gz"
            _download.fetch(filename, folder, mirrors, md5=checksums.get(filename))


def _read_pair(images_file: Path, labels_file: Path) -> Split:
    images = read_idx(images_file)
    labels = read_idx(labels_file)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{images_file}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_file}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_file} holds {len(images)} images but {labels_file} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_file}: labels must be 0..9, found {int(labels.max())}")
    return images, labels


def _load(name: str, path: str | os.PathLike[str] | None, download: bool, raw: bool, flat: bool) -> tuple[Split, Split]:
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a folder (str or os.PathLike) or None. Received: path={short(path)}")
    for flag, value in (("download", download), ("raw", raw), ("flat", flat)):
        strict_bool(value, flag)
    folder = None if path is None else Path(path).expanduser()
    if folder is not None and folder.exists() and not folder.is_dir():
        raise ValueError(
            f"path must be a folder holding the four IDX files. Received: path={short(str(path))} (a file)"
        )
    files: list[Path] | None = None
    for _, candidate in search_path(name, folder):
        found = _files_in(candidate)
        if all(f is not None for f in found):
            files = [f for f in found if f is not None]
            break
    if files is None:
        if not download:
            raise _not_found(name, folder)
        target = download_dir(name, folder)
        _fetch_missing(name, target)
        files = [f for f in _files_in(target) if f is not None]
    splits = []
    for images_file, labels_file in ((files[0], files[1]), (files[2], files[3])):
        images, labels = _read_pair(images_file, labels_file)
        x = images.reshape(len(images), -1) if flat else images[:, None]
        if not raw:
            x = np.divide(x, 255, dtype=np.float32)  # exact division: 255 maps to 1.0
        splits.append((x, labels.astype(np.int64)))
    return splits[0], splits[1]


def mnist(
    path: str | os.PathLike[str] | None = None, download: bool = False, *, raw: bool = False, flat: bool = False
) -> tuple[Split, Split]:
    """The MNIST handwritten digits: 70,000 grey images of 28x28 pixels, ten classes.

    Args:
        path: a folder holding the four IDX files (searched first; see the
            module docstring for the whole search order).
        download: if the files are nowhere on the search path, fetch the
            missing ones (MD5-checked) into ``path``, else
            ``$GLASSNET_DATA/mnist``, else ``~/.cache/glassnet/mnist``.
        raw: return uint8 pixels 0..255 instead of float32 in [0, 1].
        flat: return images as rows of 784 pixels instead of (1, 28, 28).

    Returns:
        ((x_train, y_train), (x_test, y_test)), where
        x: float32 of shape (N, 1, 28, 28) (NCHW), values in [0, 1]
            (pixel / 255); uint8 in 0..255 with ``raw=True``;
            (N, 784) with ``flat=True``.
        y: int64 of shape (N,), values 0..9.
        N is 60,000 for training and 10,000 for test. Fresh arrays on
        every call (nothing is cached in memory).

    Raises:
        FileNotFoundError: the files were not found and ``download`` is
            False; the message lists every folder searched and how to get
            the files.
        ValueError: a file is corrupt, or images and labels disagree.
        DownloadError (an OSError): a download failed on every mirror; a
            ChecksumError (also a ValueError) if a mirror served wrong data.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = mnist(download=True)  # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, y_train.dtype  # doctest: +SKIP
        ((60000, 1, 28, 28), dtype('float32'), dtype('int64'))
    """
    return _load("mnist", path, download, raw, flat)


def fashion_mnist(
    path: str | os.PathLike[str] | None = None, download: bool = False, *, raw: bool = False, flat: bool = False
) -> tuple[Split, Split]:
    """Zalando's Fashion-MNIST: 70,000 grey 28x28 images of clothing, ten classes.

    Class names in label order are in ``FASHION_MNIST_CLASSES``. Licence MIT
    (Zalando Research). On Debian, ``apt-get install dataset-fashion-mnist``
    installs the files where this function finds them.

    Args:
        path: a folder holding the four IDX files (searched first; see the
            module docstring for the whole search order).
        download: if the files are nowhere on the search path, fetch the
            missing ones (MD5-checked) into ``path``, else
            ``$GLASSNET_DATA/fashion-mnist``, else
            ``~/.cache/glassnet/fashion-mnist``.
        raw: return uint8 pixels 0..255 instead of float32 in [0, 1].
        flat: return images as rows of 784 pixels instead of (1, 28, 28).

    Returns:
        ((x_train, y_train), (x_test, y_test)), where
        x: float32 of shape (N, 1, 28, 28) (NCHW), values in [0, 1]
            (pixel / 255); uint8 in 0..255 with ``raw=True``;
            (N, 784) with ``flat=True``.
        y: int64 of shape (N,), values 0..9.
        N is 60,000 for training and 10,000 for test. Fresh arrays on
        every call (nothing is cached in memory).

    Raises:
        FileNotFoundError: the files were not found and ``download`` is
            False; the message lists every folder searched and how to get
            the files.
        ValueError: a file is corrupt, or images and labels disagree.
        DownloadError (an OSError): a download failed on every mirror; a
            ChecksumError (also a ValueError) if a mirror served wrong data.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist()  # doctest: +SKIP
        >>> x_train.shape, x_test.shape  # doctest: +SKIP
        ((60000, 1, 28, 28), (10000, 1, 28, 28))
    """
    return _load("fashion-mnist", path, download, raw, flat)
