"""ONNX converters for glassnet's feed-forward layers (see glassnet.onnx.graph for the registry and the mapping)."""

from __future__ import annotations

import math

import numpy as np

from glassnet.layers import (
    ELU,
    GELU,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from glassnet.layers.augment import RandomHorizontalFlip, RandomShift
from glassnet.module import Module, Sequential
from glassnet.onnx.graph import Converter, Graph, register_converter


@register_converter(Sequential)
def _sequential(graph: Graph, model: Sequential, x: str, shape: tuple[int, ...]) -> str:
    for i, layer in enumerate(model.layers):
        x = graph.convert(layer, x, shape, f"layers[{i}]")
        shape = layer.output_shape(shape)
    return x


@register_converter(Linear)
def _linear(graph: Graph, layer: Linear, x: str, shape: tuple[int, ...]) -> str:
    W = graph.constant(layer.weight.data, "weight")  # (in, out): x @ W needs no transpose
    b = None if layer.bias is None else graph.constant(layer.bias.data, "bias")
    if len(shape) == 2:  # Gemm: y = x @ W + b in one node
        return graph.node("Gemm", [x, W] if b is None else [x, W, b])
    y = graph.node("MatMul", [x, W])  # MatMul broadcasts over the leading axes, as x @ W does
    return y if b is None else graph.node("Add", [y, b])


@register_converter(Conv2d)
def _conv2d(graph: Graph, layer: Conv2d, x: str, shape: tuple[int, ...]) -> str:
    inputs = [x, graph.constant(layer.weight.data, "weight")]
    if layer.bias is not None:
        inputs.append(graph.constant(layer.bias.data, "bias"))
    (pH, pW) = layer.padding
    return graph.node(
        "Conv",
        inputs,
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.stride),
        pads=[pH, pW, pH, pW],  # (top, left, bottom, right)
    )


@register_converter(MaxPool2d)
def _maxpool2d(graph: Graph, layer: MaxPool2d, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("MaxPool", [x], kernel_shape=list(layer.kernel_size), strides=list(layer.stride))


@register_converter(AvgPool2d)
def _avgpool2d(graph: Graph, layer: AvgPool2d, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("AveragePool", [x], kernel_shape=list(layer.kernel_size), strides=list(layer.stride))


@register_converter(BatchNorm1d)
@register_converter(BatchNorm2d)
def _batchnorm(graph: Graph, layer: BatchNorm1d | BatchNorm2d, x: str, shape: tuple[int, ...]) -> str:
    c = layer.num_features
    gamma = np.ones(c) if layer.weight is None else layer.weight.data
    beta = np.zeros(c) if layer.bias is None else layer.bias.data
    inputs = [
        x,
        graph.constant(gamma, "scale"),
        graph.constant(beta, "shift"),
        graph.constant(layer.running_mean, "running_mean"),
        graph.constant(layer.running_var, "running_var"),
    ]
    return graph.node("BatchNormalization", inputs, epsilon=float(layer.eps))


def _simple(op: str) -> Converter:
    def convert(graph: Graph, layer: Module, x: str, shape: tuple[int, ...]) -> str:
        return graph.node(op, [x])

    return convert


for _cls, _op in ((Sigmoid, "Sigmoid"), (Tanh, "Tanh"), (ReLU, "Relu"), (Identity, "Identity"), (Dropout, "Identity")):
    register_converter(_cls)(_simple(_op))
# data augmentation is the identity in eval mode, which is what an exported model runs
for _augment in (RandomHorizontalFlip, RandomShift):
    register_converter(_augment)(_simple("Identity"))


@register_converter(LeakyReLU)
def _leaky_relu(graph: Graph, layer: LeakyReLU, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("LeakyRelu", [x], alpha=float(layer.negative_slope))


@register_converter(ELU)
def _elu(graph: Graph, layer: ELU, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("Elu", [x], alpha=float(layer.alpha))


@register_converter(GELU)
def _gelu(graph: Graph, layer: GELU, x: str, shape: tuple[int, ...]) -> str:
    # opset 17 has no Gelu node (it came in 20): build y = x * Phi(x) from Erf or Tanh
    if layer.approximate == "tanh":
        cube = graph.node("Mul", [graph.node("Mul", [x, x]), x])
        inner = graph.node("Add", [x, graph.node("Mul", [cube, graph.constant(0.044715, "c")])])
        t = graph.node("Tanh", [graph.node("Mul", [inner, graph.constant(math.sqrt(2.0 / math.pi), "c")])])
    else:
        t = graph.node("Erf", [graph.node("Mul", [x, graph.constant(1.0 / math.sqrt(2.0), "c")])])
    cdf = graph.node("Mul", [graph.node("Add", [t, graph.constant(1.0, "c")]), graph.constant(0.5, "c")])
    return graph.node("Mul", [x, cdf])


@register_converter(Softmax)
def _softmax(graph: Graph, layer: Softmax, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("Softmax", [x], axis=int(layer.axis))


@register_converter(Flatten)
def _flatten(graph: Graph, layer: Flatten, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("Flatten", [x], axis=1)
