import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet.datasets as gd


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 60), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1))
def test_split_is_a_partition_that_keeps_pairs(n, fraction, seed):
    x = np.arange(n * 3).reshape(n, 3)
    y = np.arange(n) * 10
    n_test = (
        round(fraction * n)
        if np.isclose(fraction * n, round(fraction * n), rtol=1e-9, atol=0)
        else int(np.ceil(fraction * n))
    )
    if not 1 <= n_test <= n - 1:
        with pytest.raises(ValueError, match="test_size"):
            gd.train_test_split(x, y, test_size=fraction, rng=seed)
        return
    x_train, x_test, y_train, y_test = gd.train_test_split(x, y, test_size=fraction, rng=seed)
    assert len(x_test) == len(y_test) == n_test and len(x_train) == len(y_train) == n - n_test
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == y.tolist()
    np.testing.assert_array_equal(x_train[:, 0] * 10 // 3, y_train)
    np.testing.assert_array_equal(x_test[:, 0] * 10 // 3, y_test)


def test_split_count_seed_and_dtypes():
    x = np.random.default_rng(0).normal(size=(10, 1, 2, 2)).astype(np.float32)
    y = np.arange(10, dtype=np.int64)
    a = gd.train_test_split(x, y, test_size=3, rng=5)
    b = gd.train_test_split(x, y, test_size=3, rng=np.random.default_rng(5))
    assert [p.shape for p in a] == [(7, 1, 2, 2), (3, 1, 2, 2), (7,), (3,)]
    assert a[0].dtype == np.float32 and a[2].dtype == np.int64
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(np.concatenate([a[2], a[3]]), y)  # shuffled, not cut in order


@pytest.mark.parametrize(("fraction", "n", "n_test"), [(0.07, 100, 7), (5000 / 60000, 60000, 5000), (0.25, 10, 3)])
def test_split_fraction_rounds_up_but_not_over_float_noise(fraction, n, n_test):
    _, x_test, _, _ = gd.train_test_split(np.arange(n), np.arange(n), test_size=fraction, rng=0)
    assert len(x_test) == n_test


def test_split_accepts_lists_and_default_fraction():
    x_train, x_test, y_train, y_test = gd.train_test_split([[i] for i in range(10)], list(range(10)), rng=0)
    assert x_test.shape == (2, 1) and y_train.shape == (8,)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_size": 0.0}, ValueError, "test_size=0.0"),
        ({"test_size": 1.0}, ValueError, "test_size=1.0"),
        ({"test_size": 0}, ValueError, "test_size=0"),
        ({"test_size": 10}, ValueError, "test_size=10"),
        ({"test_size": True}, TypeError, "test_size=True"),
        ({"test_size": "0.2"}, TypeError, "test_size='0.2'"),
        ({"rng": 1.5}, TypeError, "rng=1.5"),
        ({"y": np.arange(9)}, ValueError, "x with 10, y with 9"),
        ({"x": 3.0}, ValueError, "x must have a sample axis"),
    ],
)
def test_split_bad_arguments(kwargs, error, match):
    args = {"x": np.zeros((10, 2)), "y": np.arange(10)} | kwargs
    with pytest.raises(error, match=match):
        gd.train_test_split(**args)


def test_one_hot():
    out = gd.one_hot(np.array([2, 0, 1, 2]))
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out.argmax(axis=1), [2, 0, 1, 2])
    assert out.sum() == 4
    wide = gd.one_hot([1], classes=5, dtype=np.float64)
    assert wide.dtype == np.float64 and wide.tolist() == [[0, 1, 0, 0, 0]]
    assert gd.one_hot(np.array([], dtype=np.int64), classes=3).shape == (0, 3)


@pytest.mark.parametrize(
    ("y", "classes", "error", "match"),
    [
        ([0.0, 1.0], None, TypeError, "integer class labels"),
        ([True, False], None, TypeError, "integer class labels"),
        ([[0, 1]], None, ValueError, r"shape \(N,\)"),
        ([0, -1], None, ValueError, "minimum -1"),
        ([0, 3], 3, ValueError, "label 3, but classes=3"),
        ([0, 1], 0, ValueError, "classes=0"),
        ([0, 1], 2.0, TypeError, "classes=2.0"),
        (np.array([], dtype=np.int64), None, ValueError, "classes must be given"),
    ],
)
def test_one_hot_bad_input(y, classes, error, match):
    with pytest.raises(error, match=match):
        gd.one_hot(y, classes)


def test_standardize_fits_and_reuses_statistics():
    rng = np.random.default_rng(0)
    x_train = rng.normal(3.0, 2.0, size=(200, 4)).astype(np.float32)
    x_train[:, 2] = 5.0  # a constant feature
    z, mean, std = gd.standardize(x_train)
    assert z.dtype == mean.dtype == std.dtype == np.float32
    assert mean.shape == std.shape == (1, 4)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z[:, [0, 1, 3]].std(axis=0), 1.0, rtol=1e-5)
    assert std[0, 2] == 1.0 and (z[:, 2] == 0).all()  # centred, not divided by zero
    x_test = rng.normal(3.0, 2.0, size=(7, 4)).astype(np.float32)
    z_test, mean2, std2 = gd.standardize(x_test, mean, std)
    np.testing.assert_allclose(z_test, (x_test - mean) / std, rtol=1e-6)
    np.testing.assert_array_equal(mean2, mean)


def test_standardize_per_channel_images_integers_and_scalars():
    x = np.random.default_rng(1).integers(0, 256, size=(6, 3, 4, 4), dtype=np.uint8)
    z, mean, std = gd.standardize(x, axis=(0, 2, 3))
    assert z.dtype == np.float32 and z.shape == x.shape and mean.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    z64, mean64, _ = gd.standardize(x.astype(np.float64), 0.5, 2.0)
    assert z64.dtype == np.float64 and mean64.shape == ()
    np.testing.assert_allclose(z64, (x - 0.5) / 2.0)


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (np.zeros((3, 2)), {"mean": np.zeros(2)}, ValueError, "both mean and std"),
        (np.zeros((3, 2)), {"mean": 0.0, "std": 0.0}, ValueError, "std must be positive"),
        (np.zeros((3, 2)), {"mean": np.zeros(3), "std": np.ones(3)}, ValueError, "broadcast"),
        (np.zeros((3, 2)), {"mean": np.zeros((4, 1, 2)), "std": 1.0}, ValueError, "broadcast"),
        (np.zeros((3, 2)), {"mean": "a", "std": 1.0}, TypeError, "mean must be a real"),
        (np.zeros((3, 2)), {"mean": np.nan, "std": 1.0}, ValueError, "mean must be finite"),
        (np.zeros((3, 2)), {"axis": 5}, ValueError, "axis=5"),
        (np.array([[1.0, np.nan]]), {}, ValueError, "NaN"),
        (np.array(["a", "b"]), {}, TypeError, "x must be a real numeric array"),
    ],
)
def test_standardize_bad_input(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        gd.standardize(x, **kwargs)
