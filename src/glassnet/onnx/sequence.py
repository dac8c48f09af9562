"""ONNX converters for the sequence layers (see glassnet.onnx.graph for the registry and the rest).

How each maps, with x batch first (N, T, F) as in glassnet:

    Embedding   Gather(W, ids, axis=0); the graph's input is then int64 ids
    LayerNorm   LayerNormalization(x, gamma, beta, axis=-len(normalized_shape)) (in the standard since opset 17)
    Residual    Add(x, module(x))
    MultiHeadAttention
                in_proj (MatMul + Add), Reshape to (N, T, 3, H, hd), Transpose to (3, N, H, T, hd),
                q, k, v = Gather 0, 1, 2; s = MatMul(q, k^T) * 1/sqrt(hd); causal: Where(j > i, -inf, s)
                with the mask built from Shape(x), so any length works; Softmax(axis=-1), MatMul(p, v),
                back to (N, T, D), out_proj
    RNN, LSTM, GRU
                ONNX's own RNN / LSTM / GRU on the time-major Transpose of x, then Squeeze and Transpose back.
                ONNX wants W (1, G*H, F) and R (1, G*H, H), the transposes of glassnet's (in, out) layout,
                and B (1, 2*G*H) = [b_ih | b_hh]. The gate blocks are reordered: LSTM from PyTorch's
                (i, f, g, o) to ONNX's (i, o, f, c); GRU from (r, z, n) to ONNX's (z, r, h), with
                linear_before_reset=1, which is PyTorch's form n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
                The exported layer starts every sequence from a zero state.
    GPT         Gather on both embeddings (positions from Range(0, T)), the blocks, ln_f, and the tied output
                layer MatMul(x, Transpose(wte)), which shares the embedding's initializer.
"""

from __future__ import annotations

import math

import numpy as np

from glassnet.layers import GRU, LSTM, RNN, Embedding, LayerNorm, MultiHeadAttention, Residual
from glassnet.layers._recurrent import RecurrentBase
from glassnet.models import GPT
from glassnet.onnx.graph import Graph, register_converter

# the (start, stop) blocks of each gate in glassnet's (PyTorch's) order, listed in ONNX's order
_LSTM_ORDER = (0, 3, 1, 2)  # i, f, g, o  ->  i, o, f, c(=g)
_GRU_ORDER = (1, 0, 2)  # r, z, n  ->  z, r, h(=n)


@register_converter(Embedding)
def _embedding(graph: Graph, layer: Embedding, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("Gather", [graph.constant(layer.weight.data, "embedding"), x], axis=0)


@register_converter(LayerNorm)
def _layer_norm(graph: Graph, layer: LayerNorm, x: str, shape: tuple[int, ...]) -> str:
    ones, zeros = np.ones(layer.normalized_shape), np.zeros(layer.normalized_shape)
    gamma = graph.constant(ones if layer.weight is None else layer.weight.data, "gamma")
    beta = graph.constant(zeros if layer.bias is None else layer.bias.data, "beta")
    axis = -len(layer.normalized_shape)
    return graph.node("LayerNormalization", [x, gamma, beta], axis=axis, epsilon=float(layer.eps))


@register_converter(Residual)
def _residual(graph: Graph, layer: Residual, x: str, shape: tuple[int, ...]) -> str:
    return graph.node("Add", [x, graph.convert(layer.module, x, shape, "module")])


def _time_length(graph: Graph, x: str) -> str:
    """A scalar int64 tensor: the length of axis 1 (time) of ``x``, read at run time."""
    return graph.node("Gather", [graph.node("Shape", [x]), graph.int_constant(1, "axis")], axis=0)


def _positions(graph: Graph, x: str) -> str:
    """Range(0, T): the positions 0 .. T-1 of ``x``'s time axis, int64."""
    return graph.node("Range", [graph.int_constant(0, "zero"), _time_length(graph, x), graph.int_constant(1, "one")])


@register_converter(MultiHeadAttention)
def _attention(graph: Graph, layer: MultiHeadAttention, x: str, shape: tuple[int, ...]) -> str:
    h, hd, d = layer.num_heads, layer.head_dim, layer.embed_dim
    qkv = graph.convert(layer.in_proj, x, shape, "in_proj")  # (N, T, 3D), columns [q | k | v], heads inside each
    split = graph.node("Reshape", [qkv, graph.int_constant([0, 0, 3, h, hd], "shape")])  # 0: keep N and T
    heads = graph.node("Transpose", [split], perm=[2, 0, 3, 1, 4])  # (3, N, H, T, hd)
    q, k, v = (graph.node("Gather", [heads, graph.int_constant(i, "index")], axis=0) for i in range(3))
    scores = graph.node("MatMul", [q, graph.node("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = graph.node("Mul", [scores, graph.constant(1.0 / math.sqrt(hd), "scale")])
    if layer.causal:  # future[i, j] = j > i, for the T of this run
        positions = _positions(graph, x)
        rows = graph.node("Unsqueeze", [positions, graph.int_constant([1], "axes")])
        cols = graph.node("Unsqueeze", [positions, graph.int_constant([0], "axes")])
        future = graph.node("Greater", [cols, rows])
        scores = graph.node("Where", [future, graph.constant(-np.inf, "minus_inf"), scores])
    weights = graph.node("Softmax", [scores], axis=-1)
    heads_out = graph.node("Transpose", [graph.node("MatMul", [weights, v])], perm=[0, 2, 1, 3])  # (N, T, H, hd)
    merged = graph.node("Reshape", [heads_out, graph.int_constant([0, 0, d], "shape")])
    return graph.convert(layer.out_proj, merged, shape, "out_proj")


def _gates(w: np.ndarray, order: tuple[int, ...], hidden: int) -> np.ndarray:
    """The gate blocks of the last axis of ``w`` (G*H wide) in ``order``."""
    return np.concatenate([w[..., g * hidden : (g + 1) * hidden] for g in order], axis=-1)


def _recurrent(
    graph: Graph, layer: RecurrentBase, x: str, op: str, order: tuple[int, ...], **attributes: object
) -> str:
    if layer.initial_state is not None:
        raise ValueError(
            f"cannot export {type(layer).__name__} (at {graph.path}) with an initial_state: "
            "the exported layer starts every sequence from zeros; set initial_state = None"
        )
    hidden = layer.hidden_size
    # ONNX keeps (out, in) matrices with a leading num_directions axis: the transposes of glassnet's
    W = graph.constant(_gates(layer.weight_ih.data, order, hidden).T[None], "W")
    R = graph.constant(_gates(layer.weight_hh.data, order, hidden).T[None], "R")
    inputs = [graph.node("Transpose", [x], perm=[1, 0, 2]), W, R]  # time major: (T, N, F)
    if layer.bias_ih is not None and layer.bias_hh is not None:
        b = np.concatenate([_gates(layer.bias_ih.data, order, hidden), _gates(layer.bias_hh.data, order, hidden)])
        inputs.append(graph.constant(b[None], "B"))
    y = graph.node(op, inputs, hidden_size=hidden, **attributes)  # Y: (T, num_directions = 1, N, H)
    y = graph.node("Squeeze", [y, graph.int_constant([1], "axes")])
    return graph.node("Transpose", [y], perm=[1, 0, 2])


@register_converter(RNN)
def _rnn(graph: Graph, layer: RNN, x: str, shape: tuple[int, ...]) -> str:
    return _recurrent(graph, layer, x, "RNN", (0,), activations=["Tanh" if layer.nonlinearity == "tanh" else "Relu"])


@register_converter(LSTM)
def _lstm(graph: Graph, layer: LSTM, x: str, shape: tuple[int, ...]) -> str:
    return _recurrent(graph, layer, x, "LSTM", _LSTM_ORDER)


@register_converter(GRU)
def _gru(graph: Graph, layer: GRU, x: str, shape: tuple[int, ...]) -> str:
    return _recurrent(graph, layer, x, "GRU", _GRU_ORDER, linear_before_reset=1)


@register_converter(GPT)
def _gpt(graph: Graph, model: GPT, x: str, shape: tuple[int, ...]) -> str:
    wte = graph.constant(model.wte.weight.data, "wte")
    tokens = graph.node("Gather", [wte, x], axis=0)  # (N, T, D)
    where = graph.constant(model.wpe.weight.data, "wpe")
    h = graph.node("Add", [tokens, graph.node("Gather", [where, _positions(graph, x)], axis=0)])  # + (T, D)
    d_shape = (*shape, model.n_embd)
    h = graph.convert(model.blocks, h, d_shape, "blocks")
    h = graph.convert(model.ln_f, h, d_shape, "ln_f")
    return graph.node("MatMul", [h, graph.node("Transpose", [wte], perm=[1, 0])])  # tied: x @ wte.T
