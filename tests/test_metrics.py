"""Metrics never report a wrong number in silence: accuracy checks its targets
with the very code the losses use, so a target the loss refuses, the metric refuses too."""

import numpy as np
import pytest

import glassnet as gn


def _logits(n=20, c=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, c))


def _error(fn, *args):
    try:
        fn(*args)
    except (TypeError, ValueError) as err:
        return err
    return None


def test_accuracy_multiclass_scores_labels_and_one_hot_rows():
    z = _logits()
    labels = np.random.default_rng(1).integers(0, 3, 20)
    expected = np.mean(z.argmax(axis=1) == labels)
    assert gn.Accuracy()(z, labels) == expected
    assert gn.Accuracy()(z, np.eye(3)[labels]) == expected
    assert gn.Accuracy()(z, labels.astype(np.float64)) == expected  # integral floats, as CrossEntropyLoss takes
    # sequences: (N, T, C) logits and (N, T) labels, the class axis last
    zs, ls = z.reshape(4, 5, 3), labels.reshape(4, 5)
    assert gn.Accuracy()(zs, ls) == expected


@pytest.mark.parametrize(
    "labels",
    [
        np.zeros((20, 1), dtype=np.int64),  # was scored against class 0
        np.full(20, 1.5),  # was 0.0
        np.full(20, 3),  # out of range: was 0.0
        np.full(20, -1),
        np.full(19, 0),
        np.array(["a"] * 20),
    ],
)
def test_accuracy_refuses_labels_as_cross_entropy_does(labels):
    z = _logits()
    loss_error, metric_error = _error(gn.CrossEntropyLoss(), z, labels), _error(gn.Accuracy(), z, labels)
    assert loss_error is not None and metric_error is not None
    assert type(metric_error) is type(loss_error)
    if labels.shape == (20,):  # label values: the very same check and message
        assert str(metric_error) == str(loss_error)


@pytest.mark.parametrize(
    "target",
    [
        np.array([2, 0, 1, 0]),  # a label 2 with a sigmoid output: was counted as class 1
        np.array([0.0, 1.0, -0.5, 1.0]),
        np.array([0.0, 1.0, np.nan, 1.0]),
        np.zeros((4, 2)),
        np.zeros(3),
    ],
)
def test_binary_accuracy_refuses_targets_as_bce_does(target):
    p = np.array([[0.9], [0.2], [0.7], [0.6]])
    loss_error, metric_error = _error(gn.BCELoss(), p, target), _error(gn.Accuracy(), p, target)
    assert loss_error is not None and metric_error is not None
    assert type(metric_error) is type(loss_error)
    assert str(metric_error).replace("accuracy", "BCELoss") == str(loss_error)
    logits_error = _error(gn.BCEWithLogitsLoss(), np.log(p / (1 - p)), target)
    assert type(logits_error) is type(loss_error)


def test_binary_accuracy_on_probabilities_and_logits():
    p = np.array([[0.9], [0.2], [0.7], [0.6]])
    t = np.array([1, 0, 0, 1])
    assert gn.Accuracy()(p, t) == 0.75
    assert gn.Accuracy()(p[:, 0], t) == 0.75
    assert gn.Accuracy(threshold=0.0)(np.log(p / (1 - p)), t.astype(np.float32)) == 0.75
    assert gn.Accuracy()(p, np.array([0.8, 0.1, 0.4, 0.6])) == 0.75  # soft targets in [0, 1]


def test_accuracy_through_evaluate_and_fit_raises_instead_of_scoring():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 2)).astype(np.float32), rng.integers(0, 3, 10)
    model = gn.Sequential(gn.Linear(2, 3, rng=0))
    with pytest.raises(ValueError, match=r"target must have shape \(10,\) of class labels or \(10, 3\)"):
        model.evaluate(x, y[:, None], metrics=["accuracy"])
    with pytest.raises(TypeError, match="pred must be a numpy array"):
        gn.Accuracy()([[0.1, 0.9]], [1])
