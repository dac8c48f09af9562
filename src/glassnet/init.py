"""Weight initialisers.

Every initialiser has the signature ``init(shape, fan_in, fan_out, rng, dtype)``
and draws from the ``np.random.Generator`` it is given, so the same seed builds
the same model. Layers take ``init=`` as one of the names below or as such a
callable. ``fan_in``/``fan_out`` are inputs/outputs per unit: ``in_features``
and ``out_features`` for Linear, ``in_channels*kH*kW`` and ``out_channels*kH*kW``
for Conv2d.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet._checks import short

__all__ = [
    "uniform",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "zeros",
    "get",
    "Initializer",
]

Initializer = Callable[[tuple[int, ...], int, int, np.random.Generator, Any], np.ndarray]


def uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any = np.float32
) -> np.ndarray:
    """The tutorial's weights: uniform on [0, 1), like ``np.random.rand``."""
    return rng.random(shape).astype(dtype, copy=False)


def xavier_uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any = np.float32
) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape).astype(dtype, copy=False)


def xavier_normal(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any = np.float32
) -> np.ndarray:
    """Glorot & Bengio (2010): N(0, std²) with std = sqrt(2 / (fan_in + fan_out))."""
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, shape).astype(dtype, copy=False)


def he_uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any = np.float32
) -> np.ndarray:
    """He et al. (2015), for ReLU layers: U(-a, a) with a = sqrt(6 / fan_in)."""
    a = math.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, shape).astype(dtype, copy=False)


def he_normal(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any = np.float32
) -> np.ndarray:
    """He et al. (2015), for ReLU layers: N(0, std²) with std = sqrt(2 / fan_in)."""
    std = math.sqrt(2.0 / fan_in)
    return rng.normal(0.0, std, shape).astype(dtype, copy=False)


def zeros(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any = np.float32
) -> np.ndarray:
    """All zeros (biases; never for the weights of hidden layers, which would stay equal)."""
    return np.zeros(shape, dtype=dtype)


BY_NAME: dict[str, Initializer] = {
    "uniform": uniform,
    "xavier_uniform": xavier_uniform,
    "glorot_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_normal": xavier_normal,
    "he_uniform": he_uniform,
    "kaiming_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_normal": he_normal,
    "zeros": zeros,
}


def get(init: str | Initializer) -> Initializer:
    """An initialiser from its name (see module docstring) or a callable."""
    if callable(init):
        return init
    if isinstance(init, str) and init in BY_NAME:
        return BY_NAME[init]
    raise ValueError(f"init must be one of {sorted(BY_NAME)} or a callable. Received: init={short(init)}")
