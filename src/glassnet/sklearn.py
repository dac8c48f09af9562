"""scikit-learn estimators built on glassnet's layers and ``fit``: MLPClassifier and MLPRegressor.

They take the parameters of scikit-learn's own ``MLPClassifier`` /
``MLPRegressor`` (the same names, meanings and defaults where glassnet has
the feature), pass ``sklearn.utils.estimator_checks.check_estimator`` with no
expected failures, and so work in ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``. The network is a ``gn.Sequential`` of Linear layers and
activations, kept after fitting as ``model_`` (save it with ``model_.save``,
export it with ``glassnet.onnx.export``).

The network computes in float64, as scikit-learn's does: predictions for a
sample then do not depend on which other samples share its batch.

Training is ``model.fit`` with an L2 penalty ``alpha`` on the weights (not the
biases), scaled as in scikit-learn: each step adds ``alpha / batch_size * W`` to
dL/dW, the gradient of ``alpha / (2 * batch_size) * ||W||²``. Without
``early_stopping`` it stops when the training loss has not fallen by ``tol``
for ``n_iter_no_change`` epochs; with it, when the loss on a held-out
``validation_fraction`` of the data has not, and the best epoch's weights are kept.

scikit-learn is optional: ``pip install "glassnet[sklearn]"``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # the module is only imported on use (gn.sklearn), so this is the first thing users see
    raise ImportError('glassnet.sklearn needs scikit-learn (1.6 or newer): pip install "glassnet[sklearn]"') from err

from glassnet._checks import short
from glassnet.callbacks import EarlyStopping
from glassnet.layers import ELU, GELU, Identity, Linear, ReLU, Sigmoid, Tanh
from glassnet.layers.activations import log_softmax, softmax
from glassnet.losses import CrossEntropyLoss, Loss, MSELoss
from glassnet.module import Module, Parameter, Sequential
from glassnet.optim import SGD, Adam, Optimizer, RMSprop

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's activation names, plus two of glassnet's
ACTIVATIONS: dict[str, type[Module]] = {
    "identity": Identity,
    "logistic": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "elu": ELU,
    "gelu": GELU,
}
SOLVERS = ("adam", "sgd", "rmsprop")


class _Penalised(Optimizer):
    """An optimizer that first adds the L2 term ``coef * W`` to the gradient of each weight matrix."""

    def __init__(self, inner: Optimizer, weights: list[Parameter], coef: float) -> None:
        super().__init__(inner.params, inner.lr)
        self.inner, self.weights, self.coef = inner, weights, coef

    def step(self) -> None:
        if self.coef:
            for w in self.weights:
                w.grad += self.coef * w.data  # d/dW of coef/2 * ||W||²
        self.inner.step()
        self.steps = self.inner.steps


def _check_params(est: _MLP) -> tuple[int, ...]:
    """Validate the hyper-parameters at fit time (scikit-learn's rule: __init__ only stores them)."""

    def number(
        name: str, low: float, *, integer: bool = False, low_open: bool = False, high: float | None = None
    ) -> None:
        value = getattr(est, name)
        kind = numbers.Integral if integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind):
            raise TypeError(
                f"{name} must be {'an integer' if integer else 'a number'}. Received: {name}={short(value)}"
            )
        v = float(value)
        too_low = v <= low if low_open else v < low
        if too_low or (high is not None and v >= high) or v != v:
            bounds = f"{'>' if low_open else '>='} {low}" + ("" if high is None else f" and < {high}")
            raise ValueError(f"{name} must be {bounds}. Received: {name}={short(value)}")

    sizes: Any = est.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, Sequence) or isinstance(sizes, str):
        raise TypeError(f"hidden_layer_sizes must be a tuple of positive integers. Received: {sizes!r}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size <= 0:
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers. Received: hidden_layer_sizes={short(sizes)}"
            )
    if est.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}. Received: activation={short(est.activation)}")
    if est.solver not in SOLVERS:
        raise ValueError(f"solver must be one of {list(SOLVERS)}. Received: solver={short(est.solver)}")
    if est.batch_size != "auto":
        number("batch_size", 0, integer=True, low_open=True)
    number("alpha", 0.0)
    number("learning_rate_init", 0.0, low_open=True)
    number("max_iter", 0, integer=True, low_open=True)
    number("tol", 0.0)
    number("n_iter_no_change", 0, integer=True, low_open=True)
    number("validation_fraction", 0.0, low_open=True, high=1.0)
    number("momentum", 0.0, high=1.0)
    for flag in ("shuffle", "early_stopping", "verbose"):
        if not isinstance(getattr(est, flag), (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"{flag} must be True or False. Received: {flag}={getattr(est, flag)!r}")
    return tuple(int(s) for s in sizes)


def _check_label_types(y: Any) -> None:
    """Refuse labels that mix kinds (strings and numbers): they have no order, so no classes_."""
    arr = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
    if arr.dtype != object or arr.size == 0:
        return
    kinds = {
        "str" if isinstance(v, str) else "number" if isinstance(v, numbers.Number) else type(v).__name__
        for v in arr.ravel()
    }
    if len(kinds) > 1:
        raise ValueError(
            f"y mixes labels of different kinds ({', '.join(sorted(kinds))}), such as {short(list(arr.ravel()[:6]))}: "
            "give every label the same type (e.g. y.astype(str))"
        )


class _MLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the network and the training loop."""

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        momentum: float = 0.9,
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.verbose = verbose

    # subclasses: the loss, the output width, how to prepare y
    def _loss(self) -> Loss:
        raise NotImplementedError

    def _build(self, n_features: int, n_outputs: int, sizes: tuple[int, ...], seed: int) -> Sequential:
        rng = np.random.default_rng(seed)
        layers: list[Module] = []
        width = n_features
        for size in sizes:
            layers += [Linear(width, size, rng=rng, dtype=np.float64), ACTIVATIONS[self.activation]()]
            width = size
        layers.append(Linear(width, n_outputs, rng=rng, dtype=np.float64))
        return Sequential(*layers)

    def _optimizer(self, model: Sequential, batch_size: int) -> Optimizer:
        params = model.parameters()
        inner: Optimizer
        if self.solver == "sgd":
            inner = SGD(params, lr=self.learning_rate_init, momentum=self.momentum)
        elif self.solver == "rmsprop":
            inner = RMSprop(params, lr=self.learning_rate_init)
        else:
            inner = Adam(params, lr=self.learning_rate_init)
        weights = [m.weight for m in model.layers if isinstance(m, Linear)]
        return _Penalised(inner, weights, float(self.alpha) / batch_size)

    def _train(self, X: np.ndarray, y: np.ndarray, n_outputs: int, stratify: np.ndarray | None) -> None:
        sizes = _check_params(self)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        validation = None
        if self.early_stopping:
            X, X_val, y, y_val = train_test_split(
                X, y, test_size=self.validation_fraction, random_state=seed, stratify=stratify
            )
            validation = (X_val, y_val)
        n = len(X)
        batch_size = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        model = self._build(X.shape[1], n_outputs, sizes, seed)
        stop = EarlyStopping(
            monitor="val_loss" if validation is not None else "loss",
            patience=self.n_iter_no_change,
            min_delta=self.tol,
            restore_best_weights=validation is not None,
        )
        history = model.fit(
            X,
            y,
            loss=self._loss(),
            optimizer=self._optimizer(model, batch_size),
            epochs=self.max_iter,
            batch_size=batch_size,
            shuffle=bool(self.shuffle),
            validation_data=validation,
            seed=seed,
            callbacks=[stop],
            verbose=2 if self.verbose else 0,
        )
        self.model_ = model.eval()
        self.loss_curve_ = list(history["loss"])
        self.loss_ = self.loss_curve_[-1]
        self.n_iter_ = len(history.epoch)
        self.best_loss_ = min(self.loss_curve_)
        if validation is not None:
            self.validation_loss_curve_ = list(history["val_loss"])
        # scikit-learn's layout: coefs_[i] is (fan_in, fan_out), as glassnet's Linear stores it
        linears = [m for m in model.layers if isinstance(m, Linear)]
        self.coefs_ = [m.weight.data for m in linears]
        self.intercepts_ = [m.bias.data for m in linears if m.bias is not None]
        if stop.stopped_epoch is None and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.model_.predict(X)


class MLPClassifier(ClassifierMixin, _MLP):
    """A multi-layer perceptron classifier: Linear layers and ``activation``, softmax cross-entropy.

    ``Linear(n_features, h1), act, ..., Linear(hk, n_classes)`` trained on the
    logits with ``CrossEntropyLoss``; ``predict_proba`` is their softmax.

    Args:
        hidden_layer_sizes: widths of the hidden layers, e.g. (100,) or (64, 32).
        activation: "relu", "tanh", "logistic", "identity" (scikit-learn's names), "elu" or "gelu".
        solver: "adam", "sgd" (with ``momentum``) or "rmsprop".
        alpha: L2 penalty on the weights, scaled by 1 / batch size as in scikit-learn.
        batch_size: samples per step; "auto" is min(200, n_samples).
        learning_rate_init: the optimizer's learning rate.
        max_iter: the most epochs (passes over the data).
        shuffle: reshuffle the samples every epoch.
        random_state: seed (int, RandomState or None) of the weights, the shuffling and the validation split.
        tol, n_iter_no_change: stop after ``n_iter_no_change`` epochs whose loss improved by less than ``tol``.
        early_stopping: hold out ``validation_fraction`` of the data (stratified) and
            stop on its loss, keeping the best epoch's weights.
        validation_fraction: the held-out share, in (0, 1).
        momentum: SGD's momentum, in [0, 1).
        verbose: print a line per epoch.

    Attributes (after fit): classes_, n_features_in_, model_ (the gn.Sequential),
    loss_ (the last epoch's mean training loss, without the L2 term), loss_curve_ (one per epoch),
    best_loss_, n_iter_ (epochs run), validation_loss_curve_ (with early_stopping), coefs_ and
    intercepts_ (the Linear layers' weights, (fan_in, fan_out), and biases: the model's own arrays).

    Stopping at ``max_iter`` before the loss settles gives a ``ConvergenceWarning``, as
    scikit-learn's does.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from glassnet.sklearn import MLPClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = make_pipeline(StandardScaler(), MLPClassifier((16,), learning_rate_init=0.01, tol=0.01, random_state=0))
        >>> bool(clf.fit(X, y).score(X, y) > 0.95)
        True
    """

    def _loss(self) -> Loss:
        return CrossEntropyLoss()

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on samples ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,)."""
        _check_label_types(y)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"MLPClassifier needs samples of at least 2 classes; y holds one class: {self.classes_[0]!r}"
            )
        self._train(X, labels.astype(np.int64), len(self.classes_), stratify=labels)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), in the order of ``classes_``."""
        return softmax(self._outputs(X), axis=1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of ``predict_proba``, computed from the logits without taking log(0)."""
        return log_softmax(self._outputs(X), axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample."""
        best = self._outputs(X).argmax(axis=1)  # checks first that the model is fitted
        return self.classes_[best]


class MLPRegressor(RegressorMixin, _MLP):
    """A multi-layer perceptron regressor: Linear layers and ``activation``, mean squared error.

    ``Linear(n_features, h1), act, ..., Linear(hk, n_targets)`` trained with
    ``MSELoss``; y may be (n_samples,) or (n_samples, n_targets), and
    ``predict`` returns the same layout.

    Args: as for ``MLPClassifier`` (early stopping holds out a random, not stratified, share).

    Attributes (after fit): n_features_in_, n_outputs_, model_, loss_, loss_curve_, best_loss_, n_iter_,
    validation_loss_curve_ (with early_stopping), coefs_, intercepts_.

    Targets so large that their squared error overflows float64 (|y| ~ 1e155 and up) are a
    ValueError: scale them first (``sklearn.compose.TransformedTargetRegressor``).

    Example:
        >>> import numpy as np
        >>> from glassnet.sklearn import MLPRegressor
        >>> X = np.random.default_rng(0).uniform(-1, 1, size=(200, 2))
        >>> reg = MLPRegressor((32,), max_iter=400, learning_rate_init=1e-2, random_state=0).fit(X, X[:, 0] * X[:, 1])
        >>> bool(reg.score(X, X[:, 0] * X[:, 1]) > 0.9)
        True
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _loss(self) -> Loss:
        return MSELoss()

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on samples ``X`` (n_samples, n_features) and targets ``y`` (n_samples,) or (n_samples, n_targets)."""
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        with np.errstate(over="ignore"):
            sum_of_squares = float(np.square(y).sum())
        if not np.isfinite(sum_of_squares):
            raise ValueError(
                f"y holds targets as large as {float(np.abs(y).max()):.3g}, whose squared error overflows float64, "
                "so no training step could be taken: scale the targets first (e.g. with "
                "sklearn.compose.TransformedTargetRegressor and a StandardScaler)"
            )
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.n_outputs_ = y2.shape[1]
        self._train(X, y2, self.n_outputs_, stratify=None)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: (n_samples,) if fit was given 1-D y, else (n_samples, n_targets)."""
        out = self._outputs(X)
        return out.ravel() if self._y_1d else out
