"""Ready-made architectures built from glassnet's layers: a GPT, as nanoGPT builds it.

The GPT is composition: a token and a position Embedding, ``n_layer`` blocks of
two Residuals each, pre-LayerNorm as in GPT-2,

    x = x + attn(ln_1(x))      Residual(Sequential(LayerNorm, MultiHeadAttention(causal=True)))
    x = x + mlp(ln_2(x))       Residual(Sequential(LayerNorm, Linear(D, 4D), GELU, Linear(4D, D)))

a final LayerNorm, and an output layer that shares the token embedding's
matrix (weight tying): ``logits = x @ wte.T``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet._checks import as_rng, check_dtype, positive_float, positive_int, short
from glassnet.layers import GELU, Embedding, LayerNorm, Linear, MultiHeadAttention, Residual
from glassnet.layers._base import input_gradient, loading, missing_cache, placeholder_arrays
from glassnet.layers.embedding import check_ids
from glassnet.memory import keep_freed_memory
from glassnet.models.sampling import generation_args, sample
from glassnet.module import Module, Sequential
from glassnet.registry import register_layer

__all__ = ["GPT", "gpt", "gpt_param_groups"]


def _block(
    d: int, h: int, bias: bool, rng: np.random.Generator, dtype: np.dtype, gelu: str = "none", eps: float = 1e-5
) -> list[Module]:
    attn = Residual(
        Sequential(LayerNorm(d, eps, bias=bias, dtype=dtype), MultiHeadAttention(d, h, True, bias, rng, dtype))
    )
    mlp = Residual(
        Sequential(
            LayerNorm(d, eps, bias=bias, dtype=dtype),
            Linear(d, 4 * d, bias=bias, rng=rng, dtype=dtype),
            GELU(gelu),
            Linear(4 * d, d, bias=bias, rng=rng, dtype=dtype),
        )
    )
    return [attn, mlp]


@register_layer  # so that glassnet.load can rebuild a saved GPT
class GPT(Module):
    """A decoder-only transformer language model (GPT-2's layout, nanoGPT's code).

    ``logits = ln_f(blocks(wte[ids] + wpe[positions])) @ wte.T``, each block
    ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))`` (see the module docstring).
    Initialised as nanoGPT: every weight N(0, 0.02), the two projections that
    write into the residual stream (attention's out_proj, the MLP's second
    Linear) N(0, 0.02 / sqrt(2 n_layer)), biases 0, LayerNorm gains 1.

    Args:
        vocab_size: V, the number of token ids.
        context: the longest sequence the model reads (nanoGPT's block_size).
        n_layer, n_head, n_embd: blocks, attention heads, model width D.
        bias: biases in the Linears and LayerNorms (nanoGPT's default: none).
        rng: ``np.random.Generator`` or int seed for the initial weights.
        dtype: float32 (default) or float64.
        gelu_approximate: the MLP's GELU, "none" (exact) or "tanh" (GPT-2's, see ``GELU``).
        layer_norm_eps: every LayerNorm's eps (GPT-2's config calls it layer_norm_epsilon).

    Shape:
        ids: (N, T) integers in [0, V), T <= context -> logits: (N, T, V).
        wte.weight: (V, D), also the output layer; wpe.weight: (context, D).

    Backward (dlogits = dL/dlogits; x the output of ln_f):
        dwte += dlogits.T @ x                      (the output layer's share of the tied matrix)
        dx = dlogits @ wte
        dx = blocks.backward(ln_f.backward(dx))
        dwpe[t] += sum over n of dx[n, t];  dwte[ids] += dx   (scatter-add, Embedding's backward)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> model = gn.models.gpt(vocab_size=10, context=8, n_layer=1, n_head=2, n_embd=8, rng=0)
        >>> model(np.array([[1, 2, 3]])).shape
        (1, 3, 10)
    """

    per_sample = True  # in eval mode, without a generation cache (see Module.samples_independent)

    casts_input = False  # token ids stay integers

    def __init__(
        self,
        vocab_size: int,
        context: int,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        bias: bool = False,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
        gelu_approximate: str = "none",
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.gelu_approximate = GELU(gelu_approximate).approximate  # checked by GELU
        self.layer_norm_eps = positive_float(layer_norm_eps, "layer_norm_eps")
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        self.context = positive_int(context, "context")
        self.n_layer = positive_int(n_layer, "n_layer")
        self.n_head = positive_int(n_head, "n_head")
        self.n_embd = positive_int(n_embd, "n_embd")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be divisible by n_head. Received: n_embd={n_embd}, n_head={n_head}")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False. Received: bias={short(bias)}")
        self.bias = bool(bias)
        self.dtype = check_dtype(dtype)
        gen = as_rng(rng)
        d = self.n_embd
        self.wte = Embedding(self.vocab_size, d, std=0.02, rng=gen, dtype=self.dtype)
        self.wpe = Embedding(self.context, d, std=0.02, rng=gen, dtype=self.dtype)
        layers: list[Module] = []
        for _ in range(self.n_layer):
            layers += _block(d, self.n_head, self.bias, gen, self.dtype, self.gelu_approximate, self.layer_norm_eps)
        self.blocks = Sequential(*layers)
        self.ln_f = LayerNorm(d, self.layer_norm_eps, bias=self.bias, dtype=self.dtype)
        if not loading():  # a file's values replace these: nothing to draw
            self._init_weights(gen)
        self._x: np.ndarray | None = None
        self._offset = 0  # positions already in the attention caches (generation)
        self._caching = False

    @classmethod
    def unfilled(cls, **config: Any) -> GPT:
        """A GPT whose parameters are allocated (``np.empty``) but not drawn: for weights read from a file next.

        ``config``: the constructor's arguments. Nothing random is drawn, and no
        initial array is built only to be overwritten.
        """
        with placeholder_arrays(2**62):  # the caller has checked the sizes against its file
            model = cls(**config)
        for p in model.parameters():
            p.data = np.empty(p.shape, dtype=p.data.dtype)
        return model

    def _init_weights(self, rng: np.random.Generator) -> None:
        std, proj_std = 0.02, 0.02 / math.sqrt(2 * self.n_layer)
        for block in self.blocks.layers:
            inner = block.module  # type: ignore[attr-defined]
            for layer in inner.layers:
                linears = [layer.in_proj, layer.out_proj] if isinstance(layer, MultiHeadAttention) else [layer]
                for lin in linears:
                    if isinstance(lin, Linear):
                        lin.weight.data[...] = rng.normal(0.0, std, lin.weight.shape)
            # the projections back into the residual stream: scaled, as GPT-2
            last = inner.layers[-1]
            last = last.out_proj if isinstance(last, MultiHeadAttention) else last
            last.weight.data[...] = rng.normal(0.0, proj_std, last.weight.shape)

    # -- shapes --------------------------------------------------------------
    def _check(self, ids: Any, name: str) -> np.ndarray:
        if not isinstance(ids, np.ndarray):
            raise TypeError(f"{name} must be a numpy array of integer token ids. Received: {type(ids).__name__}")
        if ids.ndim != 2:
            raise ValueError(f"{name} must have shape (N, T) of token ids. Received: {name} with shape {ids.shape}")
        check_ids(ids, self.vocab_size, name)
        if self._offset + ids.shape[1] > self.context:
            extra = f" after the {self._offset} cached positions" if self._offset else ""
            raise ValueError(
                f"{name} has {ids.shape[1]} positions{extra}, more than the model's context of {self.context}"
            )
        return ids

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        self._check(x, name)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*input_shape, self.vocab_size)

    def summary_parts(self, input_shape: tuple[int, ...]) -> list[tuple[str, Module | str, tuple[int, ...]]]:
        """The parts ``glassnet.summary`` shows, in forward order.

        Each is ``(name, module, the shape it takes)``, or for the tied output layer, which owns no
        parameters, ``(name, description, the shape it gives)``.
        """
        n, t = input_shape[0], input_shape[1]
        d, v = self.n_embd, self.vocab_size
        return [
            ("wte", self.wte, (n, t)),
            ("wpe", self.wpe, (1, t)),  # positions 0..T-1, added to every sample
            ("blocks", self.blocks, (n, t, d)),
            ("ln_f", self.ln_f, (n, t, d)),
            ("head", f"Linear({d}, {v}, bias=False) tied to wte.weight", (n, t, v)),
        ]

    # -- computation -----------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        ids = self._check(x, "GPT.forward ids")
        t = ids.shape[1]
        positions = np.arange(self._offset, self._offset + t)
        h = self.wte.forward(ids)
        h += self.wpe.forward(positions)  # (T, D) broadcast over the batch
        h = self.ln_f.forward(self.blocks.forward(h))
        if self._caching:
            self._offset += t
        self._x = h if self.training else None
        # the output layer is the token embedding, transposed (weight tying)
        return (h.reshape(-1, self.n_embd) @ self.wte.weight.data.T).reshape(*ids.shape, self.vocab_size)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        h = self._x
        if h is None:
            raise missing_cache(self)
        d = self.n_embd
        dy2 = dy.reshape(-1, self.vocab_size)
        self.wte.weight.grad += dy2.T @ h.reshape(-1, d)
        dh = (dy2 @ self.wte.weight.data).reshape(h.shape)
        dh = input_gradient(self.ln_f.backward(dh), self.ln_f)
        dh = input_gradient(self.blocks.backward(dh), self.blocks)  # the embeddings below learn from it
        self.wpe.backward(dh.sum(axis=0))
        self.wte.backward(dh)
        return None  # token ids have no gradient

    # -- generation ------------------------------------------------------------
    def use_cache(self, flag: bool = True) -> None:
        """Keep every attention layer's keys and values between calls (eval mode): each call takes new tokens only."""
        self._caching = bool(flag)
        self._offset = 0
        for m in self.modules():
            if isinstance(m, MultiHeadAttention):
                m.use_cache(flag)

    def reset_cache(self) -> None:
        self._offset = 0
        for m in self.modules():
            if isinstance(m, MultiHeadAttention):
                m.reset_cache()

    def generate(
        self,
        ids: np.ndarray,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> np.ndarray:
        """Sample ``length`` new tokens after the prompt ``ids`` (N, T0), one at a time, incrementally.

        Each step runs one new position through the model, attending over the
        key/value cache. The model sees at most ``context`` positions: when the
        cache is full it is rebuilt from the last ``context // 2`` tokens (one
        forward pass over them every ``context // 2`` tokens), and a prompt
        longer than the context is read from its last ``context`` tokens.

        Sampling: ``softmax(logits / temperature)`` over the ``top_k`` largest
        logits (all if None), drawn from ``rng``: the same seed, the same text.
        A temperature below 1e-6 takes the largest logit (greedy decoding).

        Returns:
            int64 ids (N, length), the new tokens only.
        """
        ids, length, temperature, top_k = generation_args(ids, length, temperature, top_k, self.vocab_size)
        gen = as_rng(rng)
        keep_freed_memory()  # each token's logits reuse the last one's pages (glassnet.memory)
        was_training = self.training
        self.eval()
        self.use_cache(True)
        out = np.empty((ids.shape[0], length), dtype=np.int64)
        try:
            window = ids[:, -self.context :]
            logits = self.forward(window)[:, -1]
            for i in range(length):
                token = sample(logits, temperature, top_k, gen)
                out[:, i] = token
                window = np.concatenate((window, token[:, None]), axis=1)
                if self._offset >= self.context:  # the cache is full: restart it from the recent half
                    self.reset_cache()
                    window = window[:, -max(1, self.context // 2) :]
                    logits = self.forward(window)[:, -1]
                else:
                    logits = self.forward(token[:, None])[:, -1]
        finally:
            self.use_cache(False)
            self.train(was_training)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "context": self.context,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_embd": self.n_embd,
            "bias": self.bias,
            "dtype": self.dtype.name,
            "gelu_approximate": self.gelu_approximate,
            "layer_norm_eps": self.layer_norm_eps,
        }


def gpt(
    vocab_size: int,
    context: int,
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int = 128,
    bias: bool = False,
    rng: np.random.Generator | int | None = None,
    dtype: Any = np.float32,
) -> GPT:
    """nanoGPT's GPT; the defaults are its Tiny Shakespeare CPU model (4 layers, 4 heads, 128 wide).

    See ``GPT`` for the arguments.

    Example:
        >>> import glassnet as gn
        >>> model = gn.models.gpt(vocab_size=65, context=64, rng=0)
        >>> sum(p.data.size for p in model.parameters())
        804096
    """
    return GPT(vocab_size, context, n_layer, n_head, n_embd, bias, rng, dtype)


def gpt_param_groups(model: Module, weight_decay: float = 0.1) -> list[dict[str, Any]]:
    """nanoGPT's two AdamW groups: every matrix (embeddings, Linear weights) decays; vectors (LayerNorm, biases) don't.

    Example:
        >>> import glassnet as gn
        >>> model = gn.models.gpt(vocab_size=65, context=64, rng=0)
        >>> [len(g["params"]) for g in gn.models.gpt_param_groups(model)]
        [18, 9]
    """
    params = model.parameters()
    return [
        {"params": [p for p in params if p.data.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.data.ndim < 2], "weight_decay": 0.0},
    ]
