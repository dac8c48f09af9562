"""The error function and the normal CDF in float64, accurate over all reals (NumPy has none).

erf stays within [-1, 1]; erfc and normal_cdf keep their relative precision far
into the tails, where 1 - erf and 1 + erf cancel. GELU computes with them.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["erf", "erfc", "normal_cdf"]

_SQRT_HALF = math.sqrt(0.5)
_ERF_SPLIT = 2.0  # |z| below: erf's series; above: erfc's continued fraction
_ERFC_TERMS = 60  # enough for double precision at z = 2 (the slowest point), and beyond


def _erf_series(a: np.ndarray) -> np.ndarray:
    """erf(a) for |a| < 2 by the series of positive terms (Abramowitz & Stegun 7.1.6):
    erf(a) = 2/sqrt(pi) * exp(-a²) * sum_n 2^n a^(2n+1) / (1·3·...·(2n+1)), free of cancellation."""
    a2 = 2.0 * a * a
    term = a.copy()
    total = a.copy()
    n = 0
    while True:
        n += 1
        term *= a2 / (2 * n + 1)
        total += term
        if n % 8 == 0 and not (np.abs(term) > 1e-17 * np.abs(total)).any():
            break
    return (2.0 / math.sqrt(math.pi)) * np.exp(-a * a) * total


def _erfc_fraction(a: np.ndarray) -> np.ndarray:
    """erfc(a) for a >= 2 by Laplace's continued fraction (A&S 7.1.14), evaluated from the bottom:
    erfc(a) = exp(-a²)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...)))))."""
    a = np.minimum(a, 30.0)  # erfc(27.3) already underflows; 30² can't overflow
    f = a.copy()
    for k in range(_ERFC_TERMS, 0, -1):
        f = a + (0.5 * k) / f
    # exp(-a²) to full relative precision: a = hi + lo with hi on a 2^-12 grid, so
    # hi² is exact and a² = hi² + (a - hi)(a + hi) loses nothing to rounding
    hi = np.round(a * 4096.0) / 4096.0
    return np.exp(-hi * hi) * np.exp(-(a - hi) * (a + hi)) / (math.sqrt(math.pi) * f)


def _erf_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(|x|, erf(|x|), erfc(|x|)), each to double precision, erf in [0, 1] and erfc in [0, 1]."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    erf_a = np.empty_like(a)
    erfc_a = np.empty_like(a)
    small = a < _ERF_SPLIT  # NaN is not small: it takes the other branch and stays NaN
    erf_a[small] = np.minimum(_erf_series(a[small]), 1.0)
    erfc_a[small] = 1.0 - erf_a[small]  # >= 0.0047 here, so this loses at most 2 digits
    large = ~small
    erfc_a[large] = _erfc_fraction(a[large])
    erf_a[large] = 1.0 - erfc_a[large]
    return a, erf_a, erfc_a


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, element-wise, in float64, to double precision over all reals (NumPy has none).

    erf(x) = 2/sqrt(pi) * integral_0^x exp(-t²) dt, odd, within [-1, 1]. Below
    |x| = 2 the series of positive terms (A&S 7.1.6); above, 1 - erfc(|x|) from
    the continued fraction (A&S 7.1.14).

    Example:
        >>> from glassnet.layers.activations import erf
        >>> erf([0.0, 0.5, -1e300]).round(6)
        array([ 0.    ,  0.5205, -1.    ])
    """
    a, erf_a, _ = _erf_parts(x)
    return np.copysign(erf_a, np.asarray(x, dtype=np.float64))


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(x), element-wise, in float64, with full
    relative precision in the tail (erfc(10) = 2.09e-45, where 1 - erf(10) is 0).

    Example:
        >>> from glassnet.layers.activations import erfc
        >>> print(f"{float(erfc(10.0)):.6e}")
        2.088488e-45
    """
    z = np.asarray(x, dtype=np.float64)
    _, erf_a, erfc_a = _erf_parts(z)
    return np.where(z < 0, 1.0 + erf_a, erfc_a)  # erfc(-a) = 2 - erfc(a) = 1 + erf(a)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2 = erfc(-x / sqrt 2) / 2, in float64, in [0, 1].

    The erfc form keeps full relative precision in the lower tail, where
    1 + erf cancels (Phi(-10) = 7.6e-24, and 0 from 1 + erf).
    """
    return 0.5 * erfc(np.asarray(x, dtype=np.float64) * -_SQRT_HALF)
