"""Export a glassnet model to ONNX, the exchange format onnxruntime, browsers and phones run.

``export(model, path, input_shape)`` writes one ``.onnx`` file: a graph at
opset 17 and IR version 8 (pinned, because ``onnx.helper.make_model``
defaults to the newest of both, which older runtimes refuse), with a dynamic
batch axis named "N", an input named "input" and an output named "output".
The graph computes in float32, whatever the model's dtype.

Each layer class has a converter: a function ``(graph, layer, x, shape) ->
name`` that adds the layer's ONNX nodes to ``graph``, reading the tensor named
``x`` (of ``shape``, batch axis first), and returns the name of its output.
The converters live in a registry, so a new layer needs one function::

    @register_converter(MyLayer)
    def _my_layer(graph, layer, x, shape):
        return graph.node("Relu", [x])

How each layer maps (the layer's forward math is in its own docstring):

    Linear      Gemm(x, W, b) for (N, F) input, MatMul + Add otherwise (W is (in, out), so no transpose)
    Conv2d      Conv, pads (pH, pW, pH, pW); weight is already (C_out, C_in, kH, kW)
    MaxPool2d, AvgPool2d   MaxPool / AveragePool, no padding (floor mode)
    BatchNorm1d, BatchNorm2d   BatchNormalization with the running statistics (eval mode)
    Sigmoid, Tanh, ReLU, LeakyReLU, ELU   their ONNX namesakes
    GELU        x * 0.5 * (1 + Erf(x / sqrt 2)); "tanh": x * 0.5 * (1 + Tanh(sqrt(2/pi) (x + 0.044715 x³)))
    Softmax     Softmax(axis): since opset 13 it normalises along that one axis, as glassnet does
    Flatten     Flatten(axis=1)
    Dropout, RandomShift, RandomHorizontalFlip, Identity   Identity (the first three are the identity in eval mode)
    Sequential  its layers in order
    Embedding, LayerNorm, Residual, MultiHeadAttention, RNN, LSTM, GRU, GPT: see glassnet/onnx/sequence.py

Models that take sequences also get a dynamic time axis "T" (``dynamic_time``),
and those that start with an Embedding take int64 token ids.

A layer with no converter is refused with an error naming it and its place
in the model. ``onnx`` and ``onnxruntime`` are optional: ``pip install "glassnet[onnx]"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

# glassnet's converters, registered as these two files are imported: feed-forward layers, then sequence layers
import glassnet.onnx.layers
import glassnet.onnx.sequence  # noqa: F401
from glassnet._files import atomic_write
from glassnet.module import Module, Sequential
from glassnet.onnx.graph import (
    BATCH_AXIS,
    INPUT_NAME,
    IR_VERSION,
    OPSET,
    OUTPUT_NAME,
    TIME_AXIS,
    Converter,
    Graph,
    converters,
    register_converter,
)

__all__ = ["export", "to_onnx", "register_converter", "converters", "Converter", "Graph", "OPSET", "IR_VERSION"]


def _input_shape(model: Module, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    if input_shape is None:
        recorded = (getattr(model, "metadata", None) or {}).get("input_shape")
        if recorded is None:
            raise ValueError("input_shape is needed (without the batch axis, e.g. (1, 28, 28)): the model records none")
        input_shape = recorded
    try:
        shape = tuple(int(d) for d in input_shape)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise TypeError(
            f"input_shape must be a sequence of sizes, e.g. (1, 28, 28). Received: {input_shape!r}"
        ) from None
    if not shape or min(shape) <= 0:
        raise ValueError(f"input_shape must hold positive sizes, without the batch axis. Received: {input_shape!r}")
    return shape


def _first_layer(model: Module) -> Module:
    while isinstance(model, Sequential) and model.layers:
        model = model.layers[0]
    return model


def _takes_ids(model: Module) -> bool:
    """Whether the model's input is integer ids (an Embedding or a GPT first), not floats."""
    return not getattr(_first_layer(model), "casts_input", True)


def _is_sequence_model(model: Module) -> bool:
    from glassnet.layers import MultiHeadAttention
    from glassnet.layers._recurrent import RecurrentBase

    return _takes_ids(model) or isinstance(_first_layer(model), (RecurrentBase, MultiHeadAttention))


def to_onnx(model: Module, input_shape: Sequence[int] | None = None, dynamic_time: bool | None = None) -> Any:
    """The ``onnx.ModelProto`` of ``model`` (in eval mode), checked with ``onnx.checker.check_model(full_check=True)``.

    Args:
        model: a glassnet Module (usually a Sequential) whose layers all have converters.
        input_shape: one sample's shape, without the batch axis, e.g. (1, 28, 28) or (T,) for
            token ids; None takes ``model.metadata["input_shape"]`` (recorded by ``glassnet train``).
        dynamic_time: also leave axis 1 (time, named "T") free, so one file runs sequences of
            any length; None (default) does so for models that start with an Embedding, a GPT,
            a recurrent layer or attention.
    """
    if not isinstance(model, Module):
        raise TypeError(f"export expects a glassnet Module. Received: {type(model).__name__}")
    shape = (1, *_input_shape(model, input_shape))
    ids = _takes_ids(model)
    model.check_input(np.zeros(shape, dtype=np.int64 if ids else np.float32), "input_shape")
    out_shape = model.output_shape(shape)
    dynamic = _is_sequence_model(model) if dynamic_time is None else bool(dynamic_time)
    in_dims: list[int | str] = [BATCH_AXIS, *shape[1:]]
    out_dims: list[int | str] = [BATCH_AXIS, *out_shape[1:]]
    if dynamic:
        if len(shape) < 2 or len(out_shape) < 2 or out_shape[1] != shape[1]:
            raise ValueError(
                f"dynamic_time needs a time axis (axis 1) that the model keeps; it maps {shape} to {out_shape}. "
                "Export with dynamic_time=False"
            )
        in_dims[1] = out_dims[1] = TIME_AXIS
    graph = Graph()
    onnx = graph.onnx
    y = graph.convert(model, INPUT_NAME, shape)
    if graph.nodes and graph.nodes[-1].output[0] == y:
        graph.nodes[-1].output[0] = OUTPUT_NAME  # the last node writes the graph's output directly
    else:  # a model that computes nothing (Identity, an empty Sequential) still needs a node
        graph.nodes.append(onnx.helper.make_node("Identity", [y], [OUTPUT_NAME], name="Identity_output"))
    float32, int64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    g = onnx.helper.make_graph(
        graph.nodes,
        "glassnet",
        [onnx.helper.make_tensor_value_info(INPUT_NAME, int64 if ids else float32, in_dims)],
        [onnx.helper.make_tensor_value_info(OUTPUT_NAME, float32, out_dims)],
        initializer=graph.initializers,
    )
    from glassnet._version import VERSION

    proto = onnx.helper.make_model(
        g,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="glassnet",
        producer_version=VERSION,
    )
    metadata = getattr(model, "metadata", None) or {}
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), json.dumps(value)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(
    model: Module,
    path: str | os.PathLike[str],
    input_shape: Sequence[int] | None = None,
    dynamic_time: bool | None = None,
) -> Any:
    """Write ``model`` to the ONNX file ``path`` (opset 17, IR 8, dynamic batch axis); returns the ModelProto.

    The write is atomic (a temporary file in the same folder, renamed over
    ``path``): on any error the previous file at ``path`` is left as it was.

    Args:
        model: the model; exported as in eval mode (BatchNorm's running statistics, no Dropout).
        path: the file to write, conventionally ``*.onnx``.
        input_shape: one sample's shape without the batch axis, e.g. (1, 28, 28);
            None takes ``model.metadata["input_shape"]``.
        dynamic_time: leave the time axis free too (see ``to_onnx``); the default does so for sequence models.

    Raises:
        ValueError: a layer has no converter (the message names it), or input_shape does not fit the model.
        FileNotFoundError, PermissionError, OSError: the file can't be written (missing or read-only folder, full disk).
        ImportError: onnx is not installed.

    Example:
        >>> import os, tempfile, numpy as np, glassnet as gn, onnxruntime as ort
        >>> model = gn.Sequential(gn.Linear(4, 8, rng=0), gn.GELU(), gn.Linear(8, 3, rng=1), gn.Softmax())
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = gn.onnx.export(model, os.path.join(folder, "model.onnx"), input_shape=(4,))
        ...     session = ort.InferenceSession(os.path.join(folder, "model.onnx"), providers=["CPUExecutionProvider"])
        >>> x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
        >>> (y,) = session.run(None, {"input": x})
        >>> bool(np.abs(y - model.predict(x)).max() < 1e-5)
        True
    """
    proto = to_onnx(model, input_shape, dynamic_time)
    atomic_write(path, proto.SerializeToString())
    return proto
