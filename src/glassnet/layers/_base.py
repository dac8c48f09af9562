"""Helpers shared by the layer files."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from glassnet import init as initializers
from glassnet._checks import as_rng


def init_name(init: Any, default: str) -> str:
    """The JSON-safe name of an initialiser.

    A user's own callable can't be written to JSON; ``default`` stands in for
    it, which is harmless because a loaded model's weights come from the file.
    """
    if isinstance(init, str):
        return init
    name = getattr(init, "__name__", None)
    return name if name in initializers.BY_NAME else default


def missing_cache(layer: Any) -> RuntimeError:
    return RuntimeError(
        f"{type(layer).__name__}.backward called before forward: call forward in training mode "
        "(model.train()) before backward"
    )


def input_gradient(dx: np.ndarray | None, layer: Any) -> np.ndarray:
    """``dx`` from a sub-layer whose input gradient its owner needs: a RuntimeError, not a crash, if it gave none.

    ``backward`` returns None only after ``set_input_grad(False)`` or for integer ids; a layer inside another
    (attention's ``out_proj``, a GPT's blocks, a Residual's branch) always has to pass its dx on.
    """
    if dx is None:
        raise RuntimeError(
            f"{type(layer).__name__}.backward returned no input gradient where one is needed (see set_input_grad)"
        )
    return dx


def expect_ndim(layer: Any, x: np.ndarray, ndim: int, layout: str) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{type(layer).__name__}.forward expected a numpy array. Received: {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{type(layer).__name__}.forward expected input of shape {layout}, got {x.shape}")


# -- arrays of a layer rebuilt from a file ------------------------------------
# While ``placeholder_arrays`` is active (glassnet.load uses it), the two
# functions below return zero-stride views that hold no memory, in place of
# real arrays: a layer is built from its config without allocating anything,
# its arrays' shapes are compared with the file's, and only then are the
# file's arrays read in. The total size they describe is capped by what the
# file holds, so a config asking for a huge layer fails before any allocation.
class _Budget:
    def __init__(self, nbytes: int) -> None:
        self.left, self.total = nbytes, nbytes


_PLACEHOLDERS: ContextVar[_Budget | None] = ContextVar("glassnet_placeholder_arrays", default=None)


@contextmanager
def placeholder_arrays(nbytes: int) -> Iterator[None]:
    """Make ``new_array`` and ``initial_weight`` return placeholders describing at most ``nbytes`` in all."""
    token = _PLACEHOLDERS.set(_Budget(nbytes))
    try:
        yield
    finally:
        _PLACEHOLDERS.reset(token)


def _placeholder(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    budget = _PLACEHOLDERS.get()
    if budget is None:
        return None
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if nbytes > budget.left:
        raise ValueError(
            f"the config asks for more array memory than the file holds: with an array of shape {shape} "
            f"({nbytes} bytes) its arrays would take more than the {budget.total} bytes the file stores"
        )
    budget.left -= nbytes
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)  # read-only, no memory of its own


def new_array(shape: int | tuple[int, ...], dtype: Any, fill: float = 0.0) -> np.ndarray:
    """``np.full(shape, fill, dtype)``: a layer's constant initial array (a bias, a running statistic)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dt = np.dtype(dtype)
    placeholder = _placeholder(shape, dt)
    if placeholder is not None:
        return placeholder
    return np.zeros(shape, dtype=dt) if fill == 0 else np.full(shape, fill, dtype=dt)


def loading() -> bool:
    """True while ``glassnet.load`` builds layers: their arrays are placeholders, and the file's values come next.

    A constructor that re-draws an array in place after building it (a model
    with its own initialisation) skips that while loading.
    """
    return _PLACEHOLDERS.get() is not None


def drawn_array(shape: tuple[int, ...], dtype: Any, draw: Callable[[], np.ndarray]) -> np.ndarray:
    """``draw()`` in ``dtype``: a layer's random initial array (not drawn at all while loading from a file)."""
    dt = np.dtype(dtype)
    placeholder = _placeholder(tuple(shape), dt)
    if placeholder is not None:
        return placeholder
    return np.asarray(draw(), dtype=dt)


def initial_weight(
    init: initializers.Initializer,
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    rng: Any,
    dtype: np.dtype,
) -> np.ndarray:
    """A weight of ``shape`` drawn by ``init`` (not drawn at all while loading from a file)."""
    placeholder = _placeholder(shape, dtype)
    if placeholder is not None:
        return placeholder
    w = np.asarray(init(shape, fan_in, fan_out, as_rng(rng), dtype), dtype=dtype)
    if w.shape != shape:
        raise ValueError(f"init returned shape {w.shape}, expected {shape}")
    return w
