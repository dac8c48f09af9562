"""Helpers shared by the layer files."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet import init as initializers


def init_name(init: Any, default: str) -> str:
    """The JSON-safe name of an initialiser.

    A user's own callable can't be written to JSON; ``default`` stands in for
    it, which is harmless because a loaded model's weights come from the file.
    """
    if isinstance(init, str):
        return init
    name = getattr(init, "__name__", None)
    return name if name in initializers._BY_NAME else default


def missing_cache(layer: Any) -> RuntimeError:
    return RuntimeError(
        f"{type(layer).__name__}.backward called before forward: call forward in training mode "
        "(model.train()) before backward"
    )


def expect_ndim(layer: Any, x: np.ndarray, ndim: int, layout: str) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{type(layer).__name__}.forward expected a numpy array. Received: {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{type(layer).__name__}.forward expected input of shape {layout}, got {x.shape}")
