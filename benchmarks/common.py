"""What every benchmark process shares: the architectures, their FLOP counts, the data and memory probes.

The architectures are written once, as plain tuples, and each framework's model is
built from the same tuple, so "the same network" is true by construction and the
FLOP count is computed from the very description that built it.
"""

from __future__ import annotations

import resource
import sys
from typing import Any

import numpy as np

# (kind, *arguments); "conv" is (in_channels, out_channels, kernel_size, padding), stride 1.
Spec = tuple[tuple[Any, ...], ...]

TUTORIAL: Spec = (("linear", 3, 4), ("sigmoid",), ("linear", 4, 1), ("sigmoid",))
MLP: Spec = (("linear", 784, 256), ("relu",), ("linear", 256, 128), ("relu",), ("linear", 128, 10))
CNN: Spec = (
    ("conv", 1, 16, 3, 1),
    ("relu",),
    ("maxpool", 2),
    ("conv", 16, 32, 3, 1),
    ("relu",),
    ("maxpool", 2),
    ("flatten",),
    ("linear", 32 * 7 * 7, 128),
    ("relu",),
    ("linear", 128, 10),
)
SPECS: dict[str, Spec] = {"tutorial": TUTORIAL, "mlp": MLP, "cnn": CNN}
INPUT_SHAPES: dict[str, tuple[int, ...]] = {"tutorial": (3,), "mlp": (784,), "cnn": (1, 28, 28)}

# The tutorial's four rows.
TUTORIAL_X = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
TUTORIAL_Y = [[0], [1], [1], [0]]


def layer_flops(spec: Spec, input_shape: tuple[int, ...]) -> list[int]:
    """Floating-point operations of one sample's forward pass, per layer of ``spec``, counting only the products.

    A Linear(in, out) costs 2*in*out (a multiply and an add per weight); a conv costs
    2*Cin*kH*kW*Cout*H'*W'. Activations, pooling and biases count 0: they are
    memory-bound and small next to the products, and leaving them out is what makes
    "effective GFLOP/s" comparable with a matrix product's.
    """
    shape = tuple(input_shape)
    flops = []
    for layer in spec:
        kind, cost = layer[0], 0
        if kind == "linear":
            _, fan_in, fan_out = layer
            if shape[-1] != fan_in:
                raise ValueError(f"linear({fan_in}, {fan_out}) after an output of shape {shape}")
            cost = 2 * fan_in * fan_out
            shape = (*shape[:-1], fan_out)
        elif kind == "conv":
            _, c_in, c_out, k, pad = layer
            c, h, w = shape
            if c != c_in:
                raise ValueError(f"conv({c_in}, {c_out}) after an output of shape {shape}")
            h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
            cost = 2 * c_in * k * k * c_out * h * w
            shape = (c_out, h, w)
        elif kind == "maxpool":
            c, h, w = shape
            shape = (c, h // layer[1], w // layer[1])
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
        flops.append(cost)
    return flops


def forward_flops(spec: Spec, input_shape: tuple[int, ...]) -> int:
    """Products' FLOPs of one sample's forward pass through ``spec`` (see ``layer_flops``)."""
    return sum(layer_flops(spec, input_shape))


# -- data ---------------------------------------------------------------------------------------


def load_data(
    workload: str,
    *,
    synthetic: bool,
    limit: int | None,
    test_limit: int | None,
    seed: int = 0,
    cache: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST (or a random stand-in of the same shapes) as float32 in [0, 1] and int64 labels.

    Images are (N, 784) for the MLP and (N, 1, 28, 28) for the CNN. ``limit`` and
    ``test_limit`` keep the first N training / test samples. Every framework's
    process calls this same function, so loading costs the same everywhere.
    A process that runs several workloads passes a ``cache`` dict to load the files once.
    """
    if synthetic:
        rng = np.random.default_rng(seed)
        n_train = 60_000 if limit is None else limit
        n_test = 10_000 if test_limit is None else test_limit
        x_train = rng.random((n_train, 1, 28, 28), dtype=np.float32)
        x_test = rng.random((n_test, 1, 28, 28), dtype=np.float32)
        y_train = rng.integers(0, 10, n_train, dtype=np.int64)
        y_test = rng.integers(0, 10, n_test, dtype=np.int64)
    else:
        if cache is not None and "fashion-mnist" in cache:
            (x_train, y_train), (x_test, y_test) = cache["fashion-mnist"]
        else:
            (x_train, y_train), (x_test, y_test) = fashion_mnist()
            if cache is not None:
                cache["fashion-mnist"] = (x_train, y_train), (x_test, y_test)
        if limit is not None:
            x_train, y_train = x_train[:limit].copy(), y_train[:limit].copy()
        if test_limit is not None:
            x_test, y_test = x_test[:test_limit].copy(), y_test[:test_limit].copy()
    if workload == "mlp":  # rows of 784 pixels: a view, no copy
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    return x_train, y_train, x_test, y_test


def fashion_mnist() -> Any:
    """glassnet's own Fashion-MNIST loader: ((x_train, y_train), (x_test, y_test)), NCHW float32."""
    from glassnet.datasets import fashion_mnist as load

    return load()


# -- memory -------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """The process's peak resident set size so far (``ru_maxrss``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _status_kib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def rss_now_mib() -> float | None:
    """The resident set size right now, in MiB (Linux), else None."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024


def reset_peak_rss() -> bool:
    """Restart the kernel's high-water mark (VmHWM) at the current RSS; True if it worked (Linux >= 4.0).

    ``ru_maxrss`` can't be reset, so the training increment is measured on VmHWM:
    otherwise a transient peak while loading the data would hide what training adds.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def peak_since_reset_mib() -> float | None:
    kib = _status_kib("VmHWM")
    return None if kib is None else kib / 1024


# -- models -------------------------------------------------------------------------------------


def glassnet_model(spec: Spec, seed: int, dtype: Any = np.float32, init: str | None = None) -> Any:
    """A ``gn.Sequential`` built from ``spec``."""
    import glassnet as gn

    rng = np.random.default_rng(seed)
    layers = []
    for layer in spec:
        kind = layer[0]
        if kind == "linear":
            kwargs: dict[str, Any] = {"rng": rng, "dtype": dtype}
            if init is not None:
                kwargs["init"] = init
            layers.append(gn.Linear(layer[1], layer[2], **kwargs))
        elif kind == "conv":
            from glassnet.layers.conv import Conv2d

            _, c_in, c_out, k, pad = layer
            layers.append(Conv2d(c_in, c_out, k, padding=pad, rng=rng, dtype=dtype))
        elif kind == "maxpool":
            from glassnet.layers.pooling import MaxPool2d

            layers.append(MaxPool2d(layer[1]))
        elif kind == "flatten":
            from glassnet.layers.reshape import Flatten

            layers.append(Flatten())
        elif kind == "relu":
            layers.append(gn.ReLU())
        elif kind == "sigmoid":
            layers.append(gn.Sigmoid())
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return gn.Sequential(*layers)


def torch_model(spec: Spec, seed: int) -> Any:
    """The idiomatic ``torch.nn.Sequential`` for ``spec`` (PyTorch's default initialisation)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for layer in spec:
        kind = layer[0]
        if kind == "linear":
            layers.append(nn.Linear(layer[1], layer[2]))
        elif kind == "conv":
            _, c_in, c_out, k, pad = layer
            layers.append(nn.Conv2d(c_in, c_out, k, padding=pad))
        elif kind == "maxpool":
            layers.append(nn.MaxPool2d(layer[1]))
        elif kind == "flatten":
            layers.append(nn.Flatten())
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "sigmoid":
            layers.append(nn.Sigmoid())
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return nn.Sequential(*layers)
