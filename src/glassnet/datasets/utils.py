"""Preparing data for training: split, one-hot encode, standardize."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from glassnet._checks import as_data, as_rng, check_dtype, short

__all__ = ["train_test_split", "one_hot", "standardize"]


def _as_samples(value: Any, name: str) -> np.ndarray:
    """Any array-like with at least one dimension (samples along axis 0)."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a sample axis (at least one dimension). Received: {name}={short(value)}")
    return arr


def _test_count(test_size: Any, n: int) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(
            f"test_size must be a fraction in (0, 1) or a sample count. Received: test_size={short(test_size)}"
        )
    if isinstance(test_size, numbers.Integral):
        count = int(test_size)
        if not 1 <= count <= n - 1:
            raise ValueError(
                f"test_size as a count must leave both parts non-empty, 1 <= test_size <= {n - 1} for {n} samples. "
                f"Received: test_size={short(count)}"
            )
        return count
    fraction = float(test_size)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_size as a fraction must be in (0, 1). Received: test_size={short(test_size)}")
    # Rounded up, as scikit-learn does, except that a product within rounding
    # error of a whole number is that number: 0.07 * 100 is 7.000000000000001,
    # and 7 test samples are meant, not 8.
    exact = fraction * n
    nearest = round(exact)
    count = nearest if math.isclose(exact, nearest, rel_tol=1e-9) else math.ceil(exact)
    if not 1 <= count <= n - 1:
        raise ValueError(
            f"test_size={test_size!r} of {n} samples gives {count} test samples; both parts must be non-empty"
        )
    return count


def _statistic(value: Any, name: str) -> np.ndarray:
    """A user-given mean or std: a finite real scalar or array, as float64."""
    arr = np.asarray(value)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be a real number or array. Received: {name} with dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite. Received: {name} with NaN or infinite values")
    return arr


def train_test_split(
    x: Any, y: Any, test_size: float | int = 0.2, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the samples and split them into a training part and a test part.

    Args:
        x: array of samples along axis 0, any shape (N, ...).
        y: array of targets along axis 0, (N, ...), the same N.
        test_size: a fraction in (0, 1) of the samples (rounded up), or an int
            count from 1 to N - 1.
        rng: ``np.random.Generator`` or int seed for the shuffle.

    Returns:
        x_train, x_test, y_train, y_test (scikit-learn's order): fresh arrays
        with the dtypes of x and y, N - n_test and n_test samples.

    Example:
        >>> from glassnet.datasets import train_test_split
        >>> x, y = np.arange(20).reshape(10, 2), np.arange(10)
        >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, rng=0)
        >>> x_train.shape, x_test.shape, y_train.shape, y_test.shape
        ((7, 2), (3, 2), (7,), (3,))
        >>> bool((x_test[:, 0] // 2 == y_test).all())
        True
    """
    x = _as_samples(x, "x")
    y = _as_samples(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same number of samples. Received: x with {len(x)}, y with {len(y)}")
    n = len(x)
    if n < 2:
        raise ValueError(f"x must hold at least 2 samples to split. Received: x with shape {x.shape}")
    n_test = _test_count(test_size, n)
    order = as_rng(rng).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return x[train], x[test], y[train], y[test]


def one_hot(y: Any, classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """Integer class labels as one-hot rows.

    Args:
        y: integer labels of shape (N,), values 0 .. classes - 1.
        classes: number of classes; default ``y.max() + 1``.
        dtype: float32 (default) or float64.

    Returns:
        Array of shape (N, classes) with a 1 in column ``y[i]`` of row i and
        0 elsewhere.

    Example:
        >>> from glassnet.datasets import one_hot
        >>> one_hot([0, 2, 1])
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"y must hold integer class labels. Received: y with dtype {labels.dtype} (use y.astype(np.int64) if they are whole numbers)"
        )
    if labels.ndim != 1:
        raise ValueError(f"y must have shape (N,). Received: y with shape {labels.shape}")
    dtype = check_dtype(dtype)
    if labels.size and labels.min() < 0:
        raise ValueError(f"y must hold labels >= 0. Received: y with minimum {int(labels.min())}")
    if classes is None:
        if labels.size == 0:
            raise ValueError("classes must be given when y is empty. Received: classes=None")
        classes = int(labels.max()) + 1
    elif isinstance(classes, bool) or not isinstance(classes, numbers.Integral):
        raise TypeError(f"classes must be a positive integer or None. Received: classes={short(classes)}")
    elif classes < 1:
        raise ValueError(f"classes must be a positive integer or None. Received: classes={short(classes)}")
    elif labels.size and labels.max() >= classes:
        raise ValueError(
            f"y holds label {int(labels.max())}, but classes={classes!r} allows only 0..{int(classes) - 1}"
        )
    out = np.zeros((labels.size, int(classes)), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


def standardize(
    x: Any,
    mean: Any = None,
    std: Any = None,
    *,
    axis: int | tuple[int, ...] = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shift and scale ``x`` to zero mean and unit standard deviation.

    ``z = (x - mean) / std``. Fit on the training data, then reuse its
    statistics on the test data, so both see the same transformation::

        x_train, mean, std = standardize(x_train)
        x_test, _, _ = standardize(x_test, mean, std)

    Args:
        x: numeric array (N, ...), finite.
        mean, std: the statistics to apply (scalars or arrays that broadcast
            against x), both or neither. When neither is given they are computed from ``x`` over ``axis``. A feature
            whose standard deviation is 0 (a pixel that is always blank) gets
            std 1, so it is centred but not divided by zero.
        axis: the axes the statistics run over: 0 (default) gives one mean per
            feature; for NCHW images, ``axis=(0, 2, 3)`` gives one per
            channel.

    Returns:
        z, mean, std. z has x's shape; float inputs keep their dtype, integer
        inputs (such as uint8 pixels) become float32. mean and std have z's
        dtype; computed ones have x's shape with the ``axis`` dimensions set
        to 1 (keepdims), so they broadcast against new data; given ones come
        back as given, in z's dtype.

    Example:
        >>> from glassnet.datasets import standardize
        >>> x_train = np.array([[1.0, 10.0], [3.0, 10.0]])
        >>> z, mean, std = standardize(x_train)
        >>> z.tolist(), mean.tolist(), std.tolist()
        ([[-1.0, 0.0], [1.0, 0.0]], [[2.0, 10.0]], [[1.0, 1.0]])
        >>> standardize(np.array([[5.0, 12.0]]), mean, std)[0].tolist()
        [[3.0, 2.0]]
    """
    data = as_data(x, "x")
    dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.dtype(np.float32)
    if (mean is None) != (std is None):
        raise ValueError(
            "pass both mean and std (the training data's statistics) or neither. "
            f"Received: mean={'None' if mean is None else 'an array'}, std={'None' if std is None else 'an array'}"
        )
    if mean is None:
        try:
            # Statistics accumulate in float64; the subtraction below runs in the result's dtype.
            mu = data.mean(axis=axis, keepdims=True, dtype=np.float64)
            sigma = data.std(axis=axis, keepdims=True, dtype=np.float64)
        except (ValueError, IndexError, TypeError) as err:  # numpy's AxisError is a ValueError and IndexError
            raise ValueError(
                f"axis does not fit x of shape {data.shape}. Received: axis={short(axis)} ({err})"
            ) from None
        sigma[sigma == 0] = 1.0
    else:
        mu = _statistic(mean, "mean")
        sigma = _statistic(std, "std")
        if (sigma <= 0).any():
            raise ValueError("std must be positive everywhere. Received: std with a value <= 0")
    try:
        shape = np.broadcast_shapes(data.shape, mu.shape, sigma.shape)
    except ValueError:
        shape = None
    if shape != data.shape:
        raise ValueError(
            f"mean and std must broadcast against x without changing its shape. "
            f"Received: x {data.shape}, mean {mu.shape}, std {sigma.shape}"
        )
    mu, sigma = mu.astype(dtype), sigma.astype(dtype)
    z = (data - mu) / sigma
    return z.astype(dtype, copy=False), mu, sigma
