"""Fully connected layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet import init as initializers
from glassnet._checks import check_dtype, positive_int, strict_bool
from glassnet.layers._base import expect_ndim, init_name, initial_weight, missing_cache, new_array
from glassnet.module import Module, Parameter
from glassnet.registry import register_layer

__all__ = ["Linear"]


@register_layer
class Linear(Module):
    """Affine map ``y = x @ W + b``, the tutorial's ``np.dot(self.input, self.weights1)``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias ``b`` (the tutorial has none).
        init: weight initialiser, a name from ``glassnet.init`` or a callable
            ``(shape, fan_in, fan_out, rng, dtype)``; biases start at zero.
        rng: ``np.random.Generator`` or int seed for the initialiser.
        dtype: float32 (default) or float64.

    Shape:
        x: (N, in_features) -> y: (N, out_features); as in PyTorch, any
        leading axes are batch axes: (N, *, in_features) -> (N, *, out_features),
        e.g. (N, T, F) sequences, with the same W for every position.
        weight: (in_features, out_features); bias: (out_features,).
        PyTorch stores (out_features, in_features): transpose when comparing.

    Backward (dy = dL/dy):
        dx = dy @ W.T
        dW = x.T @ dy
        db = dy.sum(axis=0)
        (for more than 2 axes, x and dy are first viewed as 2-D matrices with
        one row per position, (N*T, F), so dW sums over every position)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> layer = gn.Linear(3, 2, rng=0)
        >>> layer(np.ones((4, 3), dtype=np.float32)).shape
        (4, 2)
    """

    blas_bound = True  # its time is one product or a light pass: BLAS's threads split it (glassnet.replicas)

    per_sample = True  # in eval mode (see Module.samples_independent)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str | initializers.Initializer = "xavier_uniform",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        has_bias = strict_bool(bias, "bias")
        self.dtype = check_dtype(dtype)
        self.init = init
        draw = initializers.get(init)
        shape = (self.in_features, self.out_features)
        self.weight = Parameter(initial_weight(draw, shape, self.in_features, self.out_features, rng, self.dtype))
        self.bias = Parameter(new_array(self.out_features, self.dtype)) if has_bias else None
        self._x: np.ndarray | None = None

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{name} has shape {x.shape}, but the model's first layer ({self!r}) expects (N, {self.in_features})"
                + (f" or (N, ..., {self.in_features})" if x.ndim > 2 else "")
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 2 or x.shape[-1] != self.in_features:
            if not isinstance(x, np.ndarray):
                expect_ndim(self, x, 2, f"(N, {self.in_features})")  # raises the TypeError
            more = f" or (N, ..., {self.in_features})" if x.ndim > 2 else ""
            raise ValueError(f"Linear.forward expected input of shape (N, {self.in_features}){more}, got {x.shape}")
        # one 2-D product over every position (faster than a batched matmul)
        y = (x.reshape(-1, self.in_features) @ self.weight.data).reshape(*x.shape[:-1], self.out_features)
        if self.bias is not None:
            y += self.bias.data
        self._x = x if self.training else None
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        x = self._x
        if x is None:
            raise missing_cache(self)
        if x.ndim > 2:  # sequences: every position is a row of one matrix product
            shape = x.shape
            x = x.reshape(-1, self.in_features)
            dy = dy.reshape(-1, self.out_features)
            dx = self._backward_2d(x, dy)
            return None if dx is None else dx.reshape(shape)
        return self._backward_2d(x, dy)

    def _backward_2d(self, x: np.ndarray, dy: np.ndarray) -> np.ndarray | None:
        self.weight.grad += x.T @ dy
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=0)
        if not self.input_grad:
            return None  # see Module.set_input_grad
        return dy @ self.weight.data.T

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*input_shape[:-1], self.out_features)

    def get_config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "init": init_name(self.init, "xavier_uniform"),
            "dtype": self.dtype.name,
        }
