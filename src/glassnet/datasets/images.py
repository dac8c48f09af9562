"""Folders of images, one sub-folder per class (torchvision's ImageFolder layout), as NCHW arrays.

``photos/cat/1.jpg, photos/cat/2.png, photos/dog/a.bmp, ...``: the class names
are the sub-folders' names, sorted, and label i is ``classes[i]``. Every
image is decoded with Pillow (the ``images`` extra: ``pip install
"glassnet[images]"``), converted to grayscale when every image is grayscale
and to RGB otherwise, resized to ``size`` x ``size`` (squeezed, not cropped,
as Keras's ``image_dataset_from_directory`` does by default) and scaled to
[0, 1]: ``x = pixel / 255``, float32, (N, C, H, W).

Hostile files cost little: an image's header is read first and one that
declares more than ``max_pixels`` pixels (a decompression bomb: a few hundred
bytes declaring 100,000 x 100,000) is refused before anything is decoded;
Pillow's own bomb warning is an error; a file that can't be decoded
(truncated, corrupt, not an image) is named and skipped, with one warning
that counts them (``strict=True`` refuses the folder instead). Symbolic links
to folders inside a class folder are not followed (no loops); links to
files are read.
"""

from __future__ import annotations

import os
import statistics
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from glassnet._checks import check_dtype, int_pair, short
from glassnet._files import display_name
from glassnet.datasets._prep import (
    Prepared,
    RecordError,
    Splits,
    check_kind,
    field_of,
    int_field,
    names_field,
    split_indices,
)

__all__ = ["from_image_folder", "ImagePreprocessing", "is_labelled_folder", "IMAGE_EXTENSIONS", "MAX_PIXELS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MAX_PIXELS = 50_000_000  # per image, read from the header before decoding
MAX_IMAGES = 1_000_000
MAX_BYTES = 1 << 32  # of the decoded array
_MAX_SIDE = 4096
_MAX_CLASSES = 100_000
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "F"}


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError('reading images needs Pillow: pip install "glassnet[images]"') from None
    return Image


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _image_files(folder: str) -> list[str]:
    """Image files under ``folder``, sorted; folders reached through symbolic links are not entered."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if _is_image(f))
    return found


def _class_folders(path: str, where: str) -> list[tuple[str, str]]:
    if not os.path.isdir(path):
        raise ValueError(f"{where} is not a folder: expected a folder with one sub-folder of images per class")
    entries = sorted((e for e in os.scandir(path) if not e.name.startswith(".")), key=lambda e: e.name)
    classes = [(e.name, e.path) for e in entries if e.is_dir()]
    if not classes:
        loose = [e for e in entries if e.is_file() and _is_image(e.name)]
        hint = (
            " (it holds images directly: put each class's images in a sub-folder named after the class)"
            if loose
            else ""
        )
        raise ValueError(f"{where} has no class folders{hint}; expected {where}/CLASS/image.png")
    return classes


def is_labelled_folder(path: str | os.PathLike[str], classes: Sequence[str]) -> bool:
    """Whether ``path`` is a folder of class folders: no images of its own, sub-folders all named as ``classes``."""
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        return False
    entries = [e for e in os.scandir(folder) if not e.name.startswith(".")]
    subfolders = [e.name for e in entries if e.is_dir()]
    loose = [e for e in entries if e.is_file() and _is_image(e.name)]
    return bool(subfolders) and not loose and all(name in classes for name in subfolders)


def _open_checked(Image: Any, file: str, max_pixels: int) -> Any:
    """The image, opened lazily (its header read, no pixels), refused if it declares too many pixels."""
    image = Image.open(file)
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ValueError(f"it declares {width} x {height} pixels, more than max_pixels={max_pixels:,}")
    return image


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _is_gray(image: Any) -> bool:
    """Whether an opened image is grayscale, from its mode or its palette (GIFs of gray pixels are palette images)."""
    if image.mode in _GRAY_MODES:
        return True
    if image.mode != "P" or image.palette is None:
        return False
    try:  # the palette is read with the header: no pixel is decoded
        raw = bytes(image.palette.palette)
        if getattr(image.palette, "rawmode", None) not in (None, "RGB") or len(raw) % 3:
            return False
        rgb = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
    except Exception:  # an odd palette: treat the image as colour
        return False
    return bool((rgb[:, 0] == rgb[:, 1]).all() and (rgb[:, 1] == rgb[:, 2]).all())


def _headers(Image: Any, files: Sequence[str], max_pixels: int) -> list[tuple[int, int, str] | str]:
    """For each file its (width, height, "L" or "RGB"), or why it can't be read."""
    out: list[tuple[int, int, str] | str] = []
    for file in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with _open_checked(Image, file, max_pixels) as image:
                    out.append((image.size[0], image.size[1], "L" if _is_gray(image) else "RGB"))
        except Exception as err:  # a hostile file may raise anything a decoder can: it is skipped, named
            out.append(_reason(err))
    return out


def _decode(Image: Any, file: str, mode: str, size: tuple[int, int], max_pixels: int) -> np.ndarray:
    """One image as (C, H, W) float32 in [0, 1]."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open_checked(Image, file, max_pixels) as image:
            image.draft(mode, (size[1], size[0]))  # JPEG decodes at a reduced scale when that is enough
            converted = image.convert(mode).resize((size[1], size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(converted, dtype=np.float32) / np.float32(255.0)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _load(
    Image: Any,
    files: Sequence[str],
    names: Sequence[str],
    mode: str,
    size: tuple[int, int],
    *,
    strict: bool,
    max_pixels: int,
    dtype: np.dtype,
    skipped: list[tuple[str, str]],
) -> tuple[np.ndarray, np.ndarray]:
    """The decodable images of ``files`` as (N, C, H, W), and the indices of those kept."""
    channels = 1 if mode == "L" else 3
    nbytes = len(files) * channels * size[0] * size[1] * dtype.itemsize
    if nbytes > MAX_BYTES:
        raise ValueError(
            f"{len(files):,} images of {channels} x {size[0]} x {size[1]} would take {nbytes / 2**30:.1f} GiB; "
            "pass a smaller size"
        )
    x = np.empty((len(files), channels, *size), dtype=dtype)
    kept: list[int] = []
    for i, (file, name) in enumerate(zip(files, names)):
        try:
            x[len(kept)] = _decode(Image, file, mode, size, max_pixels)
        except Exception as err:  # truncated or corrupt: named, then skipped or refused
            if strict:
                raise ValueError(f"{name} can't be read as an image ({_reason(err)}); strict=True refuses it") from None
            skipped.append((name, _reason(err)))
            continue
        kept.append(i)
    return x[: len(kept)], np.asarray(kept, dtype=np.int64)


def _warn_skipped(skipped: list[tuple[str, str]], total: int) -> None:
    if skipped:
        shown = "; ".join(f"{name} ({why})" for name, why in skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
        warnings.warn(
            f"skipped {len(skipped)} of {total} files that could not be read as images: {shown}", stacklevel=3
        )


class ImagePreprocessing:
    """How image files become a model's input: size, channels, class names.

    Args:
        size: (height, width) every image is resized to.
        channels: 1 (grayscale) or 3 (RGB).
        classes: the class names; label i is ``classes[i]``.

    Example:
        >>> prep = ImagePreprocessing((16, 16), 1, ["cat", "dog"])
        >>> ImagePreprocessing.from_json(prep.to_json()).to_json() == prep.to_json()
        True
        >>> prep.input_shape
        (1, 16, 16)
    """

    kind = "images"

    def __init__(self, size: tuple[int, int], channels: int, classes: Sequence[str]) -> None:
        self.size = int_pair(size, "size", high=_MAX_SIDE)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3. Received: channels={short(channels)}")
        self.channels = channels
        self.classes = list(classes)

    @property
    def mode(self) -> str:
        return "L" if self.channels == 1 else "RGB"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)

    @property
    def n_outputs(self) -> int:
        return len(self.classes)

    def load(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        strict: bool = False,
        dtype: Any = np.float32,
    ) -> Prepared:
        """Image files, and folders of them (searched recursively), as the model's input; no labels.

        Returns ``Prepared(x, None, names)``: a row per readable image, named
        by its path; unreadable files are skipped (``.skipped``, and a warning)
        or, with ``strict=True``, refused.
        """
        Image = _pillow()
        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not items:
            raise ValueError("paths must name at least one image file or folder. Received: []")
        files: list[str] = []
        for item in items:
            path = os.fspath(item)
            if os.path.isdir(path):
                found = _image_files(path)
                if not found:
                    raise ValueError(f"{display_name(path)} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
                files.extend(found)
            elif os.path.isfile(path):
                files.append(path)
            else:
                raise ValueError(f"{display_name(path)} is neither an image file nor a folder")
        names = [display_name(f) for f in files]
        skipped: list[tuple[str, str]] = []
        x, kept = _load(Image, files, names, self.mode, self.size, strict=strict, max_pixels=MAX_PIXELS,
                        dtype=check_dtype(dtype), skipped=skipped)  # fmt: skip
        _warn_skipped(skipped, len(files))
        return Prepared(x, None, [names[i] for i in kept.tolist()], skipped)

    def load_labelled(
        self, folder: str | os.PathLike[str], *, strict: bool = False, dtype: Any = np.float32
    ) -> Prepared:
        """A folder laid out as for training (``folder/CLASS/...``) as ``Prepared(x, y, names)``.

        Its class folders must be among the model's classes (a class may be absent).
        """
        Image = _pillow()
        where = display_name(folder)
        files: list[str] = []
        labels: list[int] = []
        for name, path in _class_folders(os.fspath(folder), where):
            if name not in self.classes:
                raise ValueError(
                    f"{where}/{name}: the model knows no class {name!r} (its classes: {short(self.classes)})"
                )
            found = _image_files(path)
            files.extend(found)
            labels.extend([self.classes.index(name)] * len(found))
        if not files:
            raise ValueError(f"{where} holds no images ({', '.join(IMAGE_EXTENSIONS)}) in its class folders")
        names = [display_name(f) for f in files]
        skipped: list[tuple[str, str]] = []
        x, kept = _load(Image, files, names, self.mode, self.size, strict=strict, max_pixels=MAX_PIXELS,
                        dtype=check_dtype(dtype), skipped=skipped)  # fmt: skip
        _warn_skipped(skipped, len(files))
        return Prepared(x, np.asarray(labels, dtype=np.int64)[kept], [names[i] for i in kept.tolist()], skipped)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": 1,
            "size": list(self.size),
            "channels": self.channels,
            "classes": self.classes,
        }

    @classmethod
    def from_json(cls, record: Any) -> ImagePreprocessing:
        """The preprocessing a record describes; RecordError (a ValueError) naming the first bad field."""
        check_kind(record, cls.kind)
        where = "the preprocessing record"
        size = field_of(record, "size", where)
        if not isinstance(size, list) or len(size) != 2:
            raise RecordError(f"{where}.size must be [height, width]. Received: {short(size)}")
        height, width = (int_field(v, f"{where}.size", 1, _MAX_SIDE) for v in size)
        channels = field_of(record, "channels", where)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise RecordError(f"{where}.channels must be 1 or 3. Received: {short(channels)}")
        classes = names_field(field_of(record, "classes", where), f"{where}.classes", limit=_MAX_CLASSES, low=2)
        return cls((height, width), channels, classes)

    def __repr__(self) -> str:
        return f"ImagePreprocessing(size={self.size}, channels={self.channels}, classes={short(self.classes)})"


def from_image_folder(
    path: str | os.PathLike[str],
    size: int | tuple[int, int] | None = None,
    color: str | None = None,
    *,
    strict: bool = False,
    val_size: float = 0.1,
    test_size: float = 0.2,
    seed: int | np.random.Generator | None = 0,
    max_pixels: int = MAX_PIXELS,
    max_images: int = MAX_IMAGES,
    dtype: Any = np.float32,
) -> Splits:
    """A folder of class folders of images as training, validation and test arrays.

    Args:
        path: the folder; ``path/CLASS/*.png|jpg|jpeg|bmp|gif`` (sub-folders of a
            class folder are searched too; names starting with "." are left out).
        size: the side (or (height, width)) every image is resized to; None: the
            median of the images' longer sides, clipped to [16, 64].
        color: "L" (grayscale), "RGB", or None: grayscale when every image is,
            RGB as soon as one is in colour.
        strict: refuse the folder when a file can't be decoded (default: skip it,
            named in ``skipped`` and in one warning).
        val_size, test_size, seed: the seeded split (fractions of the images).
        max_pixels: the most pixels an image may declare in its header.
        max_images: the most image files the folder may hold.
        dtype: float32 (default) or float64.

    Returns:
        ``Splits``: ``x_*`` (N, C, H, W) in [0, 1], ``y_*`` int64 labels, and
        ``preprocessing`` (an ``ImagePreprocessing``).

    Raises:
        ImportError: Pillow is not installed.
        ValueError: not a folder, no class folders, one class only, an empty
            class folder (named), no readable image, too many images.
    """
    Image = _pillow()
    where = display_name(path)
    if color not in (None, "L", "RGB"):
        raise ValueError(f"color must be None, 'L' or 'RGB'. Received: color={short(color)}")
    classes = _class_folders(os.fspath(path), where)
    if len(classes) < 2:
        raise ValueError(f"{where} has one class folder ({classes[0][0]!r}); a classifier needs at least two")
    files: list[str] = []
    labels: list[int] = []
    for label, (name, folder) in enumerate(classes):
        found = _image_files(folder)
        if not found:
            raise ValueError(
                f"{where}/{name} holds no images ({', '.join(IMAGE_EXTENSIONS)}); remove the empty class folder"
            )
        files.extend(found)
        labels.extend([label] * len(found))
        if len(files) > max_images:
            raise ValueError(f"{where} holds more than max_images={max_images:,} images")
    names = [os.path.relpath(f, os.fspath(path)) for f in files]
    skipped: list[tuple[str, str]] = []
    headers = _headers(Image, files, max_pixels)
    good = []
    for i, header in enumerate(headers):
        if isinstance(header, str):
            if strict:
                raise ValueError(f"{where}/{names[i]} can't be read as an image ({header}); strict=True refuses it")
            skipped.append((names[i], header))
        else:
            good.append(i)
    if not good:
        raise ValueError(f"{where}: none of its {len(files):,} image files could be read")
    sizes = [h for h in headers if not isinstance(h, str)]
    if color is None:
        color = "L" if all(mode == "L" for _, _, mode in sizes) else "RGB"
    if size is None:
        side = int(statistics.median(max(w, h) for w, h, _ in sizes))
        size = min(max(side, 16), 64)
    side_pair = int_pair(size, "size", high=_MAX_SIDE)
    x, kept = _load(
        Image,
        [files[i] for i in good],
        [names[i] for i in good],
        color,
        side_pair,
        strict=strict,
        max_pixels=max_pixels,
        dtype=check_dtype(dtype),
        skipped=skipped,
    )
    y = np.asarray(labels, dtype=np.int64)[np.asarray(good, dtype=np.int64)[kept]]
    _warn_skipped(skipped, len(files))
    for label, (name, _) in enumerate(classes):
        if not (y == label).any():
            raise ValueError(f"{where}/{name}: none of its images could be read")
    prep = ImagePreprocessing(side_pair, 1 if color == "L" else 3, [name for name, _ in classes])
    train, val, test = split_indices(len(y), val_size, test_size, seed)
    return Splits(x[train], y[train], x[val], y[val], x[test], y[test], preprocessing=prep, skipped=skipped)
