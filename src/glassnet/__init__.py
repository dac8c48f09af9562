"""glassnet: neural networks from scratch in NumPy.

Every forward pass, derivative and update is plain NumPy next to its math.
The tutorial's network, trained on its four rows:

    >>> import glassnet as gn
    >>> X, y = gn.datasets.tutorial()
    >>> model = gn.Sequential(gn.Linear(3, 4, bias=False, rng=1), gn.Sigmoid(),
    ...                       gn.Linear(4, 1, bias=False, rng=1), gn.Sigmoid())
    >>> history = model.fit(X, y, loss=gn.SSELoss(), optimizer=gn.SGD(model.parameters(), lr=1.0),
    ...                     epochs=1500, verbose=0)
    >>> model.predict(X).round().ravel().tolist()
    [0.0, 1.0, 1.0, 0.0]
"""

from glassnet import _version, datasets, init, models, testing
from glassnet.callbacks import Callback, EarlyStopping, TerminateOnNaN
from glassnet.checkpoint import ModelCheckpoint
from glassnet.diagnostics import Diagnostics
from glassnet.explain import explain
from glassnet.history import History
from glassnet.io import load
from glassnet.layers import (
    ELU,
    GELU,
    GRU,
    LSTM,
    RNN,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool2d,
    MultiHeadAttention,
    RandomHorizontalFlip,
    RandomShift,
    ReLU,
    Residual,
    Sigmoid,
    Softmax,
    Tanh,
)
from glassnet.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, SSELoss
from glassnet.lr_find import lr_find
from glassnet.metrics import Accuracy, MeanSquaredError
from glassnet.module import Module, Parameter, Sequential
from glassnet.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ExponentialLR,
    GradientClipping,
    LRScheduler,
    Optimizer,
    RMSprop,
    StepLR,
    WarmupCosineLR,
    clip_grad_norm,
)
from glassnet.parallel import get_num_threads, set_num_threads
from glassnet.registry import register_layer

__version__ = _version.VERSION

__all__ = [
    "Parameter",
    "Module",
    "Sequential",
    "Linear",
    "Identity",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "GELU",
    "Softmax",
    "Flatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
    "LayerNorm",
    "MultiHeadAttention",
    "Residual",
    "RandomShift",
    "RandomHorizontalFlip",
    "load",
    "register_layer",
    "Loss",
    "SSELoss",
    "MSELoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Optimizer",
    "SGD",
    "Adam",
    "RMSprop",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "AdamW",
    "WarmupCosineLR",
    "clip_grad_norm",
    "GradientClipping",
    "History",
    "Callback",
    "EarlyStopping",
    "TerminateOnNaN",
    "ModelCheckpoint",
    "Accuracy",
    "MeanSquaredError",
    "datasets",
    "models",
    "init",
    "testing",
    "explain",
    "Diagnostics",
    "lr_find",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]


def __getattr__(name: str) -> object:
    # The optional bridges load on first use (gn.onnx.export, gn.sklearn.MLPClassifier), so that
    # importing glassnet never imports them; each imports its own dependency lazily in turn.
    if name in ("onnx", "sklearn"):
        import importlib

        return importlib.import_module(f"glassnet.{name}")
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")
