"""Multi-head self-attention, with a key/value cache for generating one token at a time.

For one head with queries q, keys k and values v of shape (T, hd):
    s = q @ k.T / sqrt(hd)                 scores, (T, T); causal: s[i, j] = -inf for j > i
    p = softmax(s) along the last axis     attention weights, each row sums to 1
    o = p @ v                              (T, hd)
Backward, with do = dL/do:
    dv = p.T @ do
    dp = do @ v.T
    ds = p * (dp - sum(dp * p, axis=-1))   softmax's Jacobian, diag(p) - p p.T, applied row by row
    dq = ds @ k / sqrt(hd)
    dk = ds.T @ q / sqrt(hd)
Masked entries have p = 0, so ds is 0 there without any extra masking.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet._checks import as_rng, check_dtype, positive_int, short
from glassnet.layers._base import input_gradient, missing_cache
from glassnet.layers.activations import softmax
from glassnet.layers.linear import Linear
from glassnet.module import Module
from glassnet.registry import register_layer

__all__ = ["MultiHeadAttention"]


@register_layer
class MultiHeadAttention(Module):
    """Self-attention with ``num_heads`` heads: ``y = out_proj(concat_h softmax(q_h k_h.T / sqrt(hd)) v_h)``.

    ``q, k, v = split(in_proj(x))``: one Linear (D -> 3D) makes queries, keys
    and values for every head at once (hd = D / num_heads per head); each head
    attends as in the module docstring, the heads' outputs are concatenated
    and ``out_proj`` (D -> D) mixes them. The attention itself equals PyTorch's
    ``F.scaled_dot_product_attention(q, k, v, is_causal=causal)`` on the same
    projections.

    For generation, ``use_cache(True)`` (eval mode only) keeps the keys and
    values of every token seen so far: each forward call then takes only the
    new tokens (N, t, D) and attends over the cached ones too, so producing a
    token costs one position, not the whole prefix. ``reset_cache()`` empties it.

    Args:
        embed_dim: D, the model width; must be divisible by num_heads.
        num_heads: H, the number of heads.
        causal: position i attends only to positions <= i (a language model's mask).
        bias: the two projections learn biases.
        rng: ``np.random.Generator`` or int seed for the projections' weights.
        dtype: float32 (default) or float64.

    Shape:
        x: (N, T, D) -> y: (N, T, D).
        in_proj.weight: (D, 3D), columns [q | k | v], head h in columns h*hd:(h+1)*hd
        of each; out_proj.weight: (D, D). PyTorch's nn.MultiheadAttention keeps
        in_proj_weight as (3D, D): transpose when comparing.

    Backward (dy = dL/dy):
        do = out_proj.backward(dy), split into heads
        dv = p.T @ do;  dp = do @ v.T;  ds = p * (dp - sum(dp * p, -1))
        dq = ds @ k / sqrt(hd);  dk = ds.T @ q / sqrt(hd)
        dx = in_proj.backward([dq | dk | dv])

    Example:
        >>> import numpy as np, glassnet as gn
        >>> attn = gn.MultiHeadAttention(8, 2, causal=True, rng=0)
        >>> attn(np.ones((3, 5, 8), dtype=np.float32)).shape
        (3, 5, 8)
    """

    per_sample = True  # in eval mode (see Module.samples_independent)

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        causal: bool = False,
        bias: bool = True,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.embed_dim = positive_int(embed_dim, "embed_dim")
        self.num_heads = positive_int(num_heads, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim must be divisible by num_heads. Received: embed_dim={embed_dim}, num_heads={num_heads}"
            )
        for name, flag in (("causal", causal), ("bias", bias)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False. Received: {name}={short(flag)}")
        self.causal = bool(causal)
        self.dtype = check_dtype(dtype)
        gen = as_rng(rng)
        d = self.embed_dim
        self.in_proj = Linear(d, 3 * d, bias=bias, rng=gen, dtype=self.dtype)
        self.out_proj = Linear(d, d, bias=bias, rng=gen, dtype=self.dtype)
        self.head_dim = d // self.num_heads
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # q, k, v, p
        self._caching = False
        self._kv: tuple[np.ndarray, np.ndarray] | None = None  # the generation cache, (N, H, T, hd) each

    # -- the key/value cache -------------------------------------------------
    def use_cache(self, flag: bool = True) -> None:
        """Keep keys and values between forward calls (generation); eval mode only."""
        self._caching = bool(flag)
        self._kv = None

    def reset_cache(self) -> None:
        """Forget the cached keys and values (start a new sequence)."""
        self._kv = None

    def samples_independent(self) -> bool:
        return not self._caching  # a generation cache holds the whole batch's keys and values

    @property
    def cache_length(self) -> int:
        """The number of positions in the key/value cache."""
        return 0 if self._kv is None else self._kv[0].shape[2]

    # -- computation ---------------------------------------------------------
    def _check(self, x: np.ndarray, what: str) -> None:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{what} expected a numpy array. Received: {type(x).__name__}")
        if x.ndim != 3 or x.shape[2] != self.embed_dim:
            raise ValueError(f"{what} expected input of shape (N, T, {self.embed_dim}), got {x.shape}")

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        self._check(x, name)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x, "MultiHeadAttention.forward")
        if self._caching and self.training:
            raise RuntimeError("MultiHeadAttention: the key/value cache is for generation; call model.eval() first")
        n, t, d = x.shape
        h, hd = self.num_heads, self.head_dim
        qkv = self.in_proj.forward(x).reshape(n, t, 3, h, hd)
        # (3, N, H, T, hd): one transpose, then q, k, v are views of it
        qkv = qkv.transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        offset = 0
        if self._caching:
            if self._kv is not None:
                offset = self._kv[0].shape[2]
                k = np.concatenate((self._kv[0], k), axis=2)
                v = np.concatenate((self._kv[1], v), axis=2)
            self._kv = (np.ascontiguousarray(k), np.ascontiguousarray(v))
        s = q @ k.transpose(0, 1, 3, 2)
        s *= 1.0 / math.sqrt(hd)
        if self.causal:
            # query i (absolute position offset + i) sees keys j <= offset + i
            future = np.arange(k.shape[2])[None, :] > (offset + np.arange(t))[:, None]
            s[..., future] = -np.inf
        p = softmax(s, out=s)  # in place on the scores
        o = p @ v  # (N, H, T, hd)
        y = self.out_proj.forward(o.transpose(0, 2, 1, 3).reshape(n, t, d))
        self._cache = (q, k, v, p) if self.training else None
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if self._cache is None:
            raise missing_cache(self)
        q, k, v, p = self._cache
        n, h, t, hd = q.shape
        do = input_gradient(self.out_proj.backward(dy), self.out_proj).reshape(n, t, h, hd).transpose(0, 2, 1, 3)
        dqkv = np.empty((3, n, h, t, hd), dtype=q.dtype)
        np.matmul(p.transpose(0, 1, 3, 2), do, out=dqkv[2])  # dv = p.T @ do
        dp = do @ v.transpose(0, 1, 3, 2)
        # ds = p * (dp - sum(dp * p)): the softmax Jacobian, row by row, in place in dp
        dp -= np.einsum("nhij,nhij->nhi", dp, p)[..., None]
        dp *= p
        dp *= 1.0 / math.sqrt(hd)  # the scale of s, once, for both dq and dk
        np.matmul(dp, k, out=dqkv[0])  # dq = ds @ k / sqrt(hd)
        np.matmul(dp.transpose(0, 1, 3, 2), q, out=dqkv[1])  # dk = ds.T @ q / sqrt(hd)
        # back to (N, T, 3, H, hd) = (N, T, 3D), the layout in_proj produced
        return self.in_proj.backward(dqkv.transpose(1, 3, 0, 2, 4).reshape(n, t, 3 * self.embed_dim))

    def set_input_grad(self, flag: bool) -> None:
        self.input_grad = bool(flag)
        self.in_proj.set_input_grad(flag)

    def get_config(self) -> dict[str, Any]:
        return {
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "causal": self.causal,
            "bias": self.in_proj.bias is not None,
            "dtype": self.dtype.name,
        }
