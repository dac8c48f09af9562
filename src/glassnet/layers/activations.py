"""Element-wise activations and Softmax.

Each derivative is written from what forward cached; where the forward output
determines the derivative (sigmoid, tanh), the output is cached rather
than recomputed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet._checks import axis as check_axis
from glassnet._checks import real, short
from glassnet.layers._base import missing_cache
from glassnet.layers._erf import erf, erfc, normal_cdf  # noqa: F401  (erf and erfc: public here too)
from glassnet.module import Module
from glassnet.registry import register_layer

__all__ = ["Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax"]


class _Elementwise(Module):
    """An activation: output shape equals input shape, no parameters."""

    blas_bound = True  # its time is one product or a light pass: BLAS's threads split it (glassnet.replicas)

    per_sample = True  # in eval mode (see Module.samples_independent)

    def __init__(self) -> None:
        super().__init__()
        self._cache: np.ndarray | None = None

    def _keep(self, value: np.ndarray) -> None:
        self._cache = value if self.training else None

    def _cached(self) -> np.ndarray:
        if self._cache is None:
            raise missing_cache(self)
        return self._cache

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)


@register_layer
class Identity(_Elementwise):
    """``y = x``. Backward: ``dx = dy``.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.Identity()(np.array([1.0, -2.0]))
        array([ 1., -2.])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._keep(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self._cached()
        return dy


@register_layer
class Sigmoid(_Elementwise):
    """Logistic function ``y = 1 / (1 + exp(-x))``, the tutorial's activation.

    Computed as ``exp(-logaddexp(0, -x))``, which never overflows: inputs of
    ±1000 give 1 and 0 without a warning.

    Shape: any -> same.

    Backward (dy = dL/dy), from the cached output y:
        dx = dy * y * (1 - y)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.Sigmoid()(np.array([-1000.0, 0.0, 1000.0]))
        array([0. , 0.5, 1. ])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.empty(x.shape, np.result_type(x.dtype, np.float16))  # integers become floats, as logaddexp does

        def block(xb: np.ndarray, yb: np.ndarray) -> None:
            np.negative(xb, out=yb)
            np.logaddexp(0, yb, out=yb)
            np.negative(yb, out=yb)
            np.exp(yb, out=yb)

        block(x, y)
        self._keep(y)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._cached()
        dx = np.empty(dy.shape, np.result_type(dy, y))

        def block(dyb: np.ndarray, yb: np.ndarray, dxb: np.ndarray) -> None:
            np.multiply(dyb, yb, out=dxb)
            dxb *= 1 - yb

        block(dy, y, dx)
        return dx


@register_layer
class Tanh(_Elementwise):
    """Hyperbolic tangent ``y = tanh(x)``.

    Backward (dy = dL/dy), from the cached output y:
        dx = dy * (1 - y**2)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.Tanh()(np.array([0.0]))
        array([0.])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.empty(x.shape, np.result_type(x.dtype, np.float16))
        np.tanh(x, out=y)
        self._keep(y)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._cached()
        dx = np.empty(dy.shape, np.result_type(dy, y))

        def block(dyb: np.ndarray, yb: np.ndarray, dxb: np.ndarray) -> None:
            np.multiply(dyb, 1 - yb * yb, out=dxb)

        block(dy, y, dx)
        return dx


@register_layer
class ReLU(_Elementwise):
    """Rectified linear unit ``y = max(x, 0)``.

    Args:
        inplace: write y over x instead of into a new array, as PyTorch's
            ``ReLU(inplace=True)``: saves an allocation and a pass over fresh
            memory. Use it only where nothing else reads x afterwards (after a
            Conv2d, Linear or MaxPool2d, whose backward doesn't use their output).

    Backward (dy = dL/dy), from the cached mask y > 0 (the same as x > 0):
        dx = dy * (y > 0)      (the derivative at 0 is taken as 0, like PyTorch)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.ReLU()(np.array([-1.0, 2.0]))
        array([0., 2.])
        >>> x = np.array([-1.0, 2.0])
        >>> _ = gn.ReLU(inplace=True)(x); x
        array([0., 2.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        if not isinstance(inplace, bool):
            raise TypeError(f"inplace must be True or False. Received: inplace={short(inplace)}")
        self.inplace = inplace

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = x if self.inplace else np.empty_like(x)
        if not self.training:  # no mask to compute in eval mode
            np.maximum(x, 0, out=y)
            self._cache = None
            return y
        mask = np.empty(x.shape, dtype=bool)

        def block(xb: np.ndarray, yb: np.ndarray, maskb: np.ndarray) -> None:
            np.maximum(xb, 0, out=yb)
            np.greater(yb, 0, out=maskb)

        block(x, y, mask)
        self._cache = mask
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        mask = self._cached()
        dx = np.empty(dy.shape, np.result_type(dy, mask))
        # a product with the bool mask is several times faster than np.where
        np.multiply(dy, mask, out=dx)
        return dx

    def get_config(self) -> dict[str, Any]:
        # the default is left out, so models saved before the argument existed read the same
        return {"inplace": True} if self.inplace else {}


@register_layer
class LeakyReLU(_Elementwise):
    """``y = x`` where x > 0, else ``negative_slope * x``.

    Args:
        negative_slope: slope for x <= 0 (PyTorch's default 0.01).

    Backward (dy = dL/dy):
        dx = dy where x > 0, else negative_slope * dy

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.LeakyReLU(0.1)(np.array([-1.0, 2.0]))
        array([-0.1,  2. ])
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = real(negative_slope, "negative_slope")

    def forward(self, x: np.ndarray) -> np.ndarray:
        mask = x > 0
        self._keep(mask)
        return np.where(mask, x, x * self.negative_slope)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        mask = self._cached()
        return np.where(mask, dy, dy * self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


@register_layer
class ELU(_Elementwise):
    """Exponential linear unit: ``y = x`` where x > 0, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: the value ELU approaches as x -> -inf is -alpha.

    Backward (dy = dL/dy), from the cached input x:
        dx = dy where x > 0, else dy * alpha * exp(x)
        (equal to dy * (y + alpha), but that form cancels for very negative x:
        at x = -25 it loses 5 of float64's 16 digits)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.ELU()(np.array([0.0, 2.0]))
        array([0., 2.])
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = real(alpha, "alpha")

    def forward(self, x: np.ndarray) -> np.ndarray:
        # expm1 of min(x, 0): accurate near 0, and large positive inputs can't overflow
        y = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))
        self._keep(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x = self._cached()
        return np.where(x > 0, dy, dy * (self.alpha * np.exp(np.minimum(x, 0))))

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_CLIP = 20.0  # GELU's tanh form: tanh(sqrt(2/pi) (20 + 0.044715·20³)) is 1 to double precision


def erf_float32(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """erf for float32 arrays, within 1e-6 of the exact value (float32 holds about 6e-8 near 1).

    Abramowitz & Stegun 7.1.26: erf(|x|) = 1 - (a1 t + a2 t² + ... + a5 t⁵) exp(-x²),
    t = 1 / (1 + p |x|), error below 1.5e-7 in exact arithmetic; a dozen
    in-place float32 passes instead of ``erf``'s float64 series, which made
    GELU the slowest layer of a transformer.
    """
    t = np.abs(x)
    t *= np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for a in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(a)
        poly *= t
    e = np.square(np.clip(x, -10.0, 10.0))  # float32 erf is ±1 from |x| = 4 on; x² can't overflow
    np.negative(e, out=e)
    np.exp(e, out=e)
    poly *= e
    np.subtract(np.float32(1.0), poly, out=poly)
    return np.copysign(poly, x, out=poly if out is None else out)


@register_layer
class GELU(_Elementwise):
    """Gaussian error linear unit ``y = x * Phi(x)``, Phi the standard normal CDF.

    Args:
        approximate: "none" (exact, ``Phi(x) = (1 + erf(x / sqrt 2)) / 2``; in float64
            computed as ``erfc(-x / sqrt 2) / 2``, which stays in [0, 1] and keeps its
            relative precision in the lower tail, in float32 by ``erf_float32``, within
            1e-6 and in [0, 1]; GELU(-1e10) = -0 in both) or
            "tanh" (``Phi(x) ≈ (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))) / 2``),
            as in PyTorch.

    Backward (dy = dL/dy):
        exact: dx = dy * (Phi(x) + x * phi(x)),  phi(x) = exp(-x²/2) / sqrt(2 pi)
        tanh:  dx = dy * (0.5 (1 + t) + 0.5 x (1 - t²) sqrt(2/pi) (1 + 3·0.044715 x²)),
               t = tanh(sqrt(2/pi) (x + 0.044715 x³))

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.GELU()(np.array([0.0, 10.0]))
        array([ 0., 10.])
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh'. Received: approximate={short(approximate)}")
        self.approximate = approximate
        self._x: np.ndarray | None = None

    def _cdf(self, x: np.ndarray, out: np.ndarray) -> None:
        """Phi(x), or its tanh approximation, into ``out`` (x's dtype)."""
        if self.approximate == "tanh":
            xc = np.clip(x, -_TANH_CLIP, _TANH_CLIP)  # tanh is ±1 there already; x³ can't overflow
            u = _SQRT_2_OVER_PI * (xc + 0.044715 * xc**3)
            np.tanh(u, out=out)
            out += 1
            out *= 0.5  # 0.5 * (1 + tanh(u))
        elif x.dtype == np.float32:  # a float32 erf: float32 results, several times faster
            erf_float32(x * np.float32(1 / math.sqrt(2.0)), out=out)
            out += np.float32(1.0)
            out *= np.float32(0.5)
        else:
            out[...] = normal_cdf(x)

    def _slope(self, x: np.ndarray, cdf: np.ndarray) -> np.ndarray:
        """dy/dx from the cached input and cdf."""
        if self.approximate == "tanh":
            t = 2 * cdf - 1
            xc = np.clip(x, -_TANH_CLIP, _TANH_CLIP)  # where clipped, 1 - t² is 0 exactly
            return cdf + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * xc * xc)
        xc = np.clip(x, -40, 40)  # phi(40) underflows to 0 already; x² can't overflow
        return cdf + x * (_INV_SQRT_2PI * np.exp(-0.5 * xc * xc))

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":  # the float32 cast of Module.__call__, for a direct call too
            x = x.astype(np.float32)
        cdf = np.empty_like(x)
        y = np.empty_like(x)

        def block(xb: np.ndarray, cdfb: np.ndarray, yb: np.ndarray) -> None:
            self._cdf(xb, cdfb)
            np.multiply(xb, cdfb, out=yb)

        block(x, cdf, y)
        self._keep(cdf)
        self._x = x if self.training else None
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cdf, x = self._cached(), self._x
        if x is None:
            raise missing_cache(self)
        dx = np.empty(dy.shape, np.result_type(dy, cdf))
        np.multiply(dy, self._slope(x, cdf), out=dx)
        return dx

    def get_config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


def softmax(z: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """``softmax(z) = exp(z - max(z)) / sum(exp(z - max(z)))`` along ``axis``: the one softmax of glassnet.

    Shifting by the max changes nothing mathematically and keeps exp from overflowing.
    ``out=z`` computes it in place (attention does, on its scores).

    Example:
        >>> import numpy as np
        >>> softmax(np.array([[0.0, np.log(3.0)]])).round(6)
        array([[0.25, 0.75]])
    """
    y = np.subtract(z, z.max(axis=axis, keepdims=True), out=out)
    np.exp(y, out=y)
    y /= y.sum(axis=axis, keepdims=True)
    return y


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log softmax(z) = (z - max) - log(sum(exp(z - max)))`` along ``axis``, never taking log(0).

    Example:
        >>> import numpy as np
        >>> np.exp(log_softmax(np.array([[0.0, np.log(3.0)]]))).round(6)
        array([[0.25, 0.75]])
    """
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@register_layer
class Softmax(_Elementwise):
    """``y = exp(x) / sum(exp(x), axis)``, computed as exp(x - max) for stability.

    For classification, prefer a final Linear with ``CrossEntropyLoss``, which
    fuses softmax and log-loss; use Softmax to turn logits into probabilities.

    Args:
        axis: the axis that sums to one.

    Backward (dy = dL/dy), from the cached output y:
        dx = y * (dy - sum(dy * y, axis))

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.Softmax()(np.array([[0.0, 0.0]]))
        array([[0.5, 0.5]])
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = check_axis(axis)

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = softmax(x, self.axis)
        self._keep(y)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        y = self._cached()
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}
