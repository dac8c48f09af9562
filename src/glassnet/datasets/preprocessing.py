"""Preprocessing records: from a model's metadata back to an object, and applied to raw files.

``fit(..., preprocessing=prep)`` keeps ``prep.to_json()`` in the model's
metadata under ``"preprocessing"``; ``model.save(path)``
writes it into the file.
``preprocessing_from_metadata(model.metadata)`` reads it back (checked field
by field: a model file may come from anyone), and ``apply(prep, raw)`` turns
raw input of the kind the model was trained on into its input array:

==========  ===================================  =======================================
kind        raw                                  gives
==========  ===================================  =======================================
tabular     a CSV file, a Table, a list of dicts  x (N, F); y when the target column is there
images      image files and folders, or a        x (N, C, H, W); y for a folder of class
            folder of class folders               folders named as the model's classes
text        a str                                x = token ids (L,)
==========  ===================================  =======================================

``decode(prep, outputs)`` turns the model's outputs back into class names
with their probabilities, or values in the target's units.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.datasets._prep import Prepared, RecordError
from glassnet.datasets.images import ImagePreprocessing, is_labelled_folder
from glassnet.datasets.tabular import Table, TabularPreprocessing, read_csv
from glassnet.datasets.text import TextPreprocessing

__all__ = [
    "Preprocessing",
    "preprocessing_from_json",
    "preprocessing_from_metadata",
    "record_preprocessing",
    "apply",
    "decode",
    "Prepared",
]

Preprocessing = TabularPreprocessing | ImagePreprocessing | TextPreprocessing
_KINDS: dict[str, Any] = {
    TabularPreprocessing.kind: TabularPreprocessing,
    ImagePreprocessing.kind: ImagePreprocessing,
    TextPreprocessing.kind: TextPreprocessing,
}


def preprocessing_from_json(record: Any) -> Preprocessing:
    """The preprocessing object a record (``prep.to_json()``) describes.

    Raises:
        ValueError: not a record glassnet wrote (its kind, version or a field is wrong); the message names the field.

    Example:
        >>> from glassnet.datasets import ImagePreprocessing
        >>> preprocessing_from_json(ImagePreprocessing(8, 1, ["a", "b"]).to_json())
        ImagePreprocessing(size=(8, 8), channels=1, classes=['a', 'b'])
    """
    if not isinstance(record, dict):
        raise RecordError(f"a preprocessing record must be a JSON object. Received: {short(record)}")
    kind = record.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise RecordError(f"the preprocessing record's kind must be one of {sorted(_KINDS)}. Received: {short(kind)}")
    return _KINDS[kind].from_json(record)  # type: ignore[no-any-return]


def preprocessing_from_metadata(metadata: Any) -> Preprocessing | None:
    """The preprocessing kept in a model's metadata (``model.metadata``), or None when it keeps none."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise RecordError(f"a model's metadata must be a JSON object. Received: {short(metadata)}")
    if metadata.get("preprocessing") is None:
        return None
    return preprocessing_from_json(metadata["preprocessing"])


def record_preprocessing(model: Any, prep: Any) -> None:
    """Keep ``prep.to_json()`` in ``model.metadata["preprocessing"]`` (what ``fit(..., preprocessing=prep)`` does).

    Other metadata keys are kept; ``model.save(path)`` writes them into the file.
    """
    if not isinstance(prep, (TabularPreprocessing, ImagePreprocessing, TextPreprocessing)):
        raise TypeError(
            "preprocessing must be a TabularPreprocessing, ImagePreprocessing or TextPreprocessing. "
            f"Received: {type(prep).__name__}"
        )
    metadata = dict(getattr(model, "metadata", None) or {})
    metadata["preprocessing"] = prep.to_json()
    model.metadata = metadata


def apply(
    prep: Preprocessing,
    raw: Any,
    *,
    unknown: str = "error",
    strict: bool = False,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Prepared:
    """Raw input of the kind ``prep`` was fitted on, as ``Prepared(x, y, names)`` for a model.

    Args:
        prep: a preprocessing object (``from_csv(...).preprocessing``, or ``preprocessing_from_metadata``).
        raw: tabular: a CSV path, a Table or a list of dicts (rows named "row 1", "row 2", ...);
            images: a file or folder path or a list of them, each image named by its path (a single
            folder whose sub-folders are all among the classes is read as labelled);
            text: a str (one row named "text").
        unknown: tabular only: "error" or "zeros" for a category training never saw.
        strict: images only: refuse unreadable files instead of skipping them.
        encoding, delimiter: a CSV file's (see ``read_csv``).

    Returns:
        ``Prepared``: ``x``; ``y`` when the input carries targets (a target
        column, class folders), else None; ``names``, one per row of ``x``.
    """
    if isinstance(prep, TabularPreprocessing):
        if isinstance(raw, (str, os.PathLike)):
            table = read_csv(raw, encoding=encoding, delimiter=delimiter)
        elif isinstance(raw, Table):
            table = raw
        elif isinstance(raw, list):
            table = Table.from_records(raw)
        else:
            raise TypeError(f"raw must be a CSV path, a Table or a list of dicts. Received: {type(raw).__name__}")
        x, y = prep.transform(table, unknown=unknown)
        return Prepared(x, y, [f"row {i + 1}" for i in range(len(table))])
    if isinstance(prep, ImagePreprocessing):
        if isinstance(raw, (str, os.PathLike)) and is_labelled_folder(raw, prep.classes):
            return prep.load_labelled(raw, strict=strict)
        return prep.load(raw, strict=strict)
    if isinstance(prep, TextPreprocessing):
        if not isinstance(raw, str):
            raise TypeError(f"raw must be a str for a text model. Received: {type(raw).__name__}")
        return Prepared(prep.transform(raw), None, ["text"])
    raise TypeError(f"prep must be a preprocessing object. Received: {type(prep).__name__}")


def decode(prep: Preprocessing, outputs: Any) -> tuple[list[str] | None, np.ndarray]:
    """A model's outputs read back through ``prep``.

    Classification (tabular or images; outputs (N, K) logits or probabilities):
    the most likely class's name per row and its probability (softmax of the
    logits). Regression: ``(None, values)`` in the target's units, (N,).

    Example:
        >>> from glassnet.datasets import ImagePreprocessing
        >>> names, p = decode(ImagePreprocessing(8, 1, ["cat", "dog"]), np.array([[0.0, 2.0], [1.0, 1.0]]))
        >>> names, p.round(3).tolist()
        (['dog', 'cat'], [0.881, 0.5])
    """
    out = np.asarray(outputs, dtype=np.float64)
    if isinstance(prep, TabularPreprocessing) and prep.task == "regression":
        return None, prep.inverse_target(out.reshape(len(out), -1)[:, 0])
    classes = getattr(prep, "classes", None)
    if not classes:
        raise TypeError(f"decode needs a classification or regression preprocessing. Received: {short(prep)}")
    if out.ndim != 2 or out.shape[1] != len(classes):
        raise ValueError(f"outputs must have shape (N, {len(classes)}), one column per class. Received: {out.shape}")
    is_probability = (out >= 0).all() and np.allclose(out.sum(axis=1), 1.0)
    if not is_probability:  # logits: softmax, shifted by the row maximum so exp never overflows
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    best = out.argmax(axis=1)
    return [classes[i] for i in best.tolist()], out[np.arange(len(out)), best]
