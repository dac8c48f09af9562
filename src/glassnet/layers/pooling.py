"""2-D max and average pooling over NCHW images.

Both pool separably: first across each window's columns, then across its
rows. A window's maximum is the maximum of its row maxima, and its sum the sum
of its row sums, so each stage is a handful of element-wise operations on
strided slices ``a[..., b : b + s*(n-1) + 1 : s]`` (tap b of every window along
one axis). When the windows tile the input (stride == kernel) these are the
slices ``[:, :, :, i, :, j]`` of the reshape ``x.reshape(N, C, H', kH, W', kW)``;
used one by one they run at memory speed, where numpy's ``max`` over that
reshape's axes 3 and 5 is more than ten times slower.
Windows that do not fit drop the remainder rows and columns (PyTorch's floor
mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet._checks import int_pair
from glassnet.layers._base import expect_ndim, missing_cache
from glassnet.module import Module
from glassnet.registry import register_layer

__all__ = ["MaxPool2d", "AvgPool2d"]


def _taps(axis: int, b: int, stride: int, n: int) -> tuple[slice, ...]:
    """Index of tap ``b`` of all ``n`` windows along ``axis`` (of a 4-D array)."""
    index = [slice(None)] * 4
    index[axis] = slice(b, b + stride * (n - 1) + 1, stride)
    return tuple(index)


def _empty_for_taps(shape: list[int], axis: int, k: int, stride: int, n: int, dtype: np.dtype) -> np.ndarray:
    """An array for gradients spread over taps: uninitialised when the taps cover it exactly, else zeros."""
    if stride == k and n * k == shape[axis]:
        return np.empty(shape, dtype=dtype)
    return np.zeros(shape, dtype=dtype)


def _wins(tap: np.ndarray, best: np.ndarray, nan_aware: bool) -> np.ndarray:
    """Where ``tap`` takes over from the best so far: it is larger, or (``nan_aware``) it is NaN.

    As in PyTorch, NaN counts as the maximum, and of several NaNs the last
    one holds the arg-max (``val > max or isnan(val)``). ``best`` comes from
    ``np.maximum``, which propagates NaN, so a number never beats an earlier NaN.
    Without NaNs in the windows, ``tap > best`` alone says the same.
    """
    wins = np.greater(tap, best)
    return np.logical_or(wins, np.isnan(tap), out=wins) if nan_aware else wins


def _max_over(a: np.ndarray, axis: int, k: int, stride: int, n: int, nan_aware: bool) -> tuple[np.ndarray, np.ndarray]:
    """The maximum over the ``k`` taps of each window along ``axis``, and which tap holds it.

    The comparison is strict, so in a tie the first tap wins and each window
    has exactly one arg-max (as in PyTorch), which backward routes dy to.
    """
    taps = [a[_taps(axis, b, stride, n)] for b in range(k)]
    if k == 1:
        return taps[0].copy(), np.zeros(taps[0].shape, dtype=np.uint8)
    later_wins = _wins(taps[1], taps[0], nan_aware)
    arg = later_wins.view(np.uint8) if k <= 256 else later_wins.astype(np.int64)
    out = np.maximum(taps[0], taps[1])
    for b in range(2, k):
        later_wins = _wins(taps[b], out, nan_aware)
        # arg < b everywhere so far, so max(arg, b * later_wins) sets b exactly where tap b wins
        np.maximum(arg, np.multiply(later_wins, arg.dtype.type(b)), out=arg)
        np.maximum(out, taps[b], out=out)
    return out, arg


def _max_of(a: np.ndarray, axis: int, k: int, stride: int, n: int) -> np.ndarray:
    """The maximum over the ``k`` taps of each window along ``axis``, without the arg-max (eval mode)."""
    out = a[_taps(axis, 0, stride, n)].copy()
    for b in range(1, k):
        np.maximum(out, a[_taps(axis, b, stride, n)], out=out)
    return out


def _route(d: np.ndarray, arg: np.ndarray, axis: int, size: int, k: int, stride: int, dtype: np.dtype) -> np.ndarray:
    """Backward of ``_max_over``: each window's gradient goes to its arg-max tap, zeros elsewhere."""
    n = d.shape[axis]
    shape = list(d.shape)
    shape[axis] = size
    out = _empty_for_taps(shape, axis, k, stride, n, dtype)
    if k == 2 and stride >= k:  # two disjoint taps: the first gets what the second doesn't
        second = np.multiply(d, arg, out=out[_taps(axis, 1, stride, n)])  # arg is 1 where the second won
        np.subtract(d, second, out=out[_taps(axis, 0, stride, n)])  # d - d = 0 and d - 0 = d exactly
        return out
    for b in range(k):
        if stride >= k:  # windows are disjoint: each tap slice is written once
            np.multiply(d, arg == b, out=out[_taps(axis, b, stride, n)])
        else:  # overlapping windows: one input element collects from several
            out[_taps(axis, b, stride, n)] += d * (arg == b)
    return out


def _sum_over(a: np.ndarray, axis: int, k: int, stride: int, n: int) -> np.ndarray:
    """The sum over the ``k`` taps of each window along ``axis``."""
    out = a[_taps(axis, 0, stride, n)].copy()
    for b in range(1, k):
        out += a[_taps(axis, b, stride, n)]
    return out


def _spread(d: np.ndarray, axis: int, size: int, k: int, stride: int, dtype: np.dtype) -> np.ndarray:
    """Backward of ``_sum_over``: every tap of a window receives the window's gradient."""
    n = d.shape[axis]
    shape = list(d.shape)
    shape[axis] = size
    out = _empty_for_taps(shape, axis, k, stride, n, dtype)
    for b in range(k):
        if stride >= k:
            out[_taps(axis, b, stride, n)] = d
        else:
            out[_taps(axis, b, stride, n)] += d
    return out


class _Pool2d(Module):
    """Shared arguments, checks and shape rule of the 2-D pooling layers."""

    per_sample = True  # in eval mode (see Module.samples_independent)

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.kernel_size = int_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else int_pair(stride, "stride")

    def _output_hw(self, shape: tuple[int, ...]) -> tuple[int, int]:
        H, W = shape[2], shape[3]
        (kH, kW), (sH, sW) = self.kernel_size, self.stride
        if kH > H or kW > W:
            raise ValueError(
                f"{type(self).__name__} got input of spatial size {H}x{W}, smaller than kernel_size={self.kernel_size}"
            )
        return (H - kH) // sH + 1, (W - kW) // sW + 1

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        shape = tuple(np.shape(x))
        if len(shape) != 4:
            raise ValueError(f"{name} has shape {shape}, but {self!r} expects (N, C, H, W)")
        self._output_hw(shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 4:
            raise ValueError(f"{self!r} expects input of shape (N, C, H, W), got {tuple(input_shape)}")
        return (input_shape[0], input_shape[1], *self._output_hw(tuple(input_shape)))

    def _check_forward(self, x: np.ndarray) -> tuple[int, int]:
        expect_ndim(self, x, 4, "(N, C, H, W)")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{type(self).__name__}.forward expected a floating-point array. Received dtype {x.dtype}")
        return self._output_hw(x.shape)

    def _check_dy(self, dy: np.ndarray, x_shape: tuple[int, ...]) -> None:
        expected = self.output_shape(x_shape)
        if dy.shape != expected:
            raise ValueError(f"{type(self).__name__}.backward expected dy of shape {expected}, got {dy.shape}")

    def get_config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}


@register_layer
class MaxPool2d(_Pool2d):
    """Maximum over each kH x kW window, moving by stride.

    ``y[n, c, oh, ow] = max over i < kH, j < kW of x[n, c, oh*sH + i, ow*sW + j]``

    Args:
        kernel_size: window size (kH, kW), or an int for a square window.
        stride: step between windows, (sH, sW) or an int; defaults to kernel_size.

    Shape:
        x: (N, C, H, W) -> y: (N, C, H', W') with H' = floor((H - kH) / sH) + 1,
        W' = floor((W - kW) / sW) + 1; rows and columns no window reaches are dropped.

    Backward (dy = dL/dy):
        dx = dy at the arg-max of each window, 0 elsewhere (summed where
             windows overlap). In a tie the first element in row-major order
             is the arg-max, as in PyTorch, so the gradient is never duplicated.
             NaN counts as the maximum (y is NaN) and the last NaN of a
             window in row-major order gets dy, as in PyTorch.
        Forward keeps, per window, the winning column j (per row) and row i,
        found with plain comparisons unless y holds a NaN; in eval mode it
        computes the maxima alone.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.MaxPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))
        array([[[[ 5.,  7.],
                 [13., 15.]]]])
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__(kernel_size, stride)
        self._cache: tuple[tuple[int, ...], np.dtype, np.ndarray, np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        Ho, Wo = self._check_forward(x)
        (kH, kW), (sH, sW) = self.kernel_size, self.stride
        if not self.training:  # backward won't run: the maxima without their arg-max
            self._cache = None
            return _max_of(_max_of(x, 3, kW, sW, Wo), 2, kH, sH, Ho)
        for nan_aware in (False, True):
            row_max, col_arg = _max_over(x, 3, kW, sW, Wo, nan_aware)  # (N, C, H, W'): max over each window's columns
            y, row_arg = _max_over(row_max, 2, kH, sH, Ho, nan_aware)  # (N, C, H', W'): then over its rows
            # np.maximum carries a NaN into its window's y: a y without NaN had none in its windows,
            # and the plain comparisons found the arg-max. Otherwise pool again, NaN-aware.
            if not np.isnan(y).any():
                break
        self._cache = (x.shape, x.dtype, row_arg, col_arg)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise missing_cache(self)
        x_shape, dtype, row_arg, col_arg = self._cache
        self._check_dy(dy, x_shape)
        (kH, kW), (sH, sW) = self.kernel_size, self.stride
        d_row_max = _route(dy, row_arg, 2, x_shape[2], kH, sH, dtype)
        # rows that lost hold zeros in d_row_max, so only the winning row's winning column gets dy
        return _route(d_row_max, col_arg, 3, x_shape[3], kW, sW, dtype)


@register_layer
class AvgPool2d(_Pool2d):
    """Mean over each kH x kW window, moving by stride.

    ``y[n, c, oh, ow] = (1 / (kH*kW)) * sum over i < kH, j < kW of x[n, c, oh*sH + i, ow*sW + j]``

    Args:
        kernel_size: window size (kH, kW), or an int for a square window.
        stride: step between windows, (sH, sW) or an int; defaults to kernel_size.

    Shape:
        x: (N, C, H, W) -> y: (N, C, H', W') with H' = floor((H - kH) / sH) + 1,
        W' = floor((W - kW) / sW) + 1; rows and columns no window reaches are dropped.

    Backward (dy = dL/dy):
        dx[n, c, oh*sH + i, ow*sW + j] += dy[n, c, oh, ow] / (kH*kW) for every i, j in the window;
        0 where no window reaches.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.AvgPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))
        array([[[[ 2.5,  4.5],
                 [10.5, 12.5]]]])
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__(kernel_size, stride)
        self._cache: tuple[tuple[int, ...], np.dtype] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        Ho, Wo = self._check_forward(x)
        (kH, kW), (sH, sW) = self.kernel_size, self.stride
        row_sum = _sum_over(x, 3, kW, sW, Wo)
        y = _sum_over(row_sum, 2, kH, sH, Ho)
        y *= 1.0 / (kH * kW)
        self._cache = (x.shape, x.dtype) if self.training else None
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise missing_cache(self)
        x_shape, dtype = self._cache
        self._check_dy(dy, x_shape)
        (kH, kW), (sH, sW) = self.kernel_size, self.stride
        d_row_sum = _spread(dy * (1.0 / (kH * kW)), 2, x_shape[2], kH, sH, dtype)
        return _spread(d_row_sum, 3, x_shape[3], kW, sW, dtype)
