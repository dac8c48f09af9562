"""scikit-learn estimators: every check_estimator check, Pipeline / GridSearchCV / cross_val_score, and
accuracy side by side with scikit-learn's own MLPClassifier."""

from __future__ import annotations

import importlib
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip(
    "sklearn", reason='scikit-learn tests need the sklearn extra: pip install "glassnet[sklearn]"'
)

from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import glassnet as gn  # noqa: E402
from glassnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# These small runs stop at max_iter by design; the warning that says so is checked on its own below.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Small networks and few epochs keep the ~110 checks to seconds; each still
# has to reach the scores the checks demand (e.g. 83% training accuracy).
CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, learning_rate_init=0.01),
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, learning_rate_init=0.01),
]


@parametrize_with_checks(CHECKED)
def test_check_estimator(estimator, check, monkeypatch):
    # check_array_api_input (array-API dispatch on NumPy inputs) skips itself
    # unless SCIPY_ARRAY_API is set when it runs; it reads the variable then,
    # so setting it here makes the check run instead of being skipped.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def _iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def test_pipeline_grid_search_and_cross_val_score():
    X, y = _iris()
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=60, learning_rate_init=0.02, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)]}, cv=3).fit(X, y)
    assert search.best_params_["mlpclassifier__hidden_layer_sizes"] in [(4,), (16,)]
    assert search.score(X, y) > 0.9
    assert (
        search.best_estimator_[-1].model_.layers[0].out_features
        == search.best_params_["mlpclassifier__hidden_layer_sizes"][0]
    )


def test_regressor_in_a_pipeline_with_two_targets():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 3))
    Y = np.stack([X[:, 0] * X[:, 1], np.sin(2 * X[:, 2])], axis=1)
    reg = make_pipeline(StandardScaler(), MLPRegressor((32,), max_iter=300, learning_rate_init=1e-2, random_state=0))
    reg.fit(X, Y)
    assert reg.predict(X).shape == (300, 2)
    assert reg.score(X, Y) > 0.9


def test_side_by_side_with_scikit_learns_mlp_on_digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    # same sizes, solver, learning rate, batch (200), L2 penalty and epochs; the
    # loss-based stop is set out of reach so both run all 50 epochs
    params = dict(hidden_layer_sizes=(100,), max_iter=50, n_iter_no_change=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # scikit-learn's notice that max_iter was reached
        theirs = SklearnMLPClassifier(**params).fit(X_train, y_train)
    ours = MLPClassifier(**params).fit(X_train, y_train)
    assert ours.n_iter_ == theirs.n_iter_ == 50
    ours_acc, theirs_acc = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert abs(ours_acc - theirs_acc) <= 0.01, (ours_acc, theirs_acc)


def test_early_stopping_keeps_the_best_epoch():
    X, y = _iris()
    clf = MLPClassifier((16,), max_iter=500, learning_rate_init=0.05, early_stopping=True, n_iter_no_change=5)
    clf.set_params(random_state=0).fit(StandardScaler().fit_transform(X), y)
    assert clf.n_iter_ < 500
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == len(clf.loss_curve_)
    best = int(np.argmin(clf.validation_loss_curve_))
    assert clf.n_iter_ - 1 - best >= 5 - 1  # stopped n_iter_no_change epochs after the best one


def test_loss_stall_stops_training():
    X, y = _iris()
    clf = MLPClassifier((8,), max_iter=1000, tol=1.0, n_iter_no_change=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 4  # the first epoch sets the best loss; three without a fall of 1.0 stop it


@pytest.mark.parametrize(
    ("param", "value", "error"),
    [
        ("hidden_layer_sizes", (0,), ValueError),
        ("hidden_layer_sizes", "ten", TypeError),
        ("activation", "softplus", ValueError),
        ("solver", "lbfgs", ValueError),
        ("learning_rate_init", 0.0, ValueError),
        ("max_iter", 2.5, TypeError),
        ("batch_size", -1, ValueError),
        ("validation_fraction", 1.0, ValueError),
        ("momentum", 1.0, ValueError),
        ("alpha", -1.0, ValueError),
    ],
)
def test_bad_parameters_are_reported_at_fit_naming_them(param, value, error):
    X, y = _iris()
    clf = MLPClassifier(**{param: value})  # scikit-learn's rule: __init__ and set_params never raise
    with pytest.raises(error, match=param):
        clf.fit(X, y)


def test_solvers_and_activations_train():
    X, y = _iris()
    X = StandardScaler().fit_transform(X)
    for solver in ("adam", "sgd", "rmsprop"):
        for activation in ("identity", "logistic", "tanh", "relu", "elu", "gelu"):
            lr = 0.1 if solver == "sgd" else 0.01
            clf = MLPClassifier((8,), activation=activation, solver=solver, learning_rate_init=lr, max_iter=100)
            assert clf.set_params(random_state=0).fit(X, y).score(X, y) > 0.8, (solver, activation)


def test_string_labels_probabilities_and_verbose(capsys):
    X, y = _iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier((8,), max_iter=3, random_state=0, verbose=True).fit(X, names)
    assert capsys.readouterr().out.count("epoch ") == 3
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    assert set(clf.predict(X)) <= set(names)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_the_fitted_network_is_a_glassnet_model_that_exports(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    X, y = _iris()
    clf = MLPClassifier((8,), max_iter=20, random_state=0).fit(X, y)
    assert isinstance(clf.model_, gn.Sequential)
    gn.onnx.export(clf.model_, tmp_path / "iris.onnx", input_shape=(4,))
    session = ort.InferenceSession(str(tmp_path / "iris.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": X.astype(np.float32)})
    np.testing.assert_array_equal(clf.classes_[logits.argmax(axis=1)], clf.predict(X))
    clf.model_.save(tmp_path / "iris.gnet")
    np.testing.assert_array_equal(gn.load(tmp_path / "iris.gnet").predict(X), clf.model_.predict(X))


def test_glassnet_sklearn_is_an_attribute():
    assert gn.sklearn.MLPClassifier is MLPClassifier


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "glassnet.sklearn")
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"glassnet\[sklearn\]"):
        importlib.import_module("glassnet.sklearn")


def test_stopping_at_max_iter_warns_as_scikit_learn_does():
    X, y = _iris()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        clf = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that stops on its own does not warn
        MLPClassifier((8,), max_iter=1000, tol=1.0, n_iter_no_change=3, random_state=0).fit(X, y)


def test_loss_coefs_and_intercepts_as_scikit_learn_names_them():
    X, y = _iris()
    clf = MLPClassifier((8, 5), max_iter=5, random_state=0).fit(X, y)
    assert clf.loss_ == clf.loss_curve_[-1] and len(clf.loss_curve_) == clf.n_iter_ == 5
    assert [c.shape for c in clf.coefs_] == [(4, 8), (8, 5), (5, 3)]  # scikit-learn's (fan_in, fan_out)
    assert [b.shape for b in clf.intercepts_] == [(8,), (5,), (3,)]
    # they are the network's own arrays: the forward pass is theirs
    h = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    h = np.maximum(h @ clf.coefs_[1] + clf.intercepts_[1], 0)
    np.testing.assert_allclose(clf.predict_proba(X).argmax(1), (h @ clf.coefs_[2] + clf.intercepts_[2]).argmax(1))
    reg = MLPRegressor((6,), max_iter=5, random_state=0).fit(X, X[:, :2])
    assert [c.shape for c in reg.coefs_] == [(4, 6), (6, 2)] and np.isfinite(reg.loss_)


def test_targets_whose_squared_error_overflows_are_refused():
    X, _ = _iris()
    with pytest.raises(
        ValueError, match=r"y holds targets as large as 7.9e\+200.*overflows float64.*scale the targets"
    ):
        MLPRegressor((4,), max_iter=5, random_state=0).fit(X, X[:, 0] * 1e200)


@pytest.mark.parametrize("labels", [["a", 1], [1, "b"], np.array(["a", 2], dtype=object)])
def test_labels_mixing_strings_and_numbers_are_refused(labels):
    X, _ = _iris()
    y = np.resize(np.asarray(labels, dtype=object), len(X))
    with pytest.raises(ValueError, match=r"y mixes labels of different kinds \(number, str\)"):
        MLPClassifier((4,), max_iter=5, random_state=0).fit(X, list(y) if isinstance(labels, list) else y)
