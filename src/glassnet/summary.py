"""A text table of a model's layers, output shapes and parameter counts."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from glassnet._checks import positive_int, short
from glassnet.layers.residual import Residual
from glassnet.module import Module, Sequential

__all__ = ["summary"]

_HEADERS = ("Layer", "Type", "Output shape", "Params")


def _leaves(module: Module, name: str) -> Iterator[tuple[str, Module]]:
    """(dotted name, layer) for each row: a Sequential is opened, and the module a Residual wraps; anything else is one row."""
    if isinstance(module, Sequential):
        for i, layer in enumerate(module.layers):
            yield from _leaves(layer, f"{name}.layers.{i}" if name else f"layers.{i}")
    elif isinstance(module, Residual):  # y = x + module(x): the rows of module, the shape kept
        yield from _leaves(module.module, f"{name}.module" if name else "module")
    else:
        yield name or "(model)", module


def _row(
    name: str, layer: Module, shape: tuple[int, ...], first: bool
) -> tuple[tuple[str, str, str, str], tuple[int, ...]]:
    """One layer's row for an input of ``shape``, and its output shape."""
    described = _describe(layer)
    # shape only, no memory; integer zeros for layers that take token ids (Embedding)
    dtype = layer._dtype() if getattr(layer, "casts_input", True) else np.dtype(np.intp)
    probe = np.broadcast_to(np.zeros((), dtype=dtype), shape)
    problem = f"{name} ({described}) cannot take an input of shape {_shape_text(shape)}"
    try:
        layer.check_input(probe, "input_shape")
    except (ValueError, TypeError) as err:
        # check_input words its message for the model's first layer; deeper
        # down, the shape came from the layer before, so that part is left out
        raise ValueError(f"{problem}: {err}" if first else problem) from err
    try:
        out = tuple(int(d) for d in layer.output_shape(shape))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{problem}: {err}") from err
    n_params = sum(p.data.size for p in layer.parameters())
    return (name, described, _shape_text(out), f"{n_params:,}"), out


def _rows(model: Module, name: str, shape: tuple[int, ...], rows: list[tuple[str, str, str, str]]) -> tuple[int, ...]:
    """Append the rows of ``model`` for an input of ``shape``; returns its output shape.

    A model with ``summary_parts(shape)`` (the GPT) is checked whole, then shown part by part.
    """
    for leaf_name, layer in _leaves(model, name):
        parts = getattr(layer, "summary_parts", None)
        if not callable(parts):
            row, shape = _row(leaf_name, layer, shape, first=not rows)
            rows.append(row)
            continue
        _, out = _row(leaf_name, layer, shape, first=not rows)  # the whole model's checks and shape
        prefix = "" if leaf_name == "(model)" else leaf_name + "."
        for part_name, part, part_shape in parts(shape):
            if isinstance(part, Module):
                _rows(part, prefix + part_name, part_shape, rows)
            else:  # a part without parameters of its own: its description and output shape
                rows.append((prefix + part_name, str(part), _shape_text(part_shape), "0"))
        shape = out
    return shape


def _describe(layer: Module) -> str:
    """``Class(args)``: required arguments by value, optional ones only where not the default.

    The dtype is left out (the totals line states it), so rows stay short.
    """
    try:
        config = layer.get_config()
        params = inspect.signature(type(layer)).parameters
    except (TypeError, ValueError):
        return type(layer).__name__
    parts = []
    for key, value in config.items():
        if key in ("dtype", "layers"):
            continue
        value = _compact(value)
        param = params.get(key)
        if param is not None and param.default is inspect.Parameter.empty:
            parts.append(repr(value))
        elif param is None or _compact(param.default) != value:
            parts.append(f"{key}={value!r}")
    return f"{type(layer).__name__}({', '.join(parts)})"


def _compact(value: Any) -> Any:
    """A pair of equal sizes, as configs store kernel_size and stride, shown as one number: [3, 3] -> 3."""
    if isinstance(value, (list, tuple)):
        if value and all(type(v) is int and v == value[0] for v in value):
            return value[0]
        return tuple(value)
    return value


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(["None", *(str(d) for d in shape[1:])]) + ")"


def _as_input_shape(input_shape: Any) -> tuple[int, ...]:
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(
            f"input_shape must be a tuple of ints without the batch axis, e.g. (1, 28, 28). "
            f"Received: input_shape={short(input_shape)}"
        )
    return tuple(positive_int(d, "input_shape") for d in input_shape)


def _size_text(n_bytes: int) -> str:
    if n_bytes < 1024:
        return f"{n_bytes} B"
    if n_bytes < 1024**2:
        return f"{n_bytes / 1024:.1f} KiB"
    return f"{n_bytes / 1024**2:.1f} MiB"


def summary(model: Module, input_shape: Sequence[int]) -> str:
    """A table of the layers of ``model`` with output shapes and parameter counts.

    Args:
        model: a Sequential (one row per layer, nested Sequentials opened) or
            any single Module (one row).
        input_shape: the shape of one sample, without the batch axis, e.g.
            ``(3,)`` for tabular rows or ``(1, 28, 28)`` for images.

    Returns:
        The table as a string; the batch axis is shown as None. The totals
        count trainable parameters and buffer values (BatchNorm's running
        statistics, saved with the model but never trained).

    Raises:
        ValueError: if a layer cannot take the shape that reaches it.

    Example:
        >>> import glassnet as gn
        >>> from glassnet.summary import summary
        >>> model = gn.Sequential(gn.Linear(3, 4, bias=False), gn.Sigmoid(), gn.Linear(4, 1, bias=False))
        >>> print(summary(model, (3,)))
        Layer     Type                      Output shape  Params
        ========================================================
        layers.0  Linear(3, 4, bias=False)  (None, 4)         12
        layers.1  Sigmoid()                 (None, 4)          0
        layers.2  Linear(4, 1, bias=False)  (None, 1)          4
        ========================================================
        Input: (None, 3)
        Trainable parameters: 16
        Buffers: 0 values
        Size: 64 B (parameters and buffers, float32)
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary expects a glassnet Module. Received: {type(model).__name__}")
    sample = _as_input_shape(input_shape)
    shape: tuple[int, ...] = (1, *sample)
    rows: list[tuple[str, str, str, str]] = []
    _rows(model, "", shape, rows)

    widths = [max(len(row[i]) for row in [_HEADERS, *rows]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        left = "  ".join(cell.ljust(w) for cell, w in zip(cells[:3], widths[:3], strict=True))
        return f"{left}  {cells[3].rjust(widths[3])}".rstrip()

    rule = "=" * (sum(widths) + 2 * 3)
    params = model.parameters()
    buffers = [b for _, b in model.named_buffers()]
    n_bytes = sum(p.data.nbytes for p in params) + sum(b.nbytes for b in buffers)
    dtypes = sorted({str(a.dtype) for a in [*(p.data for p in params), *buffers]}) or [np.dtype(model._dtype()).name]
    return "\n".join(
        [
            line(_HEADERS),
            rule,
            *(line(row) for row in rows),
            rule,
            f"Input: {_shape_text((1, *sample))}",
            f"Trainable parameters: {sum(p.data.size for p in params):,}",
            f"Buffers: {sum(b.size for b in buffers):,} values",
            f"Size: {_size_text(n_bytes)} (parameters and buffers, {', '.join(dtypes)})",
        ]
    )
