"""Layers that only rearrange their input: Flatten."""

from __future__ import annotations

import math

import numpy as np

from glassnet.layers._base import missing_cache
from glassnet.module import Module
from glassnet.registry import register_layer

__all__ = ["Flatten"]


@register_layer
class Flatten(Module):
    """Keep the batch axis and flatten the rest: ``y = x.reshape(N, -1)``.

    The bridge from convolutional feature maps (N, C, H, W) to a Linear layer
    (N, C*H*W). No copy is made when ``x`` is contiguous.

    Shape:
        x: (N, d1, d2, ...) -> y: (N, d1 * d2 * ...).

    Backward (dy = dL/dy):
        dx = dy.reshape(x.shape)      (flattening moves no value, so neither does its derivative)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.Flatten()(np.zeros((2, 3, 4, 5), dtype=np.float32)).shape
        (2, 60)
    """

    blas_bound = True  # its time is one product or a light pass: BLAS's threads split it (glassnet.replicas)

    per_sample = True  # in eval mode (see Module.samples_independent)

    def __init__(self) -> None:
        super().__init__()
        self._x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"Flatten.forward expected a numpy array. Received: {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"Flatten.forward expected input of shape (N, ...) with at least 2 axes, got {x.shape}")
        self._x_shape = x.shape if self.training else None
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._x_shape is None:
            raise missing_cache(self)
        return dy.reshape(self._x_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) < 2:
            raise ValueError(f"Flatten expected input of shape (N, ...) with at least 2 axes, got {tuple(input_shape)}")
        return (input_shape[0], math.prod(input_shape[1:]))
