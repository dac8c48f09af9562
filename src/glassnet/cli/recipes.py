"""Ready-made training setups for ``glassnet train``: data splits, models and hyper-parameters.

Each data set has default settings that reach the accuracy recorded in the
README in a few minutes on a laptop's CPU; every one can be overridden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet import datasets as gd
from glassnet._checks import short
from glassnet.layers import BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU
from glassnet.layers.augment import RandomHorizontalFlip, RandomShift
from glassnet.module import Module, Sequential

DATASETS = ("digits", "fashion-mnist", "mnist", "spirals", "moons", "xor")
IMAGE_DATASETS = ("digits", "fashion-mnist", "mnist")
IDX_DATASETS = ("fashion-mnist", "mnist")  # read from IDX files on disk (see --data-path)
# data sets whose test split is drawn with the seed: another seed tests on training samples
SEEDED_SPLITS = ("digits", "spirals", "moons", "xor")
MODELS = ("mlp", "cnn")
# raw pixels run 0..PIXEL_MAX; the models are trained on pixel / PIXEL_MAX in [0, 1]
PIXEL_MAX = {"digits": 16, "fashion-mnist": 255, "mnist": 255}


@dataclass
class Data:
    """A data set split three ways; images are NCHW float32 in [0, 1], labels int64.

    ``preprocessing`` says how the raw data became ``x`` (JSON-safe, recorded
    in the model file): ``{"divide_by": 16}`` for digits' pixels 0..16.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    class_names: list[str]
    preprocessing: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings:
    epochs: int
    batch_size: int
    optimizer: str
    lr: float


# (data set, model) -> default settings
DEFAULTS: dict[tuple[str, str], Settings] = {
    ("digits", "mlp"): Settings(epochs=40, batch_size=32, optimizer="adam", lr=1e-3),
    ("digits", "cnn"): Settings(epochs=25, batch_size=32, optimizer="adam", lr=2e-3),
    ("fashion-mnist", "mlp"): Settings(epochs=20, batch_size=128, optimizer="adam", lr=1e-3),
    ("fashion-mnist", "cnn"): Settings(epochs=25, batch_size=64, optimizer="adam", lr=1e-3),  # 93.56% in 6 min
    ("mnist", "mlp"): Settings(epochs=15, batch_size=128, optimizer="adam", lr=1e-3),
    ("mnist", "cnn"): Settings(epochs=5, batch_size=64, optimizer="adam", lr=1e-3),
    ("spirals", "mlp"): Settings(epochs=200, batch_size=32, optimizer="adam", lr=1e-2),
    ("moons", "mlp"): Settings(epochs=100, batch_size=32, optimizer="adam", lr=1e-2),
    ("xor", "mlp"): Settings(epochs=50, batch_size=32, optimizer="adam", lr=1e-2),
}


def _split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    x_train, x_val, y_train, y_val = gd.train_test_split(x, y, test_size=fraction, rng=seed)
    return x_train, y_train, x_val, y_val


def load_data(name: str, seed: int = 0, data_path: str | None = None, download: bool = False) -> Data:
    """The named data set as train / validation / test splits.

    digits: a held-out 20% test split (drawn with ``seed``), then 10% of the
    rest for validation. Fashion-MNIST and MNIST: their 10,000 test images;
    5,000 training images held out for validation. Toy sets: 20% test, 10% validation;
    xor is 400 noisy copies of its four points (four points leave nothing to hold out).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set. Expected one of {list(DATASETS)}. Received: data={short(name)}")
    names: list[str] = [str(i) for i in range(10)]
    if name in ("fashion-mnist", "mnist"):
        loader = gd.fashion_mnist if name == "fashion-mnist" else gd.mnist
        (x, y), (x_test, y_test) = loader(path=data_path, download=download)
        if name == "fashion-mnist":
            names = list(gd.FASHION_MNIST_CLASSES)
        x_train, y_train, x_val, y_val = _split_validation(x, y, 5000 / len(x), seed)
        return Data(x_train, y_train, x_val, y_val, x_test, y_test, 10, names, {"divide_by": PIXEL_MAX[name]})
    preprocessing: dict[str, Any] = {}
    if name == "digits":
        x, y = gd.digits()
        preprocessing = {"divide_by": PIXEL_MAX[name]}
    elif name == "spirals":
        x, y = gd.spirals(n=300, classes=3, noise=0.2, rng=seed)
    elif name == "moons":
        x, y = gd.moons(n=1000, noise=0.15, rng=seed)
    else:
        x, y = noisy_xor(n=400, noise=0.15, rng=seed)
    x_rest, x_test, y_rest, y_test = gd.train_test_split(x, y, test_size=0.2, rng=seed)
    x_train, y_train, x_val, y_val = _split_validation(x_rest, y_rest, 0.1, seed)
    classes = int(y.max()) + 1
    return Data(x_train, y_train, x_val, y_val, x_test, y_test, classes, names[:classes], preprocessing)


def noisy_xor(n: int, noise: float, rng: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points drawn from XOR's four corners plus Gaussian noise, labelled by their corner's XOR."""
    gen = np.random.default_rng(rng)
    corners, labels = gd.xor()
    pick = gen.integers(len(corners), size=n)
    x = (corners[pick] + gen.normal(0.0, noise, size=(n, corners.shape[1]))).astype(np.float32)
    return x, labels[pick]


def describe_shape(data: str | None, shape: Sequence[int]) -> str:
    """How a person names samples of ``shape``: "1x8x8 images", "rows of 2 features"."""
    dims = "x".join(str(d) for d in shape)
    if data in IMAGE_DATASETS or len(shape) == 3:
        return f"{dims} images"
    if len(shape) == 1:
        return f"rows of {shape[0]} features"
    return f"samples of shape {dims}"


def build_model(
    data: str,
    kind: str,
    input_shape: tuple[int, ...],
    classes: int,
    seed: int = 0,
    *,
    hidden: Sequence[int] | None = None,
    dropout: float | None = None,
) -> Module:
    """The default network for a data set: ``kind`` is "mlp" or "cnn".

    ``hidden`` (widths of the MLP's hidden layers) and ``dropout`` (after each of them) replace the MLP's
    defaults (``--hidden``, ``--dropout``); the CNNs have their own shape.
    """
    if kind not in MODELS:
        raise ValueError(f"unknown model. Expected one of {list(MODELS)}. Received: model={short(kind)}")
    rng = np.random.default_rng(seed)
    if kind == "cnn":
        if data not in IMAGE_DATASETS:
            raise ValueError(
                f"--model cnn needs image data ({', '.join(IMAGE_DATASETS)}). Received: data={short(data)}"
            )
        if hidden is not None or dropout is not None:
            raise ValueError("--hidden and --dropout shape the MLP; the built-in CNNs keep their own: use --model mlp")
        return _cnn(data, input_shape, classes, rng)
    features = int(np.prod(input_shape))
    flat = len(input_shape) > 1
    if data in ("fashion-mnist", "mnist"):
        shape: dict[str, Any] = {"hidden": (512, 256), "dropout": 0.2, "batchnorm": True}
    elif data == "digits":
        shape = {"hidden": (128,), "dropout": 0.0, "batchnorm": False}
    else:
        shape = {"hidden": (8, 8) if data == "xor" else (64, 64), "dropout": 0.0, "batchnorm": False}
    if hidden is not None:
        shape["hidden"] = tuple(hidden)
    if dropout is not None:
        shape["dropout"] = dropout
    layers = mlp(features, shape["hidden"], classes, rng, dropout=shape["dropout"], flatten=flat,
                 batchnorm=shape["batchnorm"])  # fmt: skip
    return Sequential(*layers)


def mlp(
    features: int,
    hidden: Sequence[int],
    outputs: int,
    rng: np.random.Generator,
    *,
    dropout: float = 0.0,
    init: str = "he_uniform",
    flatten: bool = False,
    batchnorm: bool = False,
) -> list[Module]:
    """Linear -> [BatchNorm1d] -> ReLU -> [Dropout] per hidden width, then Linear to ``outputs``."""
    layers: list[Module] = [Flatten()] if flatten else []
    width = features
    for h in hidden:
        layers.append(Linear(width, h, init=init, rng=rng))
        if batchnorm:
            layers.append(BatchNorm1d(h))
        layers.append(ReLU())
        if dropout > 0:
            layers.append(Dropout(dropout, rng=rng))
        width = h
    layers.append(Linear(width, outputs, rng=rng))  # Linear's default: Glorot-uniform
    return layers


def _cnn(data: str, input_shape: tuple[int, ...], classes: int, rng: np.random.Generator) -> Module:
    c, h, w = input_shape
    if data == "digits":  # 8x8 images: two 3x3 convolutions, one pooling
        return Sequential(
            Conv2d(c, 32, 3, padding=1, rng=rng), BatchNorm2d(32), ReLU(),
            Conv2d(32, 64, 3, padding=1, rng=rng), BatchNorm2d(64), ReLU(), MaxPool2d(2),
            Flatten(), Dropout(0.3, rng=rng),
            Linear(64 * (h // 2) * (w // 2), 128, init="he_uniform", rng=rng), ReLU(),
            Linear(128, classes, rng=rng),
        )  # fmt: skip
    if data == "fashion-mnist":
        return _fashion_cnn(c, h, w, classes, rng)
    # 28x28 images. BatchNorm after pooling normalises 4x fewer values than
    # before it, for the same effect on the next convolution's input.
    return Sequential(
        Conv2d(c, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2), BatchNorm2d(32),
        Conv2d(32, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2), BatchNorm2d(32),
        Flatten(), Dropout(0.3, rng=rng),
        Linear(32 * (h // 4) * (w // 4), 128, init="he_uniform", rng=rng), ReLU(), Dropout(0.3, rng=rng),
        Linear(128, classes, rng=rng),
    )  # fmt: skip


def _fashion_cnn(c: int, h: int, w: int, classes: int, rng: np.random.Generator) -> Module:
    """Two 3x3 convolutions (16 then 64 channels) on randomly flipped and shifted images.

    The augmentation runs in training only: every epoch sees each image
    mirrored or not and moved by up to 1 pixel, so 25 epochs don't overfit the
    way they would on the fixed images (a shift of 2 pixels with dropout 0.3
    regularised so much that the network underfit). The second convolution has
    the most channels because it runs at 14x14, a quarter of the first one's
    positions: 32 channels in the first cost half again the time of an epoch
    for 0.2% of accuracy. Pooling comes before ReLU: max and ReLU commute
    (max(relu(a), relu(b)) = relu(max(a, b))), so this is the same function with
    ReLU on a quarter of the values, and ReLU may overwrite the pooled array,
    which nothing else reads.
    """
    return Sequential(
        RandomHorizontalFlip(0.5, rng=rng), RandomShift(1, rng=rng),
        Conv2d(c, 16, 3, padding=1, rng=rng), MaxPool2d(2), ReLU(inplace=True), BatchNorm2d(16),
        Conv2d(16, 64, 3, padding=1, rng=rng), MaxPool2d(2), ReLU(inplace=True), BatchNorm2d(64),
        Flatten(), Dropout(0.2, rng=rng),
        Linear(64 * (h // 4) * (w // 4), 256, init="he_uniform", rng=rng), ReLU(), Dropout(0.2, rng=rng),
        Linear(256, classes, rng=rng),
    )  # fmt: skip


def settings_for(data: str, kind: str, **overrides: Any) -> Settings:
    """Default settings for (data, model) with the given overrides (None keeps the default)."""
    base = DEFAULTS.get((data, kind), DEFAULTS.get((data, "mlp")))
    if base is None:  # pragma: no cover - every data set has an MLP default
        raise ValueError(f"no defaults for data={data!r}")
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**{**base.__dict__, **values})
