"""Metrics for ``fit`` and ``evaluate``: callables ``metric(pred, target) -> float``.

Each is a mean over samples, so ``fit`` can combine batches by weighting each
batch's value with its size. Pass instances or the names "accuracy" and "mse".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet._checks import real
from glassnet.losses import class_labels, probability_targets, same_shape

__all__ = ["Accuracy", "MeanSquaredError", "accuracy", "mse", "get"]


class Accuracy:
    """Fraction of samples classified correctly.

    Multi-class, when ``pred`` is (N, C) with C > 1 (or (N, T, C), the class
    axis last): the predicted class is the argmax; ``target`` holds labels (N,)
    or one-hot rows (N, C). Binary, when ``pred`` is (N,) or (N, 1): the
    prediction is ``pred > threshold`` and the target ``target > 0.5``. Use
    ``threshold=0`` for logits.

    The targets are checked by the code the losses use: labels as for
    CrossEntropyLoss (integers in [0, C), of shape (N,)), binary targets as for
    BCELoss (pred's shape, values in [0, 1]). Anything else is a ValueError or
    TypeError, never a silently wrong score.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.Accuracy()(np.array([[0.2, 0.8], [0.9, 0.1]]), np.array([1, 1]))
        0.5
    """

    name = "accuracy"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = real(threshold, "threshold")

    def __call__(self, pred: np.ndarray, target: Any) -> float:
        if not isinstance(pred, np.ndarray):
            raise TypeError(f"accuracy: pred must be a numpy array. Received: {type(pred).__name__}")
        target = np.asarray(target)
        if pred.ndim >= 2 and pred.shape[-1] > 1:
            predicted = pred.argmax(axis=-1)
            if target.shape == pred.shape:  # one-hot rows or probabilities
                labels = same_shape(pred, target, "accuracy")[1].argmax(axis=-1)
            elif target.shape == pred.shape[:-1]:
                labels = class_labels(target, pred.shape[-1], "target")
            else:
                raise ValueError(
                    f"accuracy: target must have shape {pred.shape[:-1]} of class labels or {pred.shape}. "
                    f"Received: target {target.shape} for pred {pred.shape}"
                )
        else:
            _, binary = same_shape(pred, target, "accuracy")
            predicted = pred > self.threshold
            labels = probability_targets(binary, "accuracy") > 0.5
        return float(np.mean(predicted == labels))


class MeanSquaredError:
    """Mean of (pred - target)² over every element; pred and target are checked as MSELoss checks them.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.MeanSquaredError()(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
        2.0
    """

    name = "mse"

    def __call__(self, pred: np.ndarray, target: Any) -> float:
        pred, target = same_shape(pred, target, "mse")
        diff = pred - target
        return float(np.vdot(diff, diff)) / diff.size


accuracy = Accuracy()
mse = MeanSquaredError()

_BY_NAME: dict[str, Callable[[np.ndarray, Any], float]] = {"accuracy": accuracy, "acc": accuracy, "mse": mse}


def get(metric: Any) -> tuple[str, Callable[[np.ndarray, Any], float]]:
    """(name, function) for a metric name or callable."""
    if isinstance(metric, str):
        if metric not in _BY_NAME:
            raise ValueError(
                f"unknown metric. Expected one of {sorted(_BY_NAME)} or a callable. Received: metrics=[{metric!r}]"
            )
        fn = _BY_NAME[metric]
        return getattr(fn, "name", metric), fn
    if callable(metric):
        return getattr(metric, "name", getattr(metric, "__name__", type(metric).__name__)), metric
    raise TypeError(f"a metric must be a name or a callable. Received: {metric!r}")
