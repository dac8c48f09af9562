"""Data augmentation as layers: random shifts and flips of NCHW images, in training only.

Like Dropout, each layer draws fresh randomness at every training forward pass
and is the identity in eval mode, so a model with augmentation predicts, saves
and exports exactly like one without. Put them first in a Sequential: every
epoch then sees a differently moved copy of each training image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from glassnet._checks import as_rng, in_range, positive_int
from glassnet.layers._base import expect_ndim, missing_cache
from glassnet.module import Module
from glassnet.registry import register_layer

__all__ = ["RandomShift", "RandomHorizontalFlip"]


def _float_images(layer: Module, x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{type(layer).__name__}.forward expected a numpy array. Received: {type(x).__name__}")
    expect_ndim(layer, x, 4, "(N, C, H, W)")


@register_layer
class RandomShift(Module):
    """Move each image by a random whole number of pixels, filling with zeros (training only).

    For each sample n, offsets (a, b) are drawn uniformly from
    {-max_shift, ..., max_shift}, and with ``xp`` the input zero-padded by
    ``s = max_shift`` on each side::

        y[n, c, h, w] = xp[n, c, h + s + a, w + s + b]       (= x[n, c, h + a, w + b], or 0 outside the image)

    This is torchvision's ``RandomCrop(size=(H, W), padding=s)``. In eval mode ``y = x``.

    Args:
        max_shift: the largest shift in pixels along each axis, s >= 1.
        rng: ``np.random.Generator`` or int seed for the offsets; ``fit(seed=...)`` reseeds it.

    Shape: (N, C, H, W) -> same.

    Backward (dy = dL/dy), from the cached offsets:
        dx[n, c, h + a, w + b] = dy[n, c, h, w] where (h + a, w + b) is inside the image;
        the pixels shifted out of the image get 0.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> layer = gn.RandomShift(1, rng=0)
        >>> layer(np.ones((2, 1, 3, 3), dtype=np.float32)).sum(axis=(1, 2, 3))  # each image lost a row or column
        array([6., 6.], dtype=float32)
        >>> layer.eval()(np.ones((1, 1, 2, 2)))  # eval mode: the identity
        array([[[[1., 1.],
                 [1., 1.]]]])
    """

    per_sample = True  # in eval mode (see Module.samples_independent)

    stochastic = True
    draws_whole_batch = True

    def __init__(self, max_shift: int = 2, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.max_shift = positive_int(max_shift, "max_shift")
        self.rng = as_rng(rng)
        self._cache: tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None = None

    def _windows(self, padded: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The view ``v[n, c, i, j, h, w] = padded[n, c, h + i, w + j]`` for 0 <= i, j <= 2s: every shifted image."""
        N, C, H, W = shape
        k = 2 * self.max_shift + 1
        sN, sC, sH, sW = padded.strides
        return as_strided(padded, shape=(N, C, k, k, H, W), strides=(sN, sC, sH, sW, sH, sW), writeable=True)

    def forward(self, x: np.ndarray) -> np.ndarray:
        _float_images(self, x)
        if not self.training:
            self._cache = None
            return x
        s, N = self.max_shift, x.shape[0]
        rows, n = self.batch_rows(N)  # a share of a batch split over threads draws the whole batch's shifts
        i, j = self.rng.integers(0, 2 * s + 1, size=(2, n))[:, rows]  # i = s + a, j = s + b
        padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
        # one gather: window (i[n], j[n]) of sample n; the (N,) index comes first, then C, H, W
        y = self._windows(padded, x.shape)[np.arange(N), :, i, j]
        self._cache = (i, j, x.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise missing_cache(self)
        i, j, shape = self._cache
        if dy.shape != shape:
            raise ValueError(f"RandomShift.backward expected dy of shape {shape}, got {dy.shape}")
        s, (N, C, H, W) = self.max_shift, shape
        dpadded = np.zeros((N, C, H + 2 * s, W + 2 * s), dtype=dy.dtype)
        # each sample writes its own window once, so assignment (not +=) is exact
        self._windows(dpadded, shape)[np.arange(N), :, i, j] = dy
        return dpadded[:, :, s : s + H, s : s + W].copy()

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"max_shift": self.max_shift}


@register_layer
class RandomHorizontalFlip(Module):
    """Mirror each image left to right with probability p (training only), as torchvision's.

    ``y[n] = x[n, :, :, ::-1]`` where ``flip[n]``, else ``x[n]``, with ``flip[n] ~ Bernoulli(p)``.
    In eval mode ``y = x``.

    Args:
        p: probability of flipping an image, in [0, 1].
        rng: ``np.random.Generator`` or int seed; ``fit(seed=...)`` reseeds it.

    Shape: (N, C, H, W) -> same.

    Backward (dy = dL/dy), from the cached flips (a flip is its own inverse):
        dx[n] = dy[n, :, :, ::-1] where flip[n], else dy[n]

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.RandomHorizontalFlip(p=1.0)(np.array([[[[1.0, 2.0, 3.0]]]]))
        array([[[[3., 2., 1.]]]])
    """

    per_sample = True  # in eval mode (see Module.samples_independent)

    stochastic = True
    draws_whole_batch = True

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.p = in_range(p, "p", 0.0, 1.0, high_open=False)
        self.rng = as_rng(rng)
        self._flip: np.ndarray | None = None

    @staticmethod
    def _apply(a: np.ndarray, flip: np.ndarray) -> np.ndarray:
        out = a.copy()
        out[flip] = a[flip, :, :, ::-1]
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        _float_images(self, x)
        if not self.training:
            self._flip = None
            return x
        rows, n = self.batch_rows(x.shape[0])  # a share of a batch split over threads draws the whole batch's
        flip = np.less(self.rng.random(n)[rows], self.p)
        self._flip = flip
        return self._apply(x, flip)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._flip is None:
            raise missing_cache(self)
        if dy.shape[:1] != self._flip.shape:
            raise ValueError(f"RandomHorizontalFlip.backward expected dy of {len(self._flip)} samples, got {dy.shape}")
        return self._apply(dy, self._flip)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}
