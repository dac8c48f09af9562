"""Dropout: random zeroing of activations during training."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet._checks import as_rng, in_range
from glassnet.layers._base import missing_cache
from glassnet.module import Module
from glassnet.registry import register_layer

__all__ = ["Dropout"]


@register_layer
class Dropout(Module):
    """Inverted dropout: in training, keep each element with probability ``1 - p``.

    ``y = x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``, drawn afresh
    at every forward pass; the kept values are scaled up so that ``E[y] = x``
    and eval mode needs no rescaling: there ``y = x``.

    Args:
        p: probability of zeroing an element, in [0, 1).
        rng: ``np.random.Generator`` or int seed for the masks. ``fit(seed=...)``
            reseeds it, so a seed fixes the masks of a whole training run.

    Shape: any -> same.

    Backward (dy = dL/dy), from the cached scaled mask m = mask / (1 - p):
        dx = dy * m

    Example:
        >>> import numpy as np, glassnet as gn
        >>> layer = gn.Dropout(0.5, rng=0)
        >>> layer(np.ones((2, 4), dtype=np.float32))  # kept values scaled by 1 / (1 - p)
        array([[2., 2., 2., 0.],
               [0., 0., 0., 0.]], dtype=float32)
        >>> layer.eval()(np.ones(3, dtype=np.float32))
        array([1., 1., 1.], dtype=float32)
    """

    blas_bound = True  # its time is one product or a light pass: BLAS's threads split it (glassnet.replicas)

    per_sample = True  # in eval mode (see Module.samples_independent)

    stochastic = True
    draws_whole_batch = True

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.p = in_range(p, "p", 0.0, 1.0)
        self.rng = as_rng(rng)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"Dropout.forward expected a numpy array. Received: {type(x).__name__}")
        if not self.training:
            self._mask = None
            return x
        # Draw in the input's precision: a float64 mask would double the cost
        # and silently turn a float32 network into a float64 one.
        dtype = np.float32 if x.dtype == np.float32 else np.float64
        rows, n = self.batch_rows(x.shape[0])  # a share of a batch split over threads draws the whole batch's mask
        mask = self.rng.random((n, *x.shape[1:]), dtype=dtype)[rows]
        keep = mask >= dtype(self.p)  # P(u >= p) = 1 - p for u ~ U[0, 1)
        np.multiply(keep, dtype(1.0 / (1.0 - self.p)), out=mask)  # reuse the buffer: m = keep / (1 - p)
        self._mask = mask
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._mask is None:
            raise missing_cache(self)
        return dy * self._mask

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}
