"""The ONNX graph under construction, and the registry of converters (one function per layer class).

Each layer class has a converter: a function ``(graph, layer, x, shape) -> name`` that adds the
layer's ONNX nodes to ``graph``, reading the tensor named ``x`` (of ``shape``, batch axis first),
and returns the name of its output. ``glassnet/onnx/layers.py`` and ``sequence.py`` hold glassnet's
own; ``glassnet.onnx`` imports both, so the registry is full once the package is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.module import Module

__all__ = ["Graph", "Converter", "register_converter", "converters", "import_onnx", "OPSET", "IR_VERSION"]

OPSET = 17
IR_VERSION = 8
INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH_AXIS = "N"
TIME_AXIS = "T"

Converter = Callable[["Graph", Any, str, tuple[int, ...]], str]
_CONVERTERS: dict[type[Module], Converter] = {}


def import_onnx() -> Any:
    """The onnx package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install "glassnet[onnx]"') from None
    return onnx


def register_converter(cls: type[Module]) -> Callable[[Converter], Converter]:
    """Decorator: make ``fn(graph, layer, x, shape) -> output name`` the converter of layer class ``cls``.

    ``shape`` is the input's shape with a batch of 1; ``layer.output_shape(shape)``
    gives the output's. Registering a class a second time replaces its converter.
    """
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_converter expects a glassnet Module class. Received: cls={short(cls)}")

    def add(fn: Converter) -> Converter:
        _CONVERTERS[cls] = fn
        return fn

    return add


def converters() -> dict[str, Converter]:
    """The registered converters, by layer class name."""
    return {cls.__name__: fn for cls, fn in _CONVERTERS.items()}


class Graph:
    """An ONNX graph under construction: nodes and float32 initializers, with unique names."""

    def __init__(self) -> None:
        self.onnx = import_onnx()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._counts: dict[str, int] = {}
        self.path = "model"  # where in the model the layer being converted sits, for errors

    def name(self, hint: str) -> str:
        """A fresh tensor or node name starting with ``hint``."""
        n = self._counts.get(hint, 0)
        self._counts[hint] = n + 1
        return f"{hint}_{n}"

    def constant(self, value: Any, hint: str) -> str:
        """Add ``value`` as a float32 initializer; returns its name."""
        array = np.ascontiguousarray(value, dtype=np.float32)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name=name))
        return name

    def int_constant(self, value: Any, hint: str) -> str:
        """Add ``value`` as an int64 initializer (shapes, indices, axes); returns its name."""
        array = np.asarray(value, dtype=np.int64)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name=name))
        return name

    def node(self, op: str, inputs: Sequence[str], **attributes: Any) -> str:
        """Add one node of type ``op``; returns the name of its (single) output."""
        out = self.name(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out], name=self.name(op), **attributes))
        return out

    def convert(self, layer: Module, x: str, shape: tuple[int, ...], where: str = "") -> str:
        """Add ``layer``'s nodes reading ``x``; ``where`` names its place below the current one."""
        outer = self.path
        self.path = f"{outer}.{where}" if where else outer
        try:
            fn = _CONVERTERS.get(type(layer))
            if fn is None:
                known = ", ".join(sorted(converters()))
                raise ValueError(
                    f"cannot export {type(layer).__name__} (at {self.path}) to ONNX: there is no converter for it. "
                    f"Layers that export: {known}. Add one with glassnet.onnx.register_converter({type(layer).__name__})"
                )
            return fn(self, layer, x, shape)
        finally:
            self.path = outer


# -- the model ------------------------------------------------------------------
