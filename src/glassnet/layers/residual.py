"""Residual connection: a module's output added to its input."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.layers._base import input_gradient
from glassnet.module import Module
from glassnet.registry import build_architecture, describe_architecture, register_layer

__all__ = ["Residual"]


@register_layer
class Residual(Module):
    """``y = x + module(x)``: a skip connection around any module of matching shape.

    A transformer block is two of them,
    ``Residual(Sequential(LayerNorm(D), MultiHeadAttention(D, H)))`` and
    ``Residual(Sequential(LayerNorm(D), Linear(D, 4D), GELU(), Linear(4D, D)))``,
    and a ResNet block is ``Residual(Sequential(Conv2d, BatchNorm2d, ReLU, Conv2d, BatchNorm2d))``.

    Args:
        module: the Module on the residual branch; it must map its input's shape to
            the same shape. (Also accepted: its ``{"class": ..., "config": ...}``
            description, as ``get_config`` writes it, so a model file can rebuild it.)

    Shape:
        x: any shape the module accepts -> y: the same shape.

    Backward (dy = dL/dy): the gradient flows down both paths and adds up,
        dx = dy + module.backward(dy)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> block = gn.Residual(gn.Sequential(gn.LayerNorm(4), gn.Linear(4, 4, rng=0)))
        >>> block(np.ones((2, 3, 4), dtype=np.float32)).shape
        (2, 3, 4)
    """

    per_sample = True  # in eval mode (see Module.samples_independent)
    config_modules = ("module",)  # build_architecture builds this key of the config (glassnet.registry)

    def __init__(self, module: Module | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(module, dict):
            module = build_architecture(module)
        if not isinstance(module, Module):
            raise TypeError(f"module must be a glassnet Module. Received: module={short(module)}")
        self.module = module

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        self.module.check_input(x, name)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(self.module.output_shape(tuple(input_shape)))
        if shape != tuple(input_shape):
            raise ValueError(
                f"Residual: the module maps shape {tuple(input_shape)} to {shape}; x + module(x) needs the same shape"
            )
        return shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        fx = self.module.forward(x)
        if fx.shape != x.shape:
            raise ValueError(
                f"Residual: the module maps shape {x.shape} to {fx.shape}; x + module(x) needs the same shape"
            )
        # a new array: fx may be an array the module cached for its backward
        return x + fx

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dfx = self.module.backward(dy)
        if not self.input_grad:
            return None  # see Module.set_input_grad
        dx = input_gradient(dfx, self.module) + dy  # a new array: dy may belong to the layer above
        return dx

    def set_input_grad(self, flag: bool) -> None:
        self.input_grad = bool(flag)
        self.module.set_input_grad(flag)

    def get_config(self) -> dict[str, Any]:
        return {"module": describe_architecture(self.module)}

    def extra_repr(self) -> str:
        return repr(self.module)
