"""2-D convolution over NCHW images: im2col and one matrix product."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from glassnet import init as initializers
from glassnet._checks import check_dtype, int_pair, positive_int, strict_bool
from glassnet.layers._base import expect_ndim, init_name, initial_weight, missing_cache, new_array
from glassnet.module import Module, Parameter
from glassnet.registry import register_layer

__all__ = ["Conv2d"]

# In eval mode a batch is convolved in chunks whose columns and product take
# at most this many bytes (at least one sample per chunk), so predicting in
# large batches keeps a bounded workspace instead of one sized to the batch.
EVAL_WORKSPACE_BYTES = 16 * 2**20
# col2im adds into this many channels of the padded gradient at a time (8 channels of a
# batch of 64 14x14 images are 0.6 MB, which stay in a core's L2 cache through the 9 adds)
COL2IM_CHANNELS = 8
# Padding past kernel_size - 1 (PyTorch allows any) adds only outputs that see zeros. A pass
# whose workspace that padding makes more than PADDING_COST_FACTOR times the workspace without
# it, and larger than PADDING_WORKSPACE_BYTES, is refused: a model file of a few bytes must not
# make a prediction cost gigabytes.
PADDING_COST_FACTOR = 16
PADDING_WORKSPACE_BYTES = 256 * 2**20


class _Geometry(NamedTuple):
    """Sizes of one forward pass, derived from the input shape."""

    N: int
    H: int
    W: int
    Hp: int  # padded height and width
    Wp: int
    Ho: int  # output height and width, H' and W'
    Wo: int
    G: int  # columns per output row on the grid the product computes (G >= Wo)


@register_layer
class Conv2d(Module):
    """2-D convolution (cross-correlation, as in PyTorch) over NCHW images.

    With ``xp`` the input zero-padded by ``padding`` on each side::

        y[n, o, oh, ow] = b[o] + sum over c, i, j of W[o, c, i, j] * xp[n, c, oh*sH + i, ow*sW + j]

    computed as im2col and one matrix product::

        cols[(c, i, j), (n, oh, ow)] = xp[n, c, oh*sH + i, ow*sW + j]
        y2d = W2d @ cols + b[:, None]        W2d = W.reshape(C_out, C_in*kH*kW)

    ``cols`` is filled with one strided copy per kernel offset (i, j), from a
    padded copy of x kept channel first, (C_in, N, Hp, Wp), so that both
    arrays are walked in the same order. A row of ones under ``cols`` and ``b``
    as a last column of ``W2d`` put the bias into the same product. ``y2d`` is
    (C_out, N*H'*W'): one transposing copy gives NCHW. With stride 1 each
    output row is computed on the full padded width Wp (the Wp - W' extra
    columns are scratch and dropped): then every copy into ``cols`` and every
    add back in col2im is one contiguous run per (channel, sample) instead of
    one short run per output row. In eval mode a large batch is convolved a
    chunk of samples at a time (``EVAL_WORKSPACE_BYTES`` of columns at most),
    so predicting in large batches keeps a bounded workspace.

    Args:
        in_channels: channels of the input, C_in.
        out_channels: channels of the output (number of filters), C_out.
        kernel_size: (kH, kW), or an int for a square kernel.
        stride: step between windows, (sH, sW) or an int.
        padding: zeros added on each side, (pH, pW) or an int: any that PyTorch takes. Past
            kernel_size - 1 it only adds outputs that see zeros; a pass whose workspace it
            makes more than 16 times larger, and larger than 256 MiB, is refused.
        bias: learn an additive bias per output channel.
        init: weight initialiser, a name from ``glassnet.init`` or a callable
            ``(shape, fan_in, fan_out, rng, dtype)`` with fan_in = C_in*kH*kW and
            fan_out = C_out*kH*kW; biases start at zero.
        rng: ``np.random.Generator`` or int seed for the initialiser.
        dtype: float32 (default) or float64; inputs are computed in this dtype.

    Shape:
        x: (N, C_in, H, W) -> y: (N, C_out, H', W') with
        H' = floor((H + 2*pH - kH) / sH) + 1 and W' = floor((W + 2*pW - kW) / sW) + 1.
        weight: (C_out, C_in, kH, kW), the layout of PyTorch and ONNX; bias: (C_out,).

    Backward (dy = dL/dy, dy2d = dy laid out like y2d):
        dW = (dy2d @ cols.T).reshape(W.shape)
        db = dy2d.sum(axis=1)                (the column of dy2d @ [cols; 1].T that meets the ones row)
        dcols = W2d.T @ dy2d
        dx = col2im(dcols): every entry of dcols is added back to the xp
             position it was copied from (one shifted add per kernel offset),
             then the padding is cut off.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> conv = gn.Conv2d(3, 8, kernel_size=3, padding=1, rng=0)
        >>> conv(np.ones((2, 3, 5, 5), dtype=np.float32)).shape
        (2, 8, 5, 5)
    """

    per_sample = True  # in eval mode (see Module.samples_independent)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        init: str | initializers.Initializer = "he_uniform",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = int_pair(kernel_size, "kernel_size")
        self.stride = int_pair(stride, "stride")
        # Any padding PyTorch takes; what a huge one would cost is bounded in _geometry, per input.
        self.padding = int_pair(padding, "padding", allow_zero=True)
        has_bias = strict_bool(bias, "bias")
        self.dtype = check_dtype(dtype)
        self.init = init
        draw = initializers.get(init)
        kH, kW = self.kernel_size
        shape = (self.out_channels, self.in_channels, kH, kW)
        fan_in, fan_out = self.in_channels * kH * kW, self.out_channels * kH * kW
        self.weight = Parameter(initial_weight(draw, shape, fan_in, fan_out, rng, self.dtype))
        self.bias = Parameter(new_array(self.out_channels, self.dtype)) if has_bias else None
        self._cache: tuple[_Geometry, dict[str, np.ndarray]] | None = None
        # Work arrays reused from call to call, for the two most recent input
        # shapes (a training batch and the last, smaller one; or eval's chunk
        # and its remainder); never returned to the caller.
        self._workspaces: dict[tuple[int, ...], dict[str, np.ndarray]] = {}

    # -- shapes -------------------------------------------------------------
    def _layout(self) -> str:
        return f"(N, {self.in_channels}, H, W)"

    def _geometry(self, shape: tuple[int, ...]) -> _Geometry:
        N, _, H, W = shape
        (kH, kW), (sH, sW), (pH, pW) = self.kernel_size, self.stride, self.padding
        Hp, Wp = H + 2 * pH, W + 2 * pW
        if Hp < kH or Wp < kW:
            raise ValueError(
                f"{type(self).__name__} got input of spatial size {H}x{W}, which padded by {self.padding} "
                f"is {Hp}x{Wp}: smaller than kernel_size={self.kernel_size}"
            )
        Ho, Wo = (Hp - kH) // sH + 1, (Wp - kW) // sW + 1
        G = Wp if (sH, sW) == (1, 1) else Wo
        g = _Geometry(N, H, W, Hp, Wp, Ho, Wo, G)
        if pH >= kH or pW >= kW:
            self._check_padding_cost(g)
        return g

    def _workspace_bytes(self, g: _Geometry) -> int:
        """Bytes of the padded copy, the columns and the product for one pass over geometry ``g``."""
        K = self.in_channels * self.kernel_size[0] * self.kernel_size[1] + 1
        padded = self.in_channels * g.N * (g.Hp + 1) * g.Wp
        return (padded + (K + self.out_channels) * g.N * g.Ho * g.G) * self.dtype.itemsize

    def _check_padding_cost(self, g: _Geometry) -> None:
        """Refuse padding past kernel_size - 1 whose workspace would dwarf the unpadded one's.

        Such padding only adds outputs that see nothing but zeros, and a few bytes of a model
        file could otherwise make one prediction cost gigabytes.
        """
        (kH, kW), (sH, sW), (pH, pW) = self.kernel_size, self.stride, self.padding
        nH, nW = min(pH, kH - 1), min(pW, kW - 1)
        Hp, Wp = g.H + 2 * nH, g.W + 2 * nW
        Ho, Wo = (Hp - kH) // sH + 1, (Wp - kW) // sW + 1
        usual = self._workspace_bytes(_Geometry(g.N, g.H, g.W, Hp, Wp, Ho, Wo, Wp if (sH, sW) == (1, 1) else Wo))
        needed = self._workspace_bytes(g)
        if needed > max(PADDING_WORKSPACE_BYTES, PADDING_COST_FACTOR * usual):
            raise ValueError(
                f"{type(self).__name__} with padding={self.padding} and kernel_size={self.kernel_size} needs a "
                f"workspace of {needed / 2**20:,.0f} MiB for input {(g.N, self.in_channels, g.H, g.W)}: more than "
                f"{PADDING_COST_FACTOR} times the {usual / 2**20:,.1f} MiB of padding at most kernel_size - 1, and "
                f"past the {PADDING_WORKSPACE_BYTES // 2**20} MiB allowed. Padding beyond kernel_size - 1 only adds "
                "outputs that see zeros: lower it (or pass fewer samples at a time)"
            )

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        shape = tuple(np.shape(x))
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"{name} has shape {shape}, but {self!r} expects {self._layout()}")
        self._geometry(shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 4 or input_shape[1] != self.in_channels:
            raise ValueError(f"{self!r} expects input of shape {self._layout()}, got {tuple(input_shape)}")
        g = self._geometry(tuple(input_shape))
        return (g.N, self.out_channels, g.Ho, g.Wo)

    # -- work arrays ----------------------------------------------------------
    def _workspace(self, shape: tuple[int, ...], g: _Geometry) -> dict[str, np.ndarray]:
        ws = self._workspaces.get(shape)
        if ws is None:
            K = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
            M = g.N * g.Ho * g.G
            # One extra zero row under the padded image: with stride 1 the
            # scratch columns of the last output row run past the image's end.
            padded = np.zeros((self.in_channels, g.N, g.Hp + 1, g.Wp), dtype=self.dtype)
            cols = np.empty((K + (self.bias is not None), M), dtype=self.dtype)
            cols[K:] = 1  # the bias row, never overwritten
            ws = {"padded": padded, "cols": cols, "y2d": np.empty((self.out_channels, M), dtype=self.dtype)}
            # kept for the next call of the same shape (training and predict
            # alike): fresh buffers would cost a page fault per 4 KiB each call
            if len(self._workspaces) >= 2:
                del self._workspaces[next(iter(self._workspaces))]
            self._workspaces[shape] = ws
        return ws

    def _backward_workspace(self, ws: dict[str, np.ndarray], g: _Geometry) -> dict[str, np.ndarray]:
        if "dy2d_T" not in ws:
            K = ws["cols"].shape[0] - (self.bias is not None)
            # dy2d.T starts at zero: its scratch rows must stay 0 so that they
            # add nothing to dW, db or dcols.
            ws["dy2d_T"] = np.zeros((g.N * g.Ho * g.G, self.out_channels), dtype=self.dtype)
            ws["dcols"] = np.empty((K, g.N * g.Ho * g.G), dtype=self.dtype)
            ws["dpadded"] = np.empty_like(ws["padded"])
        return ws

    def _windows(self, padded: np.ndarray, i: int, j: int, g: _Geometry) -> np.ndarray:
        """The view ``v[c, n, oh, ow] = padded[c, n, oh*sH + i, ow*sW + j]``, of shape (C, N, H', G).

        With stride 1, G = Wp and a row's last columns run on into the next
        image row (scratch values); the view is then contiguous along (oh, ow).
        """
        sC, sN, sR, sE = padded.strides
        sH, sW = self.stride
        return as_strided(padded[:, :, i:, j:], shape=(len(padded), g.N, g.Ho, g.G), strides=(sC, sN, sR * sH, sE * sW))

    def _matrix(self) -> np.ndarray:
        """W2d, with b appended as a last column when there is a bias."""
        W2d = self.weight.data.reshape(self.out_channels, -1)
        if self.bias is None:
            return W2d
        return np.concatenate([W2d, self.bias.data[:, None]], axis=1)

    # -- computation ----------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = W ⋆ x + b by im2col and one matrix product (the math is in the class docstring)."""
        expect_ndim(self, x, 4, self._layout())
        if x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d.forward expected input of shape {self._layout()}, got {x.shape}")
        g = self._geometry(x.shape)
        y = np.empty((g.N, self.out_channels, g.Ho, g.Wo), dtype=self.dtype)
        if self.training:  # backward needs the columns of the whole batch
            self._cache = (g, self._convolve(x, y))
            return y
        # Eval mode caches nothing, so a large batch goes through in chunks whose
        # columns fit in EVAL_WORKSPACE_BYTES: the workspace kept between calls stays bounded.
        K = self.in_channels * self.kernel_size[0] * self.kernel_size[1] + (self.bias is not None)
        per_sample = (K + self.out_channels) * g.Ho * g.G * self.dtype.itemsize
        chunk = max(1, EVAL_WORKSPACE_BYTES // per_sample)
        for start in range(0, g.N, chunk):
            self._convolve(x[start : start + chunk], y[start : start + chunk])
        self._cache = None
        return y

    def _convolve(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """y = conv(x) through the workspace for x's shape, which holds ``cols`` afterwards."""
        g = self._geometry(x.shape)
        ws = self._workspace(x.shape, g)
        (kH, kW), (pH, pW) = self.kernel_size, self.padding
        padded, cols = ws["padded"], ws["cols"]
        padded[:, :, pH : pH + g.H, pW : pW + g.W] = x.transpose(1, 0, 2, 3)  # the border stays zero

        # im2col: cols[(c, i, j), (n, oh, ow)] = padded[c, n, oh*sH + i, ow*sW + j]
        cols6 = cols[: self.in_channels * kH * kW].reshape(self.in_channels, kH, kW, g.N, g.Ho, g.G)
        for i in range(kH):
            for j in range(kW):
                cols6[:, i, j] = self._windows(padded, i, j, g)
        y2d = np.matmul(self._matrix(), cols, out=ws["y2d"])
        y[...] = y2d.reshape(self.out_channels, g.N, g.Ho, g.G)[..., : g.Wo].transpose(1, 0, 2, 3)
        return ws

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if self._cache is None:
            raise missing_cache(self)
        g, ws = self._cache
        expected = (g.N, self.out_channels, g.Ho, g.Wo)
        if dy.shape != expected:
            raise ValueError(f"Conv2d.backward expected dy of shape {expected}, got {dy.shape}")
        ws = self._backward_workspace(ws, g)
        (kH, kW), (pH, pW) = self.kernel_size, self.padding
        K = self.in_channels * kH * kW
        cols, dy2d_T, dcols, dpadded = ws["cols"], ws["dy2d_T"], ws["dcols"], ws["dpadded"]
        # dy2d is kept transposed, (N*H'*G, C_out): then both factors of dW's product
        # are walked along their rows, and it takes 0.5-0.7x the time of dy2d @ cols.T
        dy2d_T.reshape(g.N, g.Ho, g.G, self.out_channels)[:, :, : g.Wo] = dy.transpose(0, 2, 3, 1)

        dWb = cols @ dy2d_T  # (K + 1, C_out): dW.T, then db from the ones row
        self.weight.grad += dWb[:K].T.reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += dWb[K]
        if not self.input_grad:
            return None  # see Module.set_input_grad

        # a contiguous copy of W2d.T (small) makes this product a little faster than the transposed view
        W2d_T = np.ascontiguousarray(self.weight.data.reshape(self.out_channels, K).T)
        np.matmul(W2d_T, dy2d_T.T, out=dcols)
        # col2im: add each kernel offset's slice of dcols back where im2col took it from,
        # COL2IM_CHANNELS channels at a time, so that their part of dpadded stays in cache
        # through the kH*kW adds
        dpadded.fill(0)
        dcols6 = dcols.reshape(self.in_channels, kH, kW, g.N, g.Ho, g.G)
        for c in range(0, self.in_channels, COL2IM_CHANNELS):
            block = slice(c, c + COL2IM_CHANNELS)
            for i in range(kH):
                for j in range(kW):
                    window = self._windows(dpadded[block], i, j, g)
                    window += dcols6[block, i, j]
        dx = np.empty((g.N, self.in_channels, g.H, g.W), dtype=self.dtype)
        dx[...] = dpadded[:, :, pH : pH + g.H, pW : pW + g.W].transpose(1, 0, 2, 3)
        return dx

    def get_config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "bias": self.bias is not None,
            "init": init_name(self.init, "he_uniform"),
            "dtype": self.dtype.name,
        }
