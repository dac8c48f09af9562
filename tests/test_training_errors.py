"""Unclear errors and silent acceptance in fit's API: each is a TypeError or
ValueError that names the argument and echoes what it received."""

import datetime

import numpy as np
import pytest

import glassnet as gn


def _data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 2)).astype(np.float32), rng.integers(0, 3, n)


def _model(seed=0):
    return gn.Sequential(gn.Linear(2, 3, rng=seed))


def _fit(model=None, x=None, y=None, **kwargs):
    model = model or _model()
    dx, dy = _data()
    args = {"loss": gn.CrossEntropyLoss(), "optimizer": gn.SGD(model.parameters(), lr=0.1), "epochs": 1}
    args.update(batch_size=4, verbose=0)
    args.update(kwargs)
    return model.fit(dx if x is None else x, dy if y is None else y, **args)


def test_verbose_must_be_0_1_or_2():
    with pytest.raises(TypeError, match=r"verbose must be 0, 1 or 2\. Received: verbose='yes'"):
        _fit(verbose="yes")
    with pytest.raises(ValueError, match="verbose=3"):
        _fit(verbose=3)
    assert _fit(verbose=False)["loss"]  # a bool is 0 or 1


def test_one_callback_is_accepted_and_anything_else_is_named():
    stop = gn.EarlyStopping(monitor="loss", patience=0)
    _fit(callbacks=stop, epochs=3)
    assert stop.best_epoch >= 0  # it ran
    with pytest.raises(TypeError, match=r"callbacks must be a Callback or a list of Callbacks\. Received: callbacks=5"):
        _fit(callbacks=5)
    with pytest.raises(TypeError, match=r"Received: callbacks\[1\]='stop'"):
        _fit(callbacks=[stop, "stop"])
    assert _fit(callbacks=None)["loss"]


def test_shuffle_must_be_a_bool():
    with pytest.raises(TypeError, match=r"shuffle must be True or False\. Received: shuffle='no'"):
        _fit(shuffle="no")
    with pytest.raises(TypeError, match=r"shuffle=0"):
        _fit(shuffle=0)
    assert _fit(shuffle=np.bool_(False))["loss"]


def test_masked_arrays_are_refused_not_read_without_their_mask():
    x, y = _data()
    masked = np.ma.masked_array(x, mask=np.zeros_like(x, dtype=bool))
    masked.mask[2, 1] = True
    with pytest.raises(TypeError, match=r"x must be a plain numpy array, not a masked array.*x\.filled"):
        _fit(x=masked)
    with pytest.raises(TypeError, match="y must be a plain numpy array"):
        _fit(y=np.ma.masked_array(y))
    with pytest.raises(TypeError, match="masked array"):
        _model().predict(masked)


@pytest.mark.parametrize(
    "bad, dtype",
    [
        (np.ones((12, 2), dtype="timedelta64[s]"), "timedelta64"),
        (np.full((12, 2), np.datetime64("2024-01-01")), "datetime64"),
        ([[datetime.timedelta(seconds=1)] * 2] * 12, "object"),
        (np.ones((12, 2), dtype=object), "object"),
        (np.ones((12, 2), dtype=complex), "complex128"),
        (np.ones((12, 2), dtype=bool), "bool"),
    ],
)
def test_non_real_input_is_a_type_error_naming_x_and_its_dtype(bad, dtype):
    with pytest.raises(TypeError, match=rf"x must be a real numeric array.*Received: x with dtype {dtype}"):
        _fit(x=bad)
    with pytest.raises(TypeError, match=rf"x with dtype {dtype}"):
        _model().predict(bad)


def test_timedelta_labels_are_refused():
    x, _ = _data()
    with pytest.raises(TypeError, match="y with dtype timedelta64"):
        _fit(y=np.ones(12, dtype="timedelta64[D]"))


def test_an_optimizer_over_another_models_parameters_is_refused():
    model, other = _model(0), _model(1)
    with pytest.raises(ValueError, match=r"optimizer updates none of this model's parameters.*model\.parameters\(\)"):
        _fit(model, optimizer=gn.SGD(other.parameters(), lr=0.1))
    # a part of the model (fine-tuning one layer) is fine
    two = gn.Sequential(gn.Linear(2, 4, rng=0), gn.Tanh(), gn.Linear(4, 3, rng=1))
    frozen = two.layers[0].weight.data.copy()
    _fit(two, optimizer=gn.SGD(two.layers[2].parameters(), lr=0.1))
    np.testing.assert_array_equal(two.layers[0].weight.data, frozen)
    with pytest.raises(TypeError, match="optimizer='sgd'"):
        _fit(optimizer="sgd")


def test_the_mse_metric_refuses_mismatched_shapes():
    x, _ = _data()
    model = gn.Sequential(gn.Linear(2, 4, rng=0))
    with pytest.raises(ValueError, match=r"mse: pred and target must have the same shape.*\(12, 4\).*\(12, 2, 2\)"):
        model.evaluate(x, np.zeros((12, 2, 2)), metrics=["mse"])  # the same size: was silently reshaped
    with pytest.raises(ValueError, match=r"mse: pred and target must have the same shape"):
        gn.MeanSquaredError()(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="mse: target must be numeric"):
        gn.MeanSquaredError()(np.zeros((2, 1)), np.array(["a", "b"]))
    assert gn.MeanSquaredError()(np.zeros((2, 1)), np.ones(2)) == 1.0  # (N,) targets fit an (N, 1) output


def test_validation_data_must_be_a_pair():
    with pytest.raises(
        TypeError, match=r"validation_data must be a pair \(x_val, y_val\)\. Received: validation_data="
    ):
        _fit(validation_data=np.zeros((3, 2)))
