"""Warnings about a data set that trains but may mislead: tiny, imbalanced, constant columns, test rows seen in training.

``data_warnings(splits)`` returns one line per problem (an empty list when
there is none); the caller decides how to show them (the command line prints
them before training). Nothing here stops a run: each of these can be what
the user intends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.datasets._prep import Splits

__all__ = ["data_warnings", "TINY", "IMBALANCE"]

TINY = 50  # training rows below which scores vary a lot from one seed to the next
IMBALANCE = 10.0  # ratio of the largest class to the smallest worth a warning


def _class_names(prep: Any, k: int) -> list[str]:
    classes = getattr(prep, "classes", None)
    return list(classes) if classes else [str(i) for i in range(k)]


def data_warnings(splits: Splits) -> list[str]:
    """One-line warnings about ``splits`` (from ``from_csv`` or ``from_image_folder``).

    - fewer than ``TINY`` training rows;
    - a class with no training rows, or classes ``IMBALANCE`` times apart in size;
    - input columns that are constant over the training rows (tabular: named by feature);
    - validation or test rows whose inputs are identical to a training row's.

    Example:
        >>> import numpy as np
        >>> from glassnet.datasets import Splits, ImagePreprocessing
        >>> x = np.zeros((4, 1, 2, 2), dtype=np.float32); x[:, 0, 0, 0] = [0, 1, 2, 3]
        >>> s = Splits(x, np.array([0, 0, 0, 1]), x[:0], np.array([], dtype=np.int64), x[:1], np.array([0]),
        ...            preprocessing=ImagePreprocessing(2, 1, ["a", "b"]))
        >>> for line in data_warnings(s): print(line)
        only 4 training rows: scores will vary a lot from one seed to the next
        1 of the 1 test rows are identical to training rows: the test score overstates
    """
    if not isinstance(splits, Splits):
        raise TypeError(f"splits must be a Splits (from from_csv or from_image_folder). Received: {short(splits)}")
    out: list[str] = []
    x, y, prep = splits.x_train, splits.y_train, splits.preprocessing
    if len(x) < TINY:
        out.append(f"only {len(x)} training rows: scores will vary a lot from one seed to the next")
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and len(y):
        k = int(getattr(prep, "n_outputs", 0) or y.max() + 1)
        counts = np.bincount(y, minlength=k)
        names = _class_names(prep, k)
        empty = [names[i] for i in np.flatnonzero(counts == 0).tolist()]
        if empty:
            out.append(f"no training rows of the class(es) {short(empty)}: the model cannot learn them")
        present = np.flatnonzero(counts)
        big, small = present[np.argmax(counts[present])], present[np.argmin(counts[present])]
        if counts[big] >= IMBALANCE * counts[small]:
            out.append(
                f"imbalanced classes: {names[big]!r} has {counts[big]} training rows, {names[small]!r} only "
                f"{counts[small]}; accuracy may hide a class that is never predicted"
            )
    if x.ndim == 2 and len(x) > 1 and hasattr(prep, "features"):
        constant = np.flatnonzero((x == x[:1]).all(axis=0))
        if len(constant):
            features = prep.features
            out.append(
                f"{len(constant)} input column(s) constant over the training rows: {short([features[i] for i in constant])}"
            )
    width = int(np.prod(x.shape[1:]))  # reshape(n, -1) fails for an empty part
    seen = {row.tobytes() for row in x.reshape(len(x), width)}
    for part, other in (("validation", splits.x_val), ("test", splits.x_test)):
        repeated = sum(row.tobytes() in seen for row in other.reshape(len(other), width))
        if repeated:
            out.append(
                f"{repeated} of the {len(other)} {part} rows are identical to training rows: the {part} score overstates"
            )
    return out
