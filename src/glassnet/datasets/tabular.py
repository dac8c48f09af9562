"""Tables from CSV files: read, split, standardise numbers, one-hot encode strings, and remember how.

``read_csv`` gives a ``Table`` of strings (header names, one list of cells per
column). ``TabularPreprocessing.fit`` learns from training rows only what the
model needs: for each numeric column its mean and standard deviation
(``x' = (x - mean) / std``), for each string column its categories (one
column of 0/1 per category, in sorted order), the fill value for empty cells
when asked, and the target's classes (classification) or its mean and
standard deviation (regression, so predictions come back in the target's own
units). ``transform`` applies that to any table with the same columns, in any
order. ``from_csv`` does the whole round: read, shuffle and split with a seed,
fit on the training part, transform every part.

A column is numeric when at least 90% of its non-empty cells are numbers (the
rest are then errors that name their line); otherwise it holds categories.
``categorical=[...]`` makes a column of numbers categories (codes, postcodes).
A string seen at predict time that training never saw is an error naming it
(``unknown="error"``, the default) or all zeros in that column's one-hot block
(``unknown="zeros"``, what ``from_csv`` uses for its validation and test parts,
as scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``).

Reading (``glassnet.datasets.csv_table``) costs memory in proportion to the
file: every line and field is bounded, and a wrong encoding or a binary file
is reported at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from glassnet._checks import check_dtype, short
from glassnet.datasets._prep import RecordError as RecordError
from glassnet.datasets._prep import (
    Splits,
    check_kind,
    field_of,
    int_field,
    names_field,
    number_field,
    split_indices,
    text_field,
)
from glassnet.datasets.csv_table import MAX_COLUMNS, MAX_FIELD, Table, read_csv

__all__ = ["Table", "read_csv", "TabularPreprocessing", "from_csv", "FILLS", "MAX_COLUMNS", "MAX_FIELD"]

FILLS = ("mean", "median", "most-frequent")
MAX_CATEGORIES = 1_000
_MAX_FEATURES = 1_000_000  # columns of x a record may describe
_MAX_CLASSES = 100_000
_NUMERIC_SHARE = 0.9  # a column whose non-empty cells are at least this share numbers is numeric


# -- columns ------------------------------------------------------------------
def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _is_numeric(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    numbers = sum(_number(c) is not None for c in filled)
    return bool(filled) and numbers >= _NUMERIC_SHARE * len(filled)


def _parse(table: Table, name: str, cells: list[str]) -> np.ndarray:
    """The cells as float64 (NaN for an empty cell); junk is an error naming its line and column."""
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        if not cell:
            out[i] = np.nan
            continue
        value = _number(cell)
        if value is None or not math.isfinite(value):
            what = "not a number" if value is None else "not a finite number"
            raise ValueError(
                f"{table.where(i)}: column {name!r} holds {short(cell, 60)}, {what} (the column holds numbers; "
                f"pass categorical=[{name!r}] if its values are categories)"
            )
        out[i] = value
    return out


def _missing_error(table: Table, name: str, row: int) -> ValueError:
    return ValueError(f"{table.where(row)}: column {name!r} is empty; pass fill='mean', 'median' or 'most-frequent'")


@dataclass
class _Column:
    name: str
    kind: str  # "numeric" or "categorical"
    mean: float = 0.0
    std: float = 1.0
    categories: tuple[str, ...] = ()
    fill: float | str | None = None

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.categories)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "numeric":
            return {"name": self.name, "type": "numeric", "mean": self.mean, "std": self.std, "fill": self.fill}
        return {"name": self.name, "type": "categorical", "categories": list(self.categories), "fill": self.fill}

    @classmethod
    def from_json(cls, record: Any, where: str) -> _Column:
        name = text_field(field_of(record, "name", where), f"{where}.name")
        kind = field_of(record, "type", where)
        fill = field_of(record, "fill", where)
        if kind == "numeric":
            mean = number_field(field_of(record, "mean", where), f"{where}.mean")
            std = number_field(field_of(record, "std", where), f"{where}.std", positive=True)
            filled = None if fill is None else number_field(fill, f"{where}.fill")
            return cls(name, "numeric", mean=mean, std=std, fill=filled)
        if kind == "categorical":
            categories = names_field(
                field_of(record, "categories", where), f"{where}.categories", limit=MAX_CATEGORIES, low=1
            )
            if fill is not None and fill not in categories:
                raise RecordError(f"{where}.fill must be one of its categories or null. Received: {short(fill)}")
            return cls(name, "categorical", categories=tuple(categories), fill=fill)
        raise RecordError(f"{where}.type must be 'numeric' or 'categorical'. Received: {short(kind)}")


def _fit_column(table: Table, name: str, categorical: bool, fill: str | None, max_categories: int) -> _Column:
    cells = table.column(name)
    if not any(cells):
        raise ValueError(f"{table.source}: column {name!r} is empty in every row; pass ignore=[{name!r}]")
    if not categorical and _is_numeric(cells):
        values = _parse(table, name, cells)
        missing = np.isnan(values)
        number: float | None = None
        if missing.any():
            if fill is None:
                raise _missing_error(table, name, int(np.argmax(missing)))
            seen = values[~missing]
            if fill == "mean":
                number = float(seen.mean())
            elif fill == "median":
                number = float(np.median(seen))
            else:
                uniques, counts = np.unique(seen, return_counts=True)
                number = float(uniques[np.argmax(counts)])  # the smallest of the most frequent
            values = np.where(missing, number, values)
        elif fill is not None:
            number = float(values.mean() if fill == "mean" else np.median(values))
            if fill == "most-frequent":
                uniques, counts = np.unique(values, return_counts=True)
                number = float(uniques[np.argmax(counts)])
        std = float(values.std())
        return _Column(name, "numeric", mean=float(values.mean()), std=std if std > 0 else 1.0, fill=number)
    categories = sorted({c for c in cells if c})
    if len(categories) > max_categories:
        raise ValueError(
            f"{table.source}: column {name!r} has {len(categories):,} distinct values, more than "
            f"max_categories={max_categories:,} for a one-hot encoding; pass ignore=[{name!r}] if it is an identifier"
        )
    label: str | None = None
    if fill is not None:
        tally: dict[str, int] = {}
        for c in cells:
            if c:
                tally[c] = tally.get(c, 0) + 1
        label = min(tally, key=lambda c: (-tally[c], c))  # the most frequent, ties by name
    elif "" in cells:
        raise _missing_error(table, name, cells.index(""))
    return _Column(name, "categorical", categories=tuple(categories), fill=label)


def _class_name(cell: str, integers: bool) -> str:
    """The class a target cell names: integer classes by value ('1.0' is '1'), others by their text."""
    if integers:
        value = _number(cell)
        if value is not None and math.isfinite(value) and value == int(value):
            return str(int(value))
    return cell


def _target_task(table: Table, target: str, task: str | None) -> tuple[str, list[str] | None, bool]:
    """The task, the class names in order (classification) and whether the classes are integers."""
    cells = table.column(target)
    if "" in cells:
        raise ValueError(f"{table.where(cells.index(''))}: the target column {target!r} is empty")
    numeric = all(_number(c) is not None and math.isfinite(_number(c) or 0.0) for c in cells)
    if task is None:
        if not numeric:
            task = "classification"
        else:
            values = _parse(table, target, cells)
            distinct = np.unique(values)
            whole = bool((values == np.round(values)).all())
            task = (
                "classification" if whole and len(distinct) <= 20 and len(distinct) < len(cells) / 2 else "regression"
            )
    if task == "regression":
        if not numeric:
            _parse(table, target, cells)  # raises, naming the first cell that is not a number
        return task, None, False
    integers = numeric and all((v := _number(c)) is not None and v == int(v) for c in cells)
    names = {_class_name(c, integers) for c in cells}
    if len(names) > _MAX_CLASSES:
        raise ValueError(
            f"{table.source}: the target column {target!r} has {len(names):,} classes; try task='regression'"
        )
    if len(names) < 2:
        raise ValueError(
            f"{table.source}: the target column {target!r} holds one class only ({short(next(iter(names)))})"
        )
    ordered = sorted(names, key=lambda s: (int(s), "") if integers else (0, s))
    return task, ordered, integers


class TabularPreprocessing:
    """How a table's columns become the model's inputs and targets; fitted on the training rows.

    Build it with ``fit``; ``transform`` turns any table with the same columns
    (in any order, the target optional) into ``(x, y)``; ``to_json`` gives the
    record a model file keeps, ``from_json`` reads one back (checked: it may
    come from a hostile file).

    Attributes:
        columns: the input columns in the order of ``x``'s blocks.
        target: the target column's name; task: "classification" or "regression".
        classes: the class names (classification): label i is ``classes[i]``.
        target_mean, target_std: y' = (y - target_mean) / target_std (regression).
        ignored: columns read and dropped.
        features: a name for each column of ``x`` ("size", "colour=red", ...).

    Example:
        >>> t = Table.from_records([{"size": s, "colour": c, "kind": k} for s, c, k in
        ...     [(1, "red", "a"), (2, "blue", "b"), (3, "red", "a"), (4, "blue", "b")]])
        >>> prep = TabularPreprocessing.fit(t, target="kind")
        >>> prep.task, prep.classes, prep.features
        ('classification', ['a', 'b'], ['size', 'colour=blue', 'colour=red'])
        >>> x, y = prep.transform(t)
        >>> [round(v, 2) for v in x[0].tolist()], y.tolist()
        ([-1.34, 0.0, 1.0], [0, 1, 0, 1])
    """

    kind = "tabular"

    def __init__(
        self,
        columns: list[_Column],
        target: str,
        task: str,
        classes: list[str] | None = None,
        integer_classes: bool = False,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        ignored: Sequence[str] = (),
    ) -> None:
        self._columns = columns
        self.target = target
        self.task = task
        self.classes = classes
        self.integer_classes = integer_classes
        self.target_mean = target_mean
        self.target_std = target_std
        self.ignored = list(ignored)
        self._class_ids = {name: i for i, name in enumerate(classes or [])}

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self._columns]

    @property
    def features(self) -> list[str]:
        names: list[str] = []
        for c in self._columns:
            names.extend([c.name] if c.kind == "numeric" else [f"{c.name}={v}" for v in c.categories])
        return names

    @property
    def n_features(self) -> int:
        return sum(c.width for c in self._columns)

    @property
    def n_outputs(self) -> int:
        """The width of the model's output: one logit per class, or 1 for regression."""
        return len(self.classes) if self.classes is not None else 1

    @classmethod
    def fit(
        cls,
        table: Table,
        target: str | None = None,
        *,
        task: str | None = None,
        fill: str | None = None,
        categorical: Sequence[str] = (),
        ignore: Sequence[str] = (),
        classes: Sequence[str] | None = None,
        max_categories: int = MAX_CATEGORIES,
    ) -> TabularPreprocessing:
        """Learn the preprocessing from ``table``'s rows (the training part only).

        Args:
            table: a Table (``read_csv``).
            target: the column to predict; None: the last column.
            task: "classification" or "regression"; None decides: classification
                when the target holds strings, or whole numbers with at most 20
                distinct values and fewer distinct values than half the rows.
            fill: what an empty input cell becomes: None (an error naming its
                line and column), "mean", "median" (numeric columns; string
                columns take their most frequent value) or "most-frequent".
            categorical: columns of numbers to one-hot encode as categories.
            ignore: columns to drop (identifiers, free text).
            classes: the class names, in label order (default: the training
                rows' classes, sorted; ``from_csv`` passes the whole file's).
            max_categories: the most distinct values a string column may have.
        """
        if not isinstance(table, Table):
            raise TypeError(f"table must be a Table (see read_csv). Received: {type(table).__name__}")
        if fill is not None and fill not in FILLS:
            raise ValueError(f"fill must be None or one of {FILLS}. Received: fill={short(fill)}")
        if task is not None and task not in ("classification", "regression"):
            raise ValueError(f"task must be None, 'classification' or 'regression'. Received: task={short(task)}")
        target = table.columns[-1] if target is None else target
        for what, names in (("target", [target]), ("categorical", list(categorical)), ("ignore", list(ignore))):
            unknown = [n for n in names if n not in table.columns]
            if unknown:
                raise ValueError(
                    f"{table.source} has no column {short(unknown[0])} (given as {what}); its columns are {short(table.columns)}"
                )
        inputs = [c for c in table.columns if c != target and c not in ignore]
        if not inputs:
            raise ValueError(f"{table.source}: no input columns left besides the target {target!r}")
        task, found, integers = _target_task(table, target, task)
        if task == "classification" and classes is not None:
            found = list(classes)
        columns = [_fit_column(table, name, name in categorical, fill, max_categories) for name in inputs]
        prep = cls(columns, target, task, classes=found, integer_classes=integers, ignored=list(ignore))
        if task == "regression":
            y = _parse(table, target, table.column(target))
            std = float(y.std())
            prep.target_mean, prep.target_std = float(y.mean()), std if std > 0 else 1.0
        return prep

    def transform(
        self, table: Table, *, unknown: str = "error", dtype: Any = np.float32
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The inputs ``x`` (N, n_features) and, when the table has the target column, the targets ``y``.

        ``y`` is int64 labels (N,) for classification, standardised values (N, 1)
        for regression; None without a target column. Columns are matched by
        name; a missing or an unexpected column is an error naming it.
        ``unknown``: "error" or "zeros" for a category training never saw.
        """
        if not isinstance(table, Table):
            raise TypeError(f"table must be a Table (see read_csv). Received: {type(table).__name__}")
        if unknown not in ("error", "zeros"):
            raise ValueError(f"unknown must be 'error' or 'zeros'. Received: unknown={short(unknown)}")
        dtype = check_dtype(dtype)
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise ValueError(f"{table.source} lacks the column(s) {short(missing)} the model was trained on")
        extra = [c for c in table.columns if c not in self.columns and c != self.target and c not in self.ignored]
        if extra:
            raise ValueError(
                f"{table.source} has column(s) {short(extra)} the model was not trained on (its columns: {short(self.columns)})"
            )
        x = np.zeros((len(table), self.n_features), dtype=dtype)
        start = 0
        for col in self._columns:
            cells = table.column(col.name)
            if col.kind == "numeric":
                values = _parse(table, col.name, cells)
                empty = np.isnan(values)
                if empty.any():
                    if col.fill is None:
                        raise _missing_error(table, col.name, int(np.argmax(empty)))
                    values[empty] = col.fill
                x[:, start] = (values - col.mean) / col.std
            else:
                ids = {c: i for i, c in enumerate(col.categories)}
                for row, cell in enumerate(cells):
                    cell = cell or (col.fill if isinstance(col.fill, str) else "")
                    if not cell:
                        raise _missing_error(table, col.name, row)
                    i = ids.get(cell)
                    if i is not None:
                        x[row, start + i] = 1.0
                    elif unknown == "error":
                        raise ValueError(
                            f"{table.where(row)}: column {col.name!r} holds {short(cell, 60)}, a value training never saw "
                            f"(known: {short(list(col.categories))}); pass unknown='zeros' to encode it as all zeros"
                        )
            start += col.width
        if self.target not in table.columns:
            return x, None
        return x, self._targets(table, dtype)

    def _targets(self, table: Table, dtype: np.dtype) -> np.ndarray:
        cells = table.column(self.target)
        if "" in cells:
            raise ValueError(f"{table.where(cells.index(''))}: the target column {self.target!r} is empty")
        if self.task == "regression":
            y = _parse(table, self.target, cells)
            return ((y - self.target_mean) / self.target_std).astype(dtype).reshape(-1, 1)
        labels = np.empty(len(cells), dtype=np.int64)
        for row, cell in enumerate(cells):
            label = self._class_ids.get(_class_name(cell, self.integer_classes))
            if label is None:
                raise ValueError(
                    f"{table.where(row)}: the target {short(cell, 60)} is not one of the classes {short(self.classes)}"
                )
            labels[row] = label
        return labels

    def inverse_target(self, y: Any) -> np.ndarray:
        """Regression outputs back in the target's units: ``y * target_std + target_mean`` (float64)."""
        if self.task != "regression":
            raise RuntimeError("inverse_target is for regression; a classifier's labels index .classes")
        return np.asarray(y, dtype=np.float64) * self.target_std + self.target_mean

    def to_json(self) -> dict[str, Any]:
        """The JSON-safe record a model file keeps (see ``from_json``)."""
        return {
            "kind": self.kind,
            "version": 1,
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "integer_classes": self.integer_classes,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "ignored": list(self.ignored),
            "columns": [c.to_json() for c in self._columns],
        }

    @classmethod
    def from_json(cls, record: Any) -> TabularPreprocessing:
        """The preprocessing a record describes; RecordError (a ValueError) naming the first bad field."""
        check_kind(record, cls.kind)
        where = "the preprocessing record"
        target = text_field(field_of(record, "target", where), f"{where}.target")
        task = field_of(record, "task", where)
        if task not in ("classification", "regression"):
            raise RecordError(f"{where}.task must be 'classification' or 'regression'. Received: {short(task)}")
        raw_classes = field_of(record, "classes", where)
        classes = None
        if task == "classification":
            classes = names_field(raw_classes, f"{where}.classes", limit=_MAX_CLASSES, low=2)
        integer_classes = field_of(record, "integer_classes", where)
        if not isinstance(integer_classes, bool):
            raise RecordError(f"{where}.integer_classes must be true or false. Received: {short(integer_classes)}")
        mean = number_field(field_of(record, "target_mean", where), f"{where}.target_mean")
        std = number_field(field_of(record, "target_std", where), f"{where}.target_std", positive=True)
        ignored = names_field(field_of(record, "ignored", where), f"{where}.ignored", limit=MAX_COLUMNS)
        raw_columns = field_of(record, "columns", where)
        if not isinstance(raw_columns, list) or not 1 <= len(raw_columns) <= MAX_COLUMNS:
            raise RecordError(f"{where}.columns must be a list of 1 to {MAX_COLUMNS:,} columns")
        int_field(len(raw_columns), f"the number of {where}.columns", 1, MAX_COLUMNS)
        columns = [_Column.from_json(c, f"{where}.columns[{i}]") for i, c in enumerate(raw_columns)]
        names = [c.name for c in columns]
        if len(set(names)) != len(names) or target in names or set(ignored) & {*names, target}:
            raise RecordError(f"{where}: the column names, the target and the ignored columns must all differ")
        if sum(c.width for c in columns) > _MAX_FEATURES:
            raise RecordError(f"{where} describes more than {_MAX_FEATURES:,} input features")
        return cls(columns, target, task, classes, integer_classes, mean, std, ignored)

    def __repr__(self) -> str:
        return (
            f"TabularPreprocessing(task={self.task!r}, target={self.target!r}, columns={len(self._columns)}, "
            f"features={self.n_features})"
        )


def from_csv(
    path: str | os.PathLike[str],
    target: str | None = None,
    *,
    task: str | None = None,
    fill: str | None = None,
    categorical: Sequence[str] = (),
    ignore: Sequence[str] = (),
    val_size: float = 0.1,
    test_size: float = 0.2,
    seed: int | np.random.Generator | None = 0,
    encoding: str = "utf-8",
    delimiter: str = ",",
    max_categories: int = MAX_CATEGORIES,
    dtype: Any = np.float32,
) -> Splits:
    """A CSV file as training, validation and test arrays, with the preprocessing fitted on the training rows.

    The rows are shuffled with ``seed`` and cut: ``test_size`` and ``val_size``
    of them (rounded up) for testing and validation, the rest for training.
    Only the training rows' statistics are used (means, standard deviations,
    categories, fill values), so the validation and test scores are honest; a
    category that appears only outside training becomes all zeros there. The
    task and the classes are decided from the whole target column.

    Args:
        path, encoding, delimiter: the file (see ``read_csv``).
        target, task, fill, categorical, ignore, max_categories: see ``TabularPreprocessing.fit``.
        val_size, test_size: fractions in [0, 1).
        seed: the shuffle's seed.
        dtype: of x (and of y for regression): float32 or float64.

    Returns:
        ``Splits``: ``x_train`` (N, F) standardised and one-hot, ``y_train``
        int64 labels (N,) or standardised values (N, 1), the same for ``val``
        and ``test``, and ``preprocessing`` (a ``TabularPreprocessing``).

    Example:
        >>> import os, tempfile
        >>> rows = "".join(f"{i % 7},{'ab'[i % 2]},{'yes' if i % 7 > 2 else 'no'}\\n" for i in range(40))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "t.csv")
        ...     with open(path, "w") as f:
        ...         _ = f.write("days,group,late\\n" + rows)
        ...     data = from_csv(path, seed=0)
        >>> data.x_train.shape, data.x_val.shape, data.x_test.shape, data.preprocessing.classes
        ((28, 3), (4, 3), (8, 3), ['no', 'yes'])
    """
    table = read_csv(path, encoding=encoding, delimiter=delimiter)
    name = table.columns[-1] if target is None else target
    if name not in table.columns:
        raise ValueError(
            f"{table.source} has no column {short(name)} (given as target); its columns are {short(table.columns)}"
        )
    task, classes, _ = _target_task(table, name, task)
    train, val, test = split_indices(len(table), val_size, test_size, seed)
    prep = TabularPreprocessing.fit(
        table.take(train),
        name,
        task=task,
        fill=fill,
        categorical=categorical,
        ignore=ignore,
        classes=classes,
        max_categories=max_categories,
    )
    parts: list[np.ndarray] = []
    for rows, unknown in ((train, "error"), (val, "zeros"), (test, "zeros")):
        x, y = prep.transform(table.take(rows), unknown=unknown, dtype=dtype)
        parts += [x, y if y is not None else np.empty(0)]  # y is there: the table has the target column
    x_train, y_train, x_val, y_val, x_test, y_test = parts
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, preprocessing=prep)
