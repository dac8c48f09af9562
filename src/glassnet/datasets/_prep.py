"""What the loaders of one's own data share: the splits they return, and checks for preprocessing records.

A preprocessing record is read back from a model file, which may come from
anyone, so every field is checked for its type, its range and its size before
it is used; a bad one is a ValueError that names the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet._checks import as_rng, short

__all__ = [
    "Splits",
    "Prepared",
    "split_indices",
    "RecordError",
    "field_of",
    "text_field",
    "number_field",
    "int_field",
    "names_field",
    "check_kind",
]

MAX_NAME = 1000  # characters of a column, class or category name in a record


@dataclass
class Splits:
    """Training, validation and test arrays drawn from one file or folder, and the preprocessing fitted on training.

    ``x_val``/``y_val`` (or the test pair) hold zero rows when their size was 0.
    ``skipped`` lists ``(name, reason)`` for each input left out (images that could not be read).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    preprocessing: Any
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Prepared:
    """Raw inputs made ready for a model: ``x``, the targets ``y`` when the input had them, and a name per row."""

    x: np.ndarray
    y: np.ndarray | None
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1). Received: {name}={short(value)}")
    return float(value)


def split_indices(
    n: int, val_size: float, test_size: float, seed: int | np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of the training, validation and test parts: a seeded shuffle cut by the fractions (rounded up).

    Example:
        >>> train, val, test = split_indices(10, 0.2, 0.3, seed=0)
        >>> len(train), len(val), len(test), sorted([*train, *val, *test]) == list(range(10))
        (5, 2, 3, True)
    """
    val_size = _fraction(val_size, "val_size")
    test_size = _fraction(test_size, "test_size")
    if val_size + test_size >= 1.0:
        raise ValueError(f"val_size + test_size must be below 1. Received: val_size={val_size}, test_size={test_size}")
    n_val, n_test = math.ceil(val_size * n), math.ceil(test_size * n)
    if n - n_val - n_test < 1:
        raise ValueError(f"{n} samples are too few to split into training, validation and test parts")
    order = as_rng(seed).permutation(n)
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]


class RecordError(ValueError):
    """A preprocessing record (read from a model file) that is not one glassnet wrote."""


def field_of(record: Any, key: str, where: str) -> Any:
    """``record[key]``, or a RecordError naming what is missing."""
    if not isinstance(record, dict):
        raise RecordError(f"{where} must be a JSON object. Received: {short(record)}")
    if key not in record:
        raise RecordError(f"{where} has no {key!r} field")
    return record[key]


def text_field(value: Any, where: str, *, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise RecordError(f"{where} must be a string of at most {limit} characters. Received: {short(value)}")
    return value


def number_field(value: Any, where: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"{where} must be a finite number. Received: {short(value)}")
    if positive and value <= 0:
        raise RecordError(f"{where} must be positive. Received: {short(value)}")
    return float(value)


def int_field(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecordError(f"{where} must be an integer in [{low}, {high}]. Received: {short(value)}")
    return value


def names_field(value: Any, where: str, *, limit: int, low: int = 0) -> list[str]:
    """A list of distinct strings, between ``low`` and ``limit`` of them."""
    if not isinstance(value, list) or not low <= len(value) <= limit:
        got = f"a list of {len(value)}" if isinstance(value, list) else short(value)
        raise RecordError(f"{where} must be a list of {low} to {limit} names. Received: {got}")
    names = [text_field(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if len(set(names)) != len(names):
        raise RecordError(f"{where} must not repeat a name. Received: {short(names)}")
    return names


def check_kind(record: Any, kind: str, version: int = 1) -> None:
    found = field_of(record, "kind", "the preprocessing record")
    if found != kind:
        raise RecordError(f"the preprocessing record is of kind {short(found)}, expected {kind!r}")
    got = field_of(record, "version", "the preprocessing record")
    if isinstance(got, bool) or not isinstance(got, int) or not 1 <= got <= version:
        raise RecordError(
            f"the preprocessing record has version {short(got)}; this glassnet reads versions 1 to {version} "
            "(a newer glassnet wrote it: upgrade)"
        )
