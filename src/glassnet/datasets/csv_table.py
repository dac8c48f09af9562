"""CSV files as tables of strings, read with bounded cost.

``read_csv`` gives a ``Table``: the header's names and one list of cells per
column (strings, stripped of surrounding spaces). Reading costs memory in
proportion to the file: every line and every field is bounded (``max_field``
characters, ``max_columns`` columns, lines of at most 4 MiB), bytes are decoded
line by line so a wrong encoding is reported with its byte offset, and a NUL
byte (a binary file) stops reading at once. ``glassnet.datasets.tabular`` turns
a Table into arrays.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from glassnet._checks import clip, short
from glassnet._files import display_name, open_regular

__all__ = ["Table", "read_csv", "MAX_COLUMNS", "MAX_FIELD"]

MAX_COLUMNS = 10_000
MAX_FIELD = 131_072  # characters in one cell: csv's own default limit
_MAX_LINE = 1 << 22  # bytes in one physical line


class Table:
    """A CSV file's header and cells, as strings, column by column.

    Args:
        columns: the header's names, distinct.
        cells: one list of strings per column, all of the same length (the rows).
        lines: the file line each row ends on (a quoted field may span lines), for messages (default 2, 3, ...).
        source: what to call the table in messages (the file name).

    Example:
        >>> t = Table.from_records([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
        >>> t.columns, len(t), t.column("b")
        (['a', 'b'], 2, ['x', 'y'])
    """

    def __init__(
        self,
        columns: list[str],
        cells: list[list[str]],
        lines: Sequence[int] | np.ndarray | None = None,
        source: str = "the table",
    ) -> None:
        if len(set(columns)) != len(columns):
            twice = sorted({c for c in columns if columns.count(c) > 1})
            raise ValueError(f"{source}: the header repeats the column(s) {short(twice)}")
        if len(cells) != len(columns) or len({len(c) for c in cells}) > 1:
            raise ValueError(f"{source}: expected one list of cells of the same length per column")
        self.columns = list(columns)
        self.cells = cells
        n = len(cells[0]) if cells else 0
        self.lines = np.arange(2, n + 2) if lines is None else np.asarray(lines, dtype=np.int64)
        self.source = source

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]], source: str = "the rows") -> Table:
        """A table of dicts that share their keys (values are turned into strings; None is an empty cell)."""
        if not records or not all(isinstance(r, Mapping) for r in records):
            raise ValueError(f"records must be a non-empty list of dicts. Received: {short(records)}")
        columns = [str(k) for k in records[0]]
        for i, record in enumerate(records):
            if [str(k) for k in record] != columns:
                raise ValueError(f"record {i} has the keys {short(list(record))}, record 0 has {short(columns)}")
        cells = [["" if r[k] is None else str(r[k]).strip() for r in records] for k in records[0]]
        return cls(columns, cells, lines=range(1, len(records) + 1), source=source)

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> list[str]:
        return self.cells[self.columns.index(name)]

    def take(self, rows: Sequence[int] | np.ndarray) -> Table:
        """The table of the given rows, in that order."""
        idx = np.asarray(rows, dtype=np.int64)
        cells = [[col[i] for i in idx.tolist()] for col in self.cells]
        return Table(self.columns, cells, self.lines[idx], self.source)

    def where(self, row: int) -> str:
        return f"{self.source}, line {int(self.lines[row])}"

    def __repr__(self) -> str:
        return f"Table({len(self)} rows, columns={short(self.columns)})"


# -- reading ------------------------------------------------------------------
def _decoded_lines(f: Any, encoding: str, where: str, delimiter: str, max_columns: int) -> Iterator[str]:
    """The file's lines decoded one at a time, each bounded, with the byte offset of any bad byte."""
    offset = 0
    number = 0
    head = f.peek(8192)[:8192]  # a NUL byte near the start: a binary file, whatever its first line decodes as
    nul = head.find(b"\x00")
    if nul >= 0:
        raise ValueError(f"{where} looks like a binary file, not CSV text (a NUL byte at byte offset {nul:,})")
    while True:
        raw = f.readline(_MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if number == 1 and raw.count(delimiter.encode(encoding)) >= max_columns:  # before csv splits it
            raise ValueError(f"{where}: the header has more than max_columns={max_columns:,} columns")
        if len(raw) > _MAX_LINE:
            raise ValueError(f"{where}: line {number} is longer than {_MAX_LINE:,} bytes; is this a CSV file?")
        nul = raw.find(b"\x00")
        if nul >= 0:
            raise ValueError(
                f"{where} looks like a binary file, not CSV text (a NUL byte at byte offset {offset + nul:,})"
            )
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{where}: the bytes at offset {offset + err.start:,} (line {number}) are not valid {encoding}; "
                "pass the file's encoding: encoding='latin-1' in Python, --encoding latin-1 to glassnet train"
            ) from None
        if number == 1 and text.startswith("\ufeff"):  # a byte-order mark some editors write
            text = text[1:]
        offset += len(raw)
        yield text


@contextlib.contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    old = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_csv(
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    max_columns: int = MAX_COLUMNS,
    max_field: int = MAX_FIELD,
) -> Table:
    """Read a CSV file with a header line into a Table of strings (cells stripped of surrounding spaces).

    Args:
        path: the file.
        encoding: its text encoding (any that keeps ``\\n`` as one byte: utf-8, latin-1, cp1252, ...).
        delimiter: the one-character separator (``;`` in many European exports, ``\\t`` for TSV).
        max_columns, max_field: the most columns, and characters in one cell, accepted.

    Raises:
        ValueError: one line naming the file: empty, a header only, repeated
            or empty column names, a row with a different number of fields (its
            line named), bytes that are not ``encoding`` (the offset named), a
            binary file, a field or line past the limits, too many columns.

    Example:
        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "t.csv")
        ...     with open(path, "w") as f:
        ...         _ = f.write("size,colour\\n1.5,red\\n2,blue\\n")
        ...     table = read_csv(path)
        >>> table.columns, table.column("size")
        (['size', 'colour'], ['1.5', '2'])
    """
    where = display_name(path)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        raise ValueError(f"delimiter must be one character other than a quote or newline. Received: {short(delimiter)}")
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str. Received: encoding={short(encoding)}")
    try:
        "".encode(encoding)
    except LookupError:
        raise ValueError(f"encoding is not a known text encoding. Received: encoding={short(encoding)}") from None
    with open_regular(path) as f, _field_limit(max_field):
        reader = csv.reader(_decoded_lines(f, encoding, where, delimiter, max_columns), delimiter=delimiter)
        header: list[str] | None = None
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            for row in reader:
                if not row:
                    continue  # a blank line
                if header is None:
                    if len(row) > max_columns:
                        raise ValueError(
                            f"{where}: the header has {len(row):,} columns, more than max_columns={max_columns:,}"
                        )
                    header = [name.strip() for name in row]
                    for i, name in enumerate(header):
                        if not name:
                            raise ValueError(f"{where}: column {i + 1} of the header has no name")
                    continue
                if len(row) != len(header):
                    raise ValueError(
                        f"{where}: line {reader.line_num} has {len(row)} fields, but the header has {len(header)} columns"
                    )
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
        except csv.Error as err:
            message = str(err)
            if "field larger than field limit" in message:
                message = f"a field longer than max_field={max_field:,} characters"
            raise ValueError(f"{where}: line {reader.line_num}: {clip(message)}") from None
    if header is None:
        raise ValueError(f"{where} is empty: expected a header line and rows of values")
    if not rows:
        raise ValueError(f"{where} has a header but no rows of values")
    cells = [list(col) for col in zip(*rows)]
    return Table(header, cells, lines, source=where)
