"""Loss functions: ``L = loss(pred, target)`` is a float, ``loss.backward()`` is dL/dpred.

Every loss checks that ``pred`` and ``target`` fit together and caches what
its backward needs; backward returns an array of ``pred``'s shape and dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Loss", "SSELoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss"]


class Loss:
    """Base class. ``reduction`` is "sum" or "mean" (over every element, or the batch)."""

    reduction = "mean"

    def __init__(self) -> None:
        self._grad: np.ndarray | None = None

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def __call__(self, pred: np.ndarray, target: Any) -> float:
        return self.forward(pred, target)

    def backward(self) -> np.ndarray:
        """dL/dpred for the last forward call."""
        if self._grad is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before the loss was computed: call loss(pred, target) first"
            )
        grad, self._grad = self._grad, None
        return grad

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _same_shape(self, pred: np.ndarray, target: Any) -> tuple[np.ndarray, np.ndarray]:
        return same_shape(pred, target, type(self).__name__)


def same_shape(pred: np.ndarray, target: Any, who: str) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, target)`` with target numeric, of pred's shape and dtype, else a ValueError or TypeError.

    A target of shape (N,) fits an output of shape (N, 1). The losses and the
    metrics check their arguments with this one function; ``who`` names the caller.
    """
    if not isinstance(pred, np.ndarray):
        raise TypeError(f"{who}: pred must be a numpy array. Received: {type(pred).__name__}")
    if not isinstance(target, np.ndarray):
        target = np.asarray(target)
    if target.shape != pred.shape:
        if target.ndim == pred.ndim - 1 and pred.shape[-1] == 1 and target.shape == pred.shape[:-1]:
            target = target.reshape(pred.shape)  # (N,) targets for an (N, 1) output
        else:
            raise ValueError(
                f"{who}: pred and target must have the same shape. Received: pred {pred.shape}, target {target.shape}"
            )
    if target.dtype.kind not in "fiu":  # float, signed or unsigned integer
        raise TypeError(f"{who}: target must be numeric. Received dtype {target.dtype}")
    return pred, target if target.dtype == pred.dtype else target.astype(pred.dtype)


def probability_targets(target: np.ndarray, who: str) -> np.ndarray:
    """``target`` if every value is a probability in [0, 1] (binary labels 0 and 1 included), else ValueError.

    BCELoss, BCEWithLogitsLoss and binary accuracy share this check: a label 2
    would otherwise give a loss without a minimum, or count as class 1.
    """
    if target.size and not (target.min() >= 0 and target.max() <= 1):  # NaN fails both
        raise ValueError(
            f"{who}: target must hold probabilities or binary labels in [0, 1]. "
            f"Received: target in [{target.min()}, {target.max()}]"
        )
    return target


class SSELoss(Loss):
    """Sum of squared errors ``L = sum((target - pred)²)``, the tutorial's loss.

    Backward:
        dL/dpred = 2 * (pred - target)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.SSELoss()(np.array([[1.0], [0.0]]), np.array([[0.0], [0.0]]))
        1.0
    """

    reduction = "sum"

    def forward(self, pred: np.ndarray, target: Any) -> float:
        pred, target = self._same_shape(pred, target)
        diff = pred - target
        self._grad = 2 * diff
        return float(np.vdot(diff, diff))


class MSELoss(Loss):
    """Mean squared error ``L = mean((target - pred)²)`` over every element.

    Backward (n = pred.size):
        dL/dpred = 2 * (pred - target) / n

    Example:
        >>> import numpy as np, glassnet as gn
        >>> gn.MSELoss()(np.array([[1.0], [0.0]]), np.array([[0.0], [0.0]]))
        0.5
    """

    def forward(self, pred: np.ndarray, target: Any) -> float:
        pred, target = self._same_shape(pred, target)
        diff = pred - target
        self._grad = diff * (2 / diff.size)
        return float(np.vdot(diff, diff)) / diff.size


class BCELoss(Loss):
    """Binary cross-entropy on probabilities p in [0, 1]:
    ``L = -mean(t log p + (1 - t) log(1 - p))``.

    As in PyTorch, each log is clamped at -100 so p = 0 or 1 gives a finite loss.
    Prefer ``BCEWithLogitsLoss`` on logits: it is exact where this one saturates.

    Backward (n = pred.size):
        dL/dp = (p - t) / max(p (1 - p), 1e-12) / n

    Example:
        >>> import numpy as np, glassnet as gn
        >>> round(gn.BCELoss()(np.array([0.5]), np.array([1.0])), 4)
        0.6931
    """

    def forward(self, pred: np.ndarray, target: Any) -> float:
        pred, target = self._same_shape(pred, target)
        probability_targets(target, "BCELoss")
        if pred.min() < 0 or pred.max() > 1:
            raise ValueError(
                "BCELoss expects probabilities in [0, 1] (use BCEWithLogitsLoss on logits). "
                f"Received: pred in [{pred.min()}, {pred.max()}]"
            )
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(pred), -100)
            log_1mp = np.maximum(np.log1p(-pred), -100)
        n = pred.size
        self._grad = (pred - target) / np.maximum(pred * (1 - pred), 1e-12) / n
        return -float(np.sum(target * log_p + (1 - target) * log_1mp)) / n


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits z, stable for any z:
    ``L = mean(max(z, 0) - z t + log(1 + exp(-|z|)))`` (= BCE of sigmoid(z)).

    Backward (n = pred.size):
        dL/dz = (sigmoid(z) - t) / n

    Example:
        >>> import numpy as np, glassnet as gn
        >>> round(gn.BCEWithLogitsLoss()(np.array([0.0]), np.array([1.0])), 4)
        0.6931
    """

    def forward(self, pred: np.ndarray, target: Any) -> float:
        z, target = self._same_shape(pred, target)
        probability_targets(target, "BCEWithLogitsLoss")
        n = z.size
        loss = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
        sig = np.exp(-np.logaddexp(0, -z))
        self._grad = (sig - target) / n
        return float(loss.sum()) / n


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy from logits, averaged over the batch.

    ``L = mean_i(logsumexp(z_i) - z_i[y_i])`` for integer class labels y of
    shape (N,); for targets of shape (N, C) (one-hot or probabilities)
    ``L = mean_i(-sum_c t_ic log softmax(z_i)_c)``. Softmax is fused in: the
    model's last layer is a Linear that outputs logits.

    Shape:
        pred: (N, C) logits; target: (N,) integers in [0, C) or (N, C) probabilities.
        Sequences: pred (N, T, V) logits, the class axis last, and target (N, T)
        integer labels; the mean is over all N*T positions (PyTorch's
        ``cross_entropy(pred.reshape(-1, V), target.reshape(-1))``).

    Backward:
        dL/dz = (softmax(z) - onehot(y)) / N      (N*T for sequences)
        (the softmax Jacobian cancels against the log, leaving this simple form)

    Example:
        >>> import numpy as np, glassnet as gn
        >>> round(gn.CrossEntropyLoss()(np.zeros((2, 4)), np.array([0, 3])), 4)
        1.3863
    """

    def forward(self, pred: np.ndarray, target: Any) -> float:
        if not isinstance(pred, np.ndarray):
            raise TypeError(f"CrossEntropyLoss: pred must be a numpy array. Received: {type(pred).__name__}")
        target = np.asarray(target)
        if pred.ndim == 3:  # sequences: every position is a sample of its own
            if target.shape != pred.shape[:2]:
                raise ValueError(
                    f"CrossEntropyLoss: for logits of shape (N, T, V) = {pred.shape}, target must be (N, T) "
                    f"class labels = {pred.shape[:2]}. Received: target {target.shape}"
                )
            loss = self.forward(pred.reshape(-1, pred.shape[2]), target.reshape(-1))
            self._grad = self._grad.reshape(pred.shape)  # type: ignore[union-attr]
            return loss
        if pred.ndim != 2:
            raise ValueError(
                f"CrossEntropyLoss expects logits of shape (N, C) or (N, T, V). Received: pred {pred.shape}"
            )
        n, c = pred.shape
        # log_softmax and softmax (glassnet.layers.activations) fused: one exp gives both the log-sum-exp and
        # the probabilities of the gradient; shifting by the row max keeps exp from overflowing
        shifted = pred - pred.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        sums = probs.sum(axis=1, keepdims=True)
        log_sums = np.log(sums)
        probs /= sums
        if target.shape == (n,):
            labels = class_labels(target, c, "target")
            picked = shifted[np.arange(n), labels]
            loss = float(log_sums.sum() - picked.sum()) / n
            probs[np.arange(n), labels] -= 1
        elif target.shape == (n, c):
            if not np.issubdtype(target.dtype, np.number) or target.dtype == bool:
                raise TypeError(f"CrossEntropyLoss: target must be numeric. Received dtype {target.dtype}")
            t = target.astype(pred.dtype, copy=False)
            loss = float(np.sum(t * (log_sums - shifted))) / n
            # dL/dz = s * softmax(z) - t, where s = sum(t) per row (1 for probabilities)
            probs *= t.sum(axis=1, keepdims=True)
            probs -= t
        else:
            raise ValueError(
                f"CrossEntropyLoss: target must have shape ({n},) of class labels or ({n}, {c}). "
                f"Received: target {target.shape} for pred {pred.shape}"
            )
        probs /= n
        self._grad = probs
        return loss


def class_labels(y: Any, classes: int, name: str = "y") -> np.ndarray:
    """Check that ``y`` holds integer class labels in [0, classes) and return them as intp."""
    y = np.asarray(y)
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise TypeError(f"{name} must hold integer class labels. Received dtype {y.dtype}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.isfinite(y).all() or not np.array_equal(y, np.round(y)):
            raise TypeError(
                f"{name} must hold integer class labels. Received non-integer values such as {y[y != np.round(y)][:3]}"
            )
        y = y.astype(np.intp)
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= classes:
            raise ValueError(
                f"{name} holds class labels in [{lo}, {hi}], but the model has {classes} classes (labels 0..{classes - 1})"
            )
    return y.astype(np.intp, copy=False)
