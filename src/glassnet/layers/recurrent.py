"""Recurrent layers: RNN, LSTM and GRU, with backpropagation through time written out.

All three map a batch-first sequence x (N, T, input_size) to the hidden states
y (N, T, hidden_size) of every step, and compute the same numbers as
torch.nn.RNN / LSTM / GRU (one layer, ``batch_first=True``) given the same weights.

Weight layout, as Linear's (in, out), with the gates side by side in PyTorch's order:

    weight_ih: (input_size, G * hidden_size)    = torch's weight_ih_l0.T
    weight_hh: (hidden_size, G * hidden_size)   = torch's weight_hh_l0.T
    bias_ih, bias_hh: (G * hidden_size,)        = torch's bias_ih_l0, bias_hh_l0

with G = 1 for RNN, 4 for LSTM (gates i, f, g, o) and 3 for GRU (gates r, z, n).
Weights and biases start as PyTorch's: uniform on [-1/sqrt(H), 1/sqrt(H)].

State. Each forward starts from ``initial_state`` (None means zeros; an array
(N, H), or for the LSTM a pair (h0, c0), each (N, H); PyTorch's is (1, N, H))
and leaves the last step's state in ``state``. With ``stateful = True`` a
forward starts from the previous forward's ``state`` instead, so a sequence fed
in pieces (a prompt, then one character at a time) gives the same outputs as
fed whole, and generation never recomputes the prefix; ``reset_state()``
forgets it. ``use_cache(flag)`` / ``reset_cache()`` do the same under the names
MultiHeadAttention's key/value cache uses, so a generator treats both alike.
After backward, ``initial_state_grad`` holds dL/d(initial state).

Speed. The input projection of all T steps is one matrix product before the
loop; each step does only the recurrent product h @ weight_hh and element-wise
work in preallocated time-major (T, N, ...) buffers. Backward is one reverse
loop (min-char-rnn's), carrying ``dh_next`` (and ``dc_next``), that collects
the pre-activation gradients dZ; the weight gradients are then one product each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.layers._recurrent import RecurrentBase, State, sigmoid_inplace
from glassnet.registry import register_layer

__all__ = ["RNN", "LSTM", "GRU"]


@register_layer
class RNN(RecurrentBase):
    """Elman RNN: ``h_t = tanh(x_t @ W_ih + b_ih + h_{t-1} @ W_hh + b_hh)`` (or relu), as min-char-rnn.

    Args:
        input_size: features per step, F.
        hidden_size: size of the hidden state, H.
        nonlinearity: "tanh" or "relu".
        bias: learn b_ih and b_hh (PyTorch keeps both; only their sum matters here).
        rng: ``np.random.Generator`` or int seed for the initial weights.
        dtype: float32 (default) or float64.

    Shape:
        x: (N, T, F) -> y: (N, T, H), y[:, t] = h_t; initial_state and state: (N, H).
        weight_ih: (F, H), weight_hh: (H, H) (torch's weight_ih_l0.T, weight_hh_l0.T); biases (H,).

    Backward (dy = dL/dy), one reverse loop over the cached h_t, dh_next = dL/dh_t from step t+1:
        dh = dy[:, t] + dh_next
        dz = dh * (1 - h_t**2)          (relu: dh * (h_t > 0))
        dh_next = dz @ W_hh.T
        dW_ih = sum_t x_t.T @ dz_t,  dW_hh = sum_t h_{t-1}.T @ dz_t,  db_ih = db_hh = sum_t dz_t.sum(0)
        dx[:, t] = dz_t @ W_ih.T,    initial_state_grad = dh_next after step 0

    Example:
        >>> import numpy as np, glassnet as gn
        >>> rnn = gn.RNN(3, 5, rng=0)
        >>> rnn(np.ones((2, 4, 3), dtype=np.float32)).shape, rnn.state.shape
        ((2, 4, 5), (2, 5))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        bias: bool = True,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu'. Received: nonlinearity={short(nonlinearity)}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias=bias, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        n, t, _ = x.shape
        h0, given = self._start(n)
        x_rows, xw = self._project(x, self._both_biases())
        hs = np.empty((t + 1, n, self.hidden_size), self.dtype)
        hs[0] = 0 if h0 is None else h0
        hs[1:] = xw  # the pre-activations, turned into h_t in place below
        w_hh = self.weight_hh.data
        for step in range(t):
            h = hs[step + 1]
            h += hs[step] @ w_hh
            if self.nonlinearity == "tanh":
                np.tanh(h, out=h)
            else:
                np.maximum(h, 0, out=h)
        self.state = hs[t].copy()
        self._cache = {"x_rows": x_rows, "hs": hs, "given": given} if self.training else None
        return np.ascontiguousarray(hs[1:].transpose(1, 0, 2))

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        cache = self._cached()
        dys, hs = self._time_major(dy, cache), cache["hs"]
        dz = np.empty_like(hs[1:])
        dh_next = np.zeros_like(hs[0])
        w_hh_t = self._w_hh_t()
        for t in reversed(range(dys.shape[0])):
            dh = dys[t] + dh_next
            if self.nonlinearity == "tanh":
                np.multiply(dh, 1 - hs[t + 1] * hs[t + 1], out=dz[t])  # tanh' from the output: 1 - h**2
            else:
                np.multiply(dh, hs[t + 1] > 0, out=dz[t])
            if t or cache["given"]:  # after step 0, dh_next is the initial state's gradient
                dh_next = dz[t] @ w_hh_t
        self.initial_state_grad = dh_next if cache["given"] else None
        return self._finish_backward(dz, dz, cache)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "nonlinearity": self.nonlinearity}


@register_layer
class LSTM(RecurrentBase):
    """Long short-term memory, PyTorch's equations and gate order (i, f, g, o)::

        [i, f, g, o] = x_t @ W_ih + b_ih + h_{t-1} @ W_hh + b_hh     (pre-activations, 4H wide)
        i, f, o = sigmoid(.);  g = tanh(.)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Args:
        input_size: features per step, F.
        hidden_size: size of h and c, H.
        bias: learn b_ih and b_hh.
        rng: ``np.random.Generator`` or int seed for the initial weights.
        dtype: float32 (default) or float64.

    Shape:
        x: (N, T, F) -> y: (N, T, H), y[:, t] = h_t; initial_state and state: (h, c), each (N, H).
        weight_ih: (F, 4H), weight_hh: (H, 4H), columns [i | f | g | o] (torch's weight_ih_l0.T,
        weight_hh_l0.T); biases (4H,).

    Backward (dy = dL/dy), one reverse loop carrying dh_next = dL/dh_t and dc_next = dL/dc_t from step t+1:
        dh = dy[:, t] + dh_next
        do = dh * tanh(c_t)
        dc = dc_next + dh * o * (1 - tanh(c_t)**2)
        di = dc * g;  df = dc * c_{t-1};  dg = dc * i;  dc_next = dc * f
        dz = [di * i*(1-i), df * f*(1-f), dg * (1-g**2), do * o*(1-o)]
        dh_next = dz @ W_hh.T
        then, as for RNN: dW_ih = sum_t x_t.T @ dz_t, dW_hh = sum_t h_{t-1}.T @ dz_t, db = sum dz,
        dx[:, t] = dz_t @ W_ih.T, initial_state_grad = (dh_next, dc_next) after step 0

    Example:
        >>> import numpy as np, glassnet as gn
        >>> lstm = gn.LSTM(3, 5, rng=0)
        >>> y = lstm(np.ones((2, 4, 3), dtype=np.float32))
        >>> h, c = lstm.state
        >>> y.shape, bool(np.array_equal(y[:, -1], h))
        ((2, 4, 5), True)
    """

    gates = 4

    def _check_state(self, value: Any, n: int, name: str) -> State:
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise TypeError(
                f"{name} of an LSTM must be a pair (h0, c0). Received: {name} of type {type(value).__name__}"
            )
        return self._one_state(value[0], n, name + "[0]"), self._one_state(value[1], n, name + "[1]")

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        n, t, _ = x.shape
        start, given = self._start(n)
        H = self.hidden_size
        # sigmoid(z) = (1 + tanh(z / 2)) / 2. With the i, f, o columns of the pre-activations halved (scale),
        # one tanh over all 4H columns followed by  a * scale + (1 - scale)  gives [i, f, g, o]: four
        # calls per step on contiguous rows instead of one per gate, and no exp(-z) that could overflow.
        # (Halving the weights instead would save one call per step but cost a copy of W_hh per forward,
        # which is most of the time of a forward of one character when generating.)
        scale = np.full(4 * H, 0.5, self.dtype)
        scale[2 * H : 3 * H] = 1
        shift = 1 - scale
        x_rows, gates = self._project(x, self._both_biases())
        w_hh = self.weight_hh.data
        hs = np.zeros((t + 1, n, H), self.dtype)
        cs = np.zeros((t + 1, n, H), self.dtype)
        if start is not None:
            hs[0], cs[0] = start
        tanh_c = np.empty((t, n, H), self.dtype)
        hw = np.empty((n, 4 * H), self.dtype)
        ig = np.empty((n, H), self.dtype)
        for step in range(t):
            a = gates[step]  # the pre-activations, made [i, f, g, o] in place
            np.matmul(hs[step], w_hh, out=hw)
            a += hw
            a *= scale
            np.tanh(a, out=a)
            a *= scale
            a += shift
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c = cs[step + 1]
            np.multiply(f, cs[step], out=c)
            np.multiply(i, g, out=ig)
            c += ig
            np.tanh(c, out=tanh_c[step])
            np.multiply(o, tanh_c[step], out=hs[step + 1])
        self.state = (hs[t].copy(), cs[t].copy())
        if self.training:
            self._cache = {"x_rows": x_rows, "hs": hs, "cs": cs, "tanh_c": tanh_c, "gates": gates, "given": given}
        else:
            self._cache = None
        return np.ascontiguousarray(hs[1:].transpose(1, 0, 2))

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        cache = self._cached()
        dys, cs, tanh_c, gates = self._time_major(dy, cache), cache["cs"], cache["tanh_c"], cache["gates"]
        n, H = cs.shape[1], self.hidden_size
        # Through the activations, from their outputs: sigmoid' = a(1 - a) on i, f, o and tanh' = 1 - g**2
        # on g, both as  a * (p - a) + q  with p = 1, q = 0 on the sigmoid columns and p = 0, q = 1 on g.
        p = np.ones(4 * H, self.dtype)
        p[2 * H : 3 * H] = 0
        q = 1 - p
        dz = np.empty_like(gates)
        dh, dc, dc_next, dh_next = (np.zeros((n, H), self.dtype) for _ in range(4))
        act = np.empty((n, 4 * H), self.dtype)
        w_hh_t = self._w_hh_t()
        for t in reversed(range(dys.shape[0])):
            a, d, tc = gates[t], dz[t], tanh_c[t]
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            di, df, dg, do = d[:, :H], d[:, H : 2 * H], d[:, 2 * H : 3 * H], d[:, 3 * H :]
            np.add(dys[t], dh_next, out=dh)
            np.multiply(dh, tc, out=do)
            np.multiply(tc, tc, out=dc)  # dc = dc_next + dh * o * (1 - tanh(c)**2)
            np.subtract(1, dc, out=dc)
            dc *= o
            dc *= dh
            dc += dc_next
            np.multiply(dc, g, out=di)
            np.multiply(dc, cs[t], out=df)
            np.multiply(dc, i, out=dg)
            np.multiply(dc, f, out=dc_next)
            np.subtract(p, a, out=act)
            act *= a
            act += q
            d *= act
            if t or cache["given"]:  # after step 0, dh_next is the initial state's gradient
                np.matmul(d, w_hh_t, out=dh_next)
        self.initial_state_grad = (dh_next, dc_next) if cache["given"] else None
        return self._finish_backward(dz, dz, cache)


@register_layer
class GRU(RecurrentBase):
    """Gated recurrent unit, PyTorch's equations and gate order (r, z, n)::

        r = sigmoid(x_t @ W_ir + b_ir + h_{t-1} @ W_hr + b_hr)
        z = sigmoid(x_t @ W_iz + b_iz + h_{t-1} @ W_hz + b_hz)
        n = tanh(x_t @ W_in + b_in + r * (h_{t-1} @ W_hn + b_hn))     (the reset gate acts inside)
        h_t = (1 - z) * n + z * h_{t-1}

    Args:
        input_size: features per step, F.
        hidden_size: size of the hidden state, H.
        bias: learn b_ih and b_hh (here b_hn differs from b_in: it is scaled by r).
        rng: ``np.random.Generator`` or int seed for the initial weights.
        dtype: float32 (default) or float64.

    Shape:
        x: (N, T, F) -> y: (N, T, H), y[:, t] = h_t; initial_state and state: (N, H).
        weight_ih: (F, 3H), weight_hh: (H, 3H), columns [r | z | n] (torch's weight_ih_l0.T,
        weight_hh_l0.T); biases (3H,).

    Backward (dy = dL/dy), one reverse loop carrying dh_next = dL/dh_t from step t+1, with hn = h_{t-1} @ W_hn + b_hn:
        dh = dy[:, t] + dh_next
        dn = dh * (1 - z) * (1 - n**2)         (dL/d of n's pre-activation)
        dr = dn * hn * r*(1-r);  dz = dh * (h_{t-1} - n) * z*(1-z);  dhn = dn * r
        dzx = [dr, dz, dn] (input side),  dzh = [dr, dz, dhn] (recurrent side)
        dh_next = dh * z + dzh @ W_hh.T
        dW_ih = sum_t x_t.T @ dzx_t, db_ih = sum dzx; dW_hh = sum_t h_{t-1}.T @ dzh_t, db_hh = sum dzh;
        dx[:, t] = dzx_t @ W_ih.T, initial_state_grad = dh_next after step 0

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gru = gn.GRU(3, 5, rng=0)
        >>> gru(np.ones((2, 4, 3), dtype=np.float32)).shape
        (2, 4, 5)
    """

    gates = 3

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        n, t, _ = x.shape
        h0, given = self._start(n)
        H = self.hidden_size
        b_hn = None
        fold = None  # b_ih, plus b_hh of r and z (outside the reset product, so it folds into the projection)
        if self.bias_ih is not None and self.bias_hh is not None:
            fold = self.bias_ih.data.copy()
            fold[: 2 * H] += self.bias_hh.data[: 2 * H]
            b_hn = self.bias_hh.data[2 * H :]
        x_rows, gates = self._project(x, fold)  # becomes [r | z | n] in place
        hs = np.zeros((t + 1, n, H), self.dtype)
        if h0 is not None:
            hs[0] = h0
        hn = np.empty((t, n, H), self.dtype)  # h_{t-1} @ W_hn + b_hn, kept for backward
        w_hh = self.weight_hh.data
        for step in range(t):
            a, h_prev = gates[step], hs[step]
            hw = h_prev @ w_hh
            rz = a[:, : 2 * H]
            rz += hw[:, : 2 * H]
            sigmoid_inplace(rz)
            r, z, new = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            hn[step] = hw[:, 2 * H :]
            if b_hn is not None:
                hn[step] += b_hn
            new += r * hn[step]
            np.tanh(new, out=new)
            h = hs[step + 1]  # h = n + z * (h_prev - n)
            np.subtract(h_prev, new, out=h)
            h *= z
            h += new
        self.state = hs[t].copy()
        self._cache = {"x_rows": x_rows, "hs": hs, "hn": hn, "gates": gates, "given": given} if self.training else None
        return np.ascontiguousarray(hs[1:].transpose(1, 0, 2))

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        cache = self._cached()
        dys, hs, hn, gates = self._time_major(dy, cache), cache["hs"], cache["hn"], cache["gates"]
        H = self.hidden_size
        dzx = np.empty_like(gates)
        dzh = np.empty_like(gates)
        dh_next = np.zeros_like(hs[0])
        w_hh_t = self._w_hh_t()
        for t in reversed(range(dys.shape[0])):
            a, dx_t, dh_t = gates[t], dzx[t], dzh[t]
            r, z, new = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            dr, dz, dn = dx_t[:, :H], dx_t[:, H : 2 * H], dx_t[:, 2 * H :]
            dh = dys[t] + dh_next
            np.subtract(1, z, out=dn)
            dn *= dh
            dn *= 1 - new * new  # through tanh, from its output
            np.multiply(dn, r, out=dh_t[:, 2 * H :])  # dhn
            np.multiply(dn, hn[t], out=dr)
            dr *= r - r * r
            np.subtract(hs[t], new, out=dz)
            dz *= dh
            dz *= z - z * z
            dh_t[:, : 2 * H] = dx_t[:, : 2 * H]
            dh *= z
            if t or cache["given"]:
                dh += dh_t @ w_hh_t
            dh_next = dh
        self.initial_state_grad = dh_next if cache["given"] else None
        return self._finish_backward(dzx, dzh, cache)
