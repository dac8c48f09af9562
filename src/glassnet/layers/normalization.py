"""Normalisation: BatchNorm1d on (N, C), BatchNorm2d on (N, C, H, W), LayerNorm on (N, ..., D).

BatchNorm:

Both share one implementation that views the input as (N, C, L), with L = 1
for (N, C) and L = H*W for images, and reduces over the N and L axes: every
channel is normalised with statistics taken over the batch (and the pixels).

Derivation of the backward pass, per channel, with m = N*L values x_i:
    mu = sum(x) / m,   var = sum((x - mu)**2) / m,   inv_std = 1 / sqrt(var + eps)
    xhat_i = (x_i - mu) * inv_std,   y_i = gamma * xhat_i + beta
The upstream gradient dy gives
    dbeta  = sum(dy),   dgamma = sum(dy * xhat),   dxhat = gamma * dy.
x_i reaches the loss through xhat_i directly and through mu and var:
    dxhat_j/dx_i = inv_std * (delta_ij - 1/m - xhat_i * xhat_j / m)
(using dmu/dx_i = 1/m and dvar/dx_i = 2 (x_i - mu) / m, the mean of
x - mu being zero). Summing over j:
    dx_i = (1/m) * inv_std * (m*dxhat_i - sum(dxhat) - xhat_i * sum(dxhat * xhat))
and with dxhat = gamma * dy this is
    dx = gamma * inv_std * (dy - dbeta/m - xhat * dgamma/m),
which the code computes from dbeta and dgamma, which it needs anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet._checks import check_dtype, in_range, positive_float, positive_int, short, strict_bool
from glassnet.layers._base import missing_cache, new_array
from glassnet.module import Module, Parameter
from glassnet.registry import register_layer

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of an (N, C, L) array over N and L, shape (C,)."""
    return a.sum(axis=(0, 2))


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a * b) over N and L for (N, C, L) arrays, without an (N, C, L) temporary."""
    return np.einsum("ncl,ncl->c", a, b)


class _BatchNorm(Module):
    """The shared implementation; subclasses set the accepted input layouts."""

    per_sample = True  # in eval mode (see Module.samples_independent)

    buffer_names = ("running_mean", "running_var")
    batch_statistics = True  # fit never hands it a one-sample batch (see glassnet.training.fit)
    _layouts: dict[int, str] = {}

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        self.eps = positive_float(eps, "eps")
        self.momentum = in_range(momentum, "momentum", 0.0, 1.0, high_open=False)
        affine = strict_bool(affine, "affine")
        self.dtype = check_dtype(dtype)
        c = self.num_features
        self.weight = Parameter(new_array(c, self.dtype, 1.0)) if affine else None
        self.bias = Parameter(new_array(c, self.dtype)) if affine else None
        self.running_mean = new_array(c, self.dtype)
        self.running_var = new_array(c, self.dtype, 1.0)
        self._xhat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        self._m = 0  # values per channel behind the batch statistics (over every rank, when synchronised)
        # glassnet.distributed sets ``sync`` (a sum over the ranks) for SyncBatchNorm semantics:
        # the batch statistics, and their gradients, are those of the global batch
        self.sync: Callable[[np.ndarray], np.ndarray] | None = None

    # -- shapes ------------------------------------------------------------
    def _expected(self) -> str:
        return " or ".join(layout.replace("C", str(self.num_features)) for layout in self._layouts.values())

    def _check_shape(self, shape: tuple[int, ...], what: str) -> None:
        if len(shape) not in self._layouts or shape[1] != self.num_features:
            raise ValueError(f"{what} expected input of shape {self._expected()}, got {tuple(shape)}")

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        if x.ndim not in self._layouts or x.shape[1] != self.num_features:
            raise ValueError(
                f"{name} has shape {x.shape}, but the model's first layer ({self!r}) expects {self._expected()}"
            )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check_shape(tuple(input_shape), type(self).__name__)
        return tuple(input_shape)

    # -- computation -------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        name = type(self).__name__
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}.forward expected a numpy array. Received: {type(x).__name__}")
        self._check_shape(x.shape, f"{name}.forward")
        n, c = x.shape[:2]
        x3 = x.reshape(n, c, -1)  # a view for contiguous input
        m = n * x3.shape[2]
        if not self.training:
            self._xhat = self._inv_std = None
            return self._forward_eval(x3).reshape(x.shape)
        if m < 2:
            raise ValueError(
                f"{name}.forward in training mode needs more than 1 value per channel, got input of shape "
                f"{x.shape}; use a batch of at least 2, or eval mode"
            )
        if self.sync is None:
            mean = _channel_sum(x3) / m
        else:  # the global batch's statistics: sums over every rank's part
            sums = self.sync(np.append(_channel_sum(x3), m).astype(np.float64))
            m = int(sums[-1])
            mean = (sums[:-1] / m).astype(self.dtype)
        xhat = x3 - mean[:, None]  # x - mu, normalised in place below
        sq = _channel_dot(xhat, xhat)
        var = (sq if self.sync is None else self.sync(sq)) / m  # biased: what the batch is normalised with
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat *= inv_std[:, None]
        # running statistics, in place; PyTorch keeps the unbiased variance there
        self.running_mean *= 1.0 - self.momentum
        self.running_mean += self.momentum * mean
        self.running_var *= 1.0 - self.momentum
        self.running_var += (self.momentum * m / (m - 1)) * var
        self._xhat, self._inv_std, self._m = xhat, inv_std, m
        if self.weight is None or self.bias is None:
            return xhat.reshape(x.shape).copy()
        y = xhat * self.weight.data[:, None]
        y += self.bias.data[:, None]
        return y.reshape(x.shape)

    def _forward_eval(self, x3: np.ndarray) -> np.ndarray:
        # y = gamma * (x - mu) / sqrt(var + eps) + beta = x * scale + shift, one pass over x
        scale = 1.0 / np.sqrt(self.running_var + self.eps)
        if self.weight is not None:
            scale *= self.weight.data
        shift = -self.running_mean * scale
        if self.bias is not None:
            shift += self.bias.data
        y = x3 * scale[:, None]
        y += shift[:, None]
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xhat, inv_std = self._xhat, self._inv_std
        if xhat is None or inv_std is None:
            raise missing_cache(self)
        n, c, length = xhat.shape
        if dy.shape[:2] != (n, c) or math.prod(dy.shape[2:]) != length:
            raise ValueError(f"{type(self).__name__}.backward expected dy of the output's shape, got {dy.shape}")
        m = self._m
        dy3 = dy.reshape(xhat.shape)
        dbeta = _channel_sum(dy3)
        dgamma = _channel_dot(dy3, xhat)
        if self.weight is not None and self.bias is not None:
            self.weight.grad += dgamma  # this rank's part: the ranks' gradients are summed after backward
            self.bias.grad += dbeta
            k = self.weight.data * inv_std
        else:
            k = inv_std
        if self.sync is not None:  # dx depends on the whole batch through mean and var
            both = self.sync(np.concatenate([dbeta, dgamma]))
            dbeta, dgamma = both[: len(dbeta)], both[len(dbeta) :]
        # dx = gamma * inv_std * (dy - dbeta/m - xhat * dgamma/m)
        dx = xhat * (dgamma / -m)[:, None]
        dx += dy3
        dx -= (dbeta / m)[:, None]
        dx *= k[:, None]
        return dx.reshape(dy.shape)

    def get_config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.weight is not None,
            "dtype": self.dtype.name,
        }


@register_layer
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features: ``y = gamma * (x - mean) / sqrt(var + eps) + beta``.

    In training mode, mean and (biased) var are taken per feature over the
    batch, and the running statistics are updated as
    ``running = (1 - momentum) * running + momentum * batch_statistic``, with
    the unbiased variance ``var * m / (m - 1)`` for ``running_var`` (as in PyTorch).
    In eval mode, ``running_mean`` and ``running_var`` stand in for mean and var.

    Args:
        num_features: C, the number of features.
        eps: added to the variance before the square root.
        momentum: weight of the current batch in the running statistics, in [0, 1].
        affine: learn ``weight`` (gamma, starts at 1) and ``bias`` (beta, starts at 0).
        dtype: float32 (default) or float64, of the parameters and running statistics.

    Shape:
        x: (N, C) or (N, C, L) -> y: same; statistics over N (and L).
        weight, bias, running_mean, running_var: (C,). The running statistics
        are buffers: saved with the model, never trained.

    Backward (dy = dL/dy; m values per feature; derivation in the module docstring):
        dbeta  = sum(dy)
        dgamma = sum(dy * xhat)
        dx = gamma * inv_std * (dy - dbeta/m - xhat * dgamma/m)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> bn = gn.BatchNorm1d(2)
        >>> bn(np.array([[1.0, 10.0], [3.0, 30.0]], dtype=np.float32)).round(3)
        array([[-1., -1.],
               [ 1.,  1.]], dtype=float32)
        >>> bn.running_mean
        array([0.2, 2. ], dtype=float32)
    """

    blas_bound = True  # its time is one product or a light pass: BLAS's threads split it (glassnet.replicas)

    _layouts = {2: "(N, C)", 3: "(N, C, L)"}


@register_layer
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of image channels: BatchNorm1d's math with statistics over N, H and W.

    Args:
        num_features: C, the number of channels.
        eps, momentum, affine, dtype: as for BatchNorm1d.

    Shape:
        x: (N, C, H, W) -> y: same. weight, bias, running_mean, running_var: (C,).

    Backward (dy = dL/dy; m = N*H*W values per channel):
        dbeta  = sum(dy)
        dgamma = sum(dy * xhat)
        dx = gamma * inv_std * (dy - dbeta/m - xhat * dgamma/m)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> bn = gn.BatchNorm2d(3)
        >>> y = bn(np.random.default_rng(0).normal(5.0, 2.0, size=(4, 3, 8, 8)).astype(np.float32))
        >>> y.shape, bool(abs(y.mean()) < 1e-5), bool(abs(y.std() - 1) < 1e-3)
        ((4, 3, 8, 8), True, True)
    """

    _layouts = {4: "(N, C, H, W)"}


@register_layer
class LayerNorm(Module):
    """Layer normalisation (Ba et al., 2016): every sample normalised over its last axes.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta``, with mean and (biased)
    var taken over the trailing ``normalized_shape`` axes of each position, so
    unlike BatchNorm it is the same in training and eval mode and keeps no
    running statistics. PyTorch's ``nn.LayerNorm``.

    Args:
        normalized_shape: the trailing shape to normalise over, an int D or a tuple.
        eps: added to the variance before the square root.
        bias: learn ``beta`` (GPTs often go without).
        elementwise_affine: learn ``gamma`` (and ``beta``); off, y = xhat.
        dtype: float32 (default) or float64, of the parameters.

    Shape:
        x: (*, *normalized_shape), e.g. (N, T, D) -> y: same.
        weight (gamma), bias (beta): normalized_shape.

    Backward (dy = dL/dy; per position, over the m = prod(normalized_shape) values):
        dbeta  = sum over positions of dy
        dgamma = sum over positions of dy * xhat
        dxhat  = dy * gamma
        dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        (BatchNorm's derivation in the module docstring, with the statistics
        taken along the row instead of down the batch)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.LayerNorm(2)(np.array([[1.0, 3.0], [10.0, 30.0]], dtype=np.float32)).round(3)
        array([[-1.,  1.],
               [-1.,  1.]], dtype=float32)
    """

    per_sample = True  # in eval mode (see Module.samples_independent)

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | list[int],
        eps: float = 1e-5,
        bias: bool = True,
        elementwise_affine: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) else tuple(normalized_shape)
        if not shape:
            raise ValueError(f"normalized_shape must name at least one axis. Received: normalized_shape={short(shape)}")
        self.normalized_shape = tuple(positive_int(d, "normalized_shape") for d in shape)
        self.eps = positive_float(eps, "eps")
        for name, flag in (("bias", bias), ("elementwise_affine", elementwise_affine)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False. Received: {name}={short(flag)}")
        self.dtype = check_dtype(dtype)
        self.weight = Parameter(new_array(self.normalized_shape, self.dtype, 1.0)) if elementwise_affine else None
        self.bias = Parameter(new_array(self.normalized_shape, self.dtype)) if elementwise_affine and bias else None
        self._m = math.prod(self.normalized_shape)
        self._xhat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None

    def _check(self, x: np.ndarray, what: str) -> None:
        k = len(self.normalized_shape)
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{what} expected a numpy array. Received: {type(x).__name__}")
        if x.ndim <= k or tuple(x.shape[-k:]) != self.normalized_shape:
            dims = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"{what} expected input of shape (N, ..., {dims}), got {x.shape}")

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        self._check(x, name)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x, "LayerNorm.forward")
        x2 = x.reshape(-1, self._m)
        xhat = x2 - x2.mean(axis=1, keepdims=True)  # x - mu, normalised in place below
        var = np.einsum("ij,ij->i", xhat, xhat) / self._m  # biased, as PyTorch normalises
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat *= inv_std[:, None]
        if self.training:
            self._xhat, self._inv_std = xhat, inv_std
        else:
            self._xhat = self._inv_std = None
        if self.weight is None:
            return xhat.reshape(x.shape).copy() if self.training else xhat.reshape(x.shape)  # the cache stays private
        y = xhat * self.weight.data.reshape(-1)
        if self.bias is not None:
            y += self.bias.data.reshape(-1)
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        xhat, inv_std = self._xhat, self._inv_std
        if xhat is None or inv_std is None:
            raise missing_cache(self)
        if dy.size != xhat.size:
            raise ValueError(f"LayerNorm.backward expected dy of the output's shape, got {dy.shape}")
        dy2 = dy.reshape(xhat.shape)
        if self.weight is not None:
            self.weight.grad += np.einsum("ij,ij->j", dy2, xhat).reshape(self.normalized_shape)
            if self.bias is not None:
                self.bias.grad += dy2.sum(axis=0).reshape(self.normalized_shape)
            dxhat = dy2 * self.weight.data.reshape(-1)
        else:
            dxhat = dy2.copy()
        if not self.input_grad:
            return None  # see Module.set_input_grad
        # dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), per row, in place
        proj = np.einsum("ij,ij->i", dxhat, xhat) / self._m
        dxhat -= dxhat.mean(axis=1, keepdims=True)
        dxhat -= xhat * proj[:, None]
        dxhat *= inv_std[:, None]
        return dxhat.reshape(dy.shape)

    def get_config(self) -> dict[str, Any]:
        return {
            "normalized_shape": list(self.normalized_shape),
            "eps": self.eps,
            "bias": self.bias is not None,
            "elementwise_affine": self.weight is not None,
            "dtype": self.dtype.name,
        }
