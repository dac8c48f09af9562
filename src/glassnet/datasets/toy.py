"""Small synthetic data sets: the tutorial's four rows, XOR, spirals and moons.

They are generated on the spot, need no files, and fit on a slide, which is
what makes them good for checking that a network can learn at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet._checks import as_rng, check_dtype, positive_int, real, short

__all__ = ["tutorial", "xor", "spirals", "moons"]


def _non_negative(value: Any, name: str) -> float:
    value = real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be non-negative. Received: {name}={short(value)}")
    return value


def tutorial() -> tuple[np.ndarray, np.ndarray]:
    """The four rows of the classic "neural network from scratch" tutorial.

    The third column is a constant 1 (the tutorial's network has no biases, so
    this column plays that part); the target is the XOR of the first two.

    Returns:
        X: float64 array of shape (4, 3), values 0 or 1:
            [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]].
        y: float64 array of shape (4, 1), values 0 or 1: [[0], [1], [1], [0]].

    float64 because the tutorial computes in NumPy's default precision; fresh
    arrays are returned on every call.

    Example:
        >>> from glassnet.datasets import tutorial
        >>> X, y = tutorial()
        >>> X.shape, y.shape, X.dtype
        ((4, 3), (4, 1), dtype('float64'))
        >>> y.ravel().tolist()
        [0.0, 1.0, 1.0, 0.0]
    """
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return X, y


def xor(dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem as a two-class classification set.

    Args:
        dtype: float32 (default) or float64, for x.

    Returns:
        x: array of shape (4, 2), values 0 or 1: [[0, 0], [0, 1], [1, 0], [1, 1]].
        y: int64 labels of shape (4,): [0, 1, 1, 0].

    Example:
        >>> from glassnet.datasets import xor
        >>> x, y = xor()
        >>> x.shape, x.dtype, y.tolist()
        ((4, 2), dtype('float32'), [0, 1, 1, 0])
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=check_dtype(dtype))
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return x, y


def spirals(
    n: int = 100,
    classes: int = 3,
    noise: float = 0.2,
    rng: np.random.Generator | int | None = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spirals, one arm per class (the cs231n "spiral data").

    Class ``j`` has ``n`` points at radius ``r`` running evenly from 0 to 1 and
    angle ``t = 4 j + 4 r`` radians plus Gaussian noise; the point is
    ``(r sin t, r cos t)``. The noise is on the angle, so it blurs the arms
    sideways. Not linearly separable: a good first test for a hidden layer.

    Args:
        n: points **per class** (as in cs231n), a positive int.
        classes: number of arms (classes), a positive int.
        noise: standard deviation of the angle noise in radians, >= 0.
        rng: ``np.random.Generator`` or int seed for the noise.
        dtype: float32 (default) or float64, for x.

    Returns:
        x: array of shape (n * classes, 2), values in [-1, 1] (up to noise,
            which moves points along the circle, so |x| stays <= 1).
        y: int64 labels of shape (n * classes,), values 0 .. classes - 1.
        The samples are grouped by class (class 0 first); shuffle before
        taking minibatches (``train_test_split`` shuffles).

    Example:
        >>> from glassnet.datasets import spirals
        >>> x, y = spirals(n=50, rng=0)
        >>> x.shape, x.dtype, y.shape, y.dtype
        ((150, 2), dtype('float32'), (150,), dtype('int64'))
        >>> np.bincount(y).tolist()
        [50, 50, 50]
    """
    n = positive_int(n, "n")
    classes = positive_int(classes, "classes")
    noise = _non_negative(noise, "noise")
    dtype = check_dtype(dtype)
    gen = as_rng(rng)
    label = np.repeat(np.arange(classes, dtype=np.int64), n)
    r = np.tile(np.linspace(0.0, 1.0, n), classes)
    t = 4.0 * label + 4.0 * r + gen.standard_normal(n * classes) * noise
    x = np.column_stack([r * np.sin(t), r * np.cos(t)]).astype(dtype)
    return x, label


def moons(
    n: int = 100,
    noise: float = 0.1,
    rng: np.random.Generator | int | None = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, like scikit-learn's ``make_moons``.

    Class 0 is the upper half of the unit circle, ``(cos a, sin a)``; class 1
    is the lower half circle shifted right and down, ``(1 - cos a, 0.5 - sin a)``,
    with ``a`` evenly spaced on [0, pi]. Gaussian noise of standard deviation
    ``noise`` is added to both coordinates.

    Args:
        n: total number of points (as in scikit-learn), at least 2;
            class 0 gets ``n // 2`` and class 1 the rest.
        noise: standard deviation of the Gaussian noise on x, >= 0.
        rng: ``np.random.Generator`` or int seed for the noise.
        dtype: float32 (default) or float64, for x.

    Returns:
        x: array of shape (n, 2); without noise the points lie in
            [-1, 2] x [-0.5, 1].
        y: int64 labels of shape (n,), values 0 or 1. The samples are grouped
            by class (class 0 first), unlike scikit-learn, which shuffles.

    Example:
        >>> from glassnet.datasets import moons
        >>> x, y = moons(n=101, rng=0)
        >>> x.shape, x.dtype, np.bincount(y).tolist()
        ((101, 2), dtype('float32'), [50, 51])
    """
    n = positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be at least 2 (one point per moon). Received: n={short(n)}")
    noise = _non_negative(noise, "noise")
    dtype = check_dtype(dtype)
    gen = as_rng(rng)
    n_upper = n // 2
    n_lower = n - n_upper
    a_upper = np.linspace(0.0, math.pi, n_upper)
    a_lower = np.linspace(0.0, math.pi, n_lower)
    x = np.concatenate(
        [
            np.column_stack([np.cos(a_upper), np.sin(a_upper)]),
            np.column_stack([1.0 - np.cos(a_lower), 0.5 - np.sin(a_lower)]),
        ]
    )
    if noise > 0:
        x += gen.normal(scale=noise, size=x.shape)
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    return x.astype(dtype), y
