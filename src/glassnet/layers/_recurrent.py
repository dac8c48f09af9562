"""The machinery RNN, LSTM and GRU share: weights, input and state checks, and the products outside the time loop.

See glassnet.layers.recurrent for the layers, their equations and the weight layout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet._checks import as_rng, check_dtype, positive_int, strict_bool
from glassnet.layers._base import drawn_array, expect_ndim, missing_cache
from glassnet.module import Module, Parameter

State = Any  # an (N, H) array, or an (h, c) pair of them for the LSTM


def sigmoid_inplace(a: np.ndarray) -> np.ndarray:
    """In place: sigmoid(a) = (1 + tanh(a / 2)) / 2, which cannot overflow (exp(-a) can)."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


class RecurrentBase(Module):
    """Base class of RNN, LSTM and GRU (``gates`` weight blocks side by side); not a layer by itself."""

    # not per_sample: the final state kept in ``state`` (and carried with stateful=True) is the
    # whole batch's, so predict must not split the batch (see Module.samples_independent)

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        bias = strict_bool(bias, "bias")
        self.dtype = check_dtype(dtype)
        gen, k, width = as_rng(rng), 1.0 / math.sqrt(self.hidden_size), self.gates * self.hidden_size

        def draw(*shape: int) -> Parameter:
            return Parameter(drawn_array(shape, self.dtype, lambda: gen.uniform(-k, k, shape)))

        self.weight_ih = draw(self.input_size, width)
        self.weight_hh = draw(self.hidden_size, width)
        self.bias_ih = draw(width) if bias else None
        self.bias_hh = draw(width) if bias else None
        self.initial_state: State = None
        self.state: State = None
        self.stateful = False
        self.initial_state_grad: State = None
        self._cache: dict[str, Any] | None = None

    # -- checks and state ---------------------------------------------------
    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(
                f"{name} has shape {x.shape}, but {self!r} expects sequences of shape (N, T, {self.input_size})"
            )

    def _input(self, x: np.ndarray) -> np.ndarray:
        layout = f"(N, T, input_size={self.input_size})"
        expect_ndim(self, x, 3, layout)
        if x.shape[2] != self.input_size or x.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}.forward expected input of shape {layout}, got {x.shape}")
        return x.astype(self.dtype, copy=False)  # every layer computes in its own dtype

    def _one_state(self, value: Any, n: int, name: str) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{name} must be a numpy array. Received: {name} of type {type(value).__name__}")
        if value.shape != (n, self.hidden_size):
            raise ValueError(
                f"{name} must have shape (N, hidden_size) = ({n}, {self.hidden_size}). Received: shape {value.shape}"
            )
        return value.astype(self.dtype, copy=False)

    def _start(self, n: int) -> tuple[State, bool]:
        """The state to start from, checked, and whether it was given (so backward owes its gradient)."""
        name, value = "initial_state", self.initial_state
        if self.stateful and self.state is not None:
            name, value = "state (carried because stateful=True; call reset_state() for a new batch)", self.state
        if value is None:
            return None, False
        return self._check_state(value, n, name), True

    def _check_state(self, value: Any, n: int, name: str) -> State:
        return self._one_state(value, n, name)

    def reset_state(self) -> None:
        """Forget the carried state: the next forward starts from ``initial_state`` (or zeros)."""
        self.state = None

    # The generation protocol MultiHeadAttention's key/value cache follows, so that a generator can
    # treat every layer with a memory alike: the "cache" of a recurrent layer is its carried state.
    def use_cache(self, flag: bool = True) -> None:
        """Carry the state between forward calls (``stateful = flag``), starting afresh."""
        self.stateful = bool(flag)
        self.state = None

    def reset_cache(self) -> None:
        """The same as ``reset_state()``."""
        self.reset_state()

    # -- the parts outside the time loop ------------------------------------
    def _project(
        self, x: np.ndarray, b: np.ndarray | None, w: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """x (N, T, F) -> the time-major input rows (T*N, F) and x @ w + b, (T, N, G*H); w defaults to W_ih."""
        n, t, _ = x.shape
        x_rows = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(t * n, self.input_size)
        xw = x_rows @ (self.weight_ih.data if w is None else w)
        if b is not None:
            xw += b
        return x_rows, xw.reshape(t, n, -1)

    def _finish_backward(self, dzx: np.ndarray, dzh: np.ndarray, cache: dict[str, Any]) -> np.ndarray | None:
        """Weight gradients from the collected pre-activation gradients, then dx.

        dW_ih = x_rows.T @ dZx,  dW_hh = h_prev_rows.T @ dZh,  db_ih = sum dZx,  db_hh = sum dZh,
        dx = dZx @ W_ih.T, where dZx and dZh are dL/d(x W_ih + b_ih) and dL/d(h W_hh + b_hh).
        """
        t, n, width = dzx.shape
        dzx_rows, dzh_rows = dzx.reshape(t * n, width), dzh.reshape(t * n, width)
        self.weight_ih.grad += cache["x_rows"].T @ dzx_rows
        self.weight_hh.grad += cache["hs"][:-1].reshape(t * n, self.hidden_size).T @ dzh_rows
        if self.bias_ih is not None and self.bias_hh is not None:
            db_ih = dzx_rows.sum(axis=0)
            self.bias_ih.grad += db_ih
            self.bias_hh.grad += db_ih if dzh is dzx else dzh_rows.sum(axis=0)  # RNN and LSTM: one dZ for both
        if not self.input_grad:
            return None  # see Module.set_input_grad
        return (dzx_rows @ self.weight_ih.data.T).reshape(t, n, self.input_size).transpose(1, 0, 2)

    def _w_hh_t(self) -> np.ndarray:
        # A contiguous copy of W_hh.T: BLAS multiplies by it faster than by the transposed view,
        # and the copy is made once per backward, not once per step.
        return np.ascontiguousarray(self.weight_hh.data.T)

    def _cached(self) -> dict[str, Any]:
        if self._cache is None:
            raise missing_cache(self)
        return self._cache

    def _time_major(self, dy: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
        t, n = cache["hs"].shape[0] - 1, cache["hs"].shape[1]
        if dy.shape != (n, t, self.hidden_size):
            raise ValueError(
                f"{type(self).__name__}.backward expected dy of shape {(n, t, self.hidden_size)}, got {dy.shape}"
            )
        return dy.transpose(1, 0, 2).astype(self.dtype, copy=False)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*input_shape[:-1], self.hidden_size)

    def get_config(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "bias": self.bias_ih is not None,
            "dtype": self.dtype.name,
        }

    def _both_biases(self) -> np.ndarray | None:
        if self.bias_ih is None or self.bias_hh is None:
            return None
        return self.bias_ih.data + self.bias_hh.data
