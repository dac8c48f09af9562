"""Argument checks shared by the whole library.

Every check raises ValueError or TypeError that names the argument and echoes
what it received, in the form "expected a positive integer. Received: units=0".
The echo goes through ``short``, so a 60 MB string read from a file gives a
message of a few hundred characters, not a 60 MB one.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from typing import Any

import numpy as np

MAX_ECHO = 200  # characters of a received value that an error message repeats
MAX_SIZE = 2**31 - 1  # the largest kernel size, stride or padding a layer accepts
MAX_NDIM = 64  # NumPy's limit on the number of axes

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_ECHO
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 10
_REPR.maxlevel = 4


def clip(text: str, limit: int = 2 * MAX_ECHO) -> str:
    """``text`` cut to at most ``limit`` characters (for an error message that quotes another)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value: Any, limit: int = MAX_ECHO) -> str:
    """A repr of ``value`` for an error message: at most ``limit`` characters, never an error itself.

    Example:
        >>> short("x" * 10_000)[:8], len(short("x" * 10_000)) <= 200
        ("'xxxxxxx", True)
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an integer of {value.bit_length()} bits>"  # repr() of a huge int is slow, or refused
    try:
        text = _REPR.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def positive_int(value: Any, name: str, *, allow_zero: bool = False, high: int | None = None) -> int:
    """``value`` as an int, which must be > 0 (or >= 0 with ``allow_zero``), and <= ``high`` if given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer. Received: {name}={short(value)}")
    value = int(value)
    if value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {kind} integer. Received: {name}={short(value)}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}. Received: {name}={short(value)}")
    return value


def int_pair(value: Any, name: str, *, allow_zero: bool = False, high: int = MAX_SIZE) -> tuple[int, int]:
    """An int or a pair of ints (kernel sizes, strides, padding) as a pair, each at most ``high``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints. Received: {name}={short(value)}")
        a, b = (positive_int(v, name, allow_zero=allow_zero, high=high) for v in value)
        return a, b
    v = positive_int(value, name, allow_zero=allow_zero, high=high)
    return v, v


def bounded_int(value: Any, name: str, low: int, high: int) -> int:
    """``value`` as an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer. Received: {name}={short(value)}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}]. Received: {name}={short(value)}")
    return value


def axis(value: Any, name: str = "axis") -> int:
    """An array axis: an int in [-64, 63], NumPy's range, so a bad one fails here and not at predict."""
    return bounded_int(value, name, -MAX_NDIM, MAX_NDIM - 1)


def strict_bool(value: Any, name: str) -> bool:
    """``value``, which must be True or False: the string "false" is refused, not read as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Received: {name}={short(value)}")
    return bool(value)


def real(value: Any, name: str) -> float:
    """``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number. Received: {name}={short(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite. Received: {name}={short(value)}")
    return value


def real_or_inf(value: Any, name: str) -> float:
    """``value`` as a float that may be infinite but not NaN (a "best so far" before any value)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number. Received: {name}={short(value)}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN. Received: {name}={short(value)}")
    return value


def positive_float(value: Any, name: str) -> float:
    value = real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive. Received: {name}={short(value)}")
    return value


def in_range(value: Any, name: str, low: float, high: float, *, high_open: bool = True) -> float:
    """``value`` as a float in [low, high) (or [low, high] with ``high_open=False``)."""
    value = real(value, name)
    if value < low or value > high or (high_open and value == high):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}. Received: {name}={short(value)}")
    return value


def check_dtype(dtype: Any) -> np.dtype:
    """A floating dtype (float32 or float64)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a numpy floating dtype. Received: dtype={short(dtype)}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64. Received: dtype={short(dtype)}")
    return dt


def as_rng(rng: Any) -> np.random.Generator:
    """A Generator from a Generator, an int seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(None if rng is None else int(rng))
    raise TypeError(f"rng must be a numpy Generator, an int seed or None. Received: rng={short(rng)}")


def as_bool(value: Any, name: str) -> bool:
    """``value`` as a bool; anything but True, False (or a NumPy bool) is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Received: {name}={short(value)}")
    return bool(value)


def as_data(x: Any, name: str, *, dtype: np.dtype | None = None) -> np.ndarray:
    """User data as a non-empty, finite, real array of integers or floats (cast to ``dtype`` if given).

    Masked arrays are refused (their mask would be silently ignored), and so are
    bool, complex, timedelta64, datetime64, string and object data.
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} must be a plain numpy array, not a masked array: its mask would be ignored. "
            f"Fill or drop the masked values first (e.g. {name}.filled(0)). Received: {name}={short(x)}"
        )
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{name} must be a numeric array. Received: {name} of type {type(x).__name__} ({err})"
            ) from None
    if arr.dtype.kind not in "iuf":  # timedelta64 counts as a NumPy number, but isn't data to learn from
        raise TypeError(
            f"{name} must be a real numeric array (integers or floats). "
            f"Received: {name} with dtype {arr.dtype}: {short(arr)}"
        )
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample. Received: {name} with shape {arr.shape}")
    if arr.dtype.kind == "f" and not all_finite(arr):
        bad = int(arr.size - np.isfinite(arr).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean or impute them first")
    return arr if dtype is None else cast_data(arr, dtype, name)


def cast_data(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``arr`` (checked by ``as_data``) cast to ``dtype``, refusing values that overflow it.

    The check runs after the cast: 1e300 is finite in float64 but inf in float32.
    """
    dtype = np.dtype(dtype)
    if arr.dtype == dtype:
        return arr
    with np.errstate(over="ignore"):  # an overflow is reported below, with the argument's name
        out = arr.astype(dtype)
    if dtype.kind == "f" and not all_finite(out):
        bad = int(out.size - np.isfinite(out).sum())
        limit = float(np.finfo(dtype).max)
        raise ValueError(
            f"{name} holds {bad} value(s) too large for {dtype} (|value| > {limit:.3g}), such as "
            f"{float(arr[~np.isfinite(out)][0])!r}; scale the data, or use a float64 model"
        )
    return out


def all_finite(*arrays: np.ndarray) -> bool:
    """Whether every value of the float arrays is finite (no NaN, no inf).

    A NaN or inf makes x·x NaN or inf, so one fast BLAS product per array, summed,
    clears the usual case in one pass (fit checks every gradient at every step);
    only a non-finite sum (bad values, or an overflow of the squares) needs the
    full check. ``np.vdot`` raises no floating-point warnings (it is not a ufunc),
    so no error-state switch is needed around it.
    """
    total = 0.0
    for arr in arrays:
        total += float(np.vdot(arr, arr))
    if math.isfinite(total):
        return True
    return all(bool(np.isfinite(arr).all()) for arr in arrays)
