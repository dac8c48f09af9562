import numpy as np
import pytest

import glassnet.datasets as gd


def test_tutorial_is_the_four_rows():
    X, y = gd.tutorial()
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert X.tolist() == [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
    assert y.tolist() == [[0], [1], [1], [0]]


def test_tutorial_returns_fresh_arrays():
    X, _ = gd.tutorial()
    X[:] = 7
    assert gd.tutorial()[0][0, 2] == 1


def test_xor():
    x, y = gd.xor()
    assert x.shape == (4, 2) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 1, 0]
    assert (y == np.logical_xor(x[:, 0], x[:, 1])).all()
    assert gd.xor(dtype=np.float64)[0].dtype == np.float64


def test_spirals_shapes_dtypes_and_labels():
    x, y = gd.spirals(n=40, classes=4, rng=0)
    assert x.shape == (160, 2) and x.dtype == np.float32
    assert y.shape == (160,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [40, 40, 40, 40]
    # Noise turns points around the origin, so the radius stays r in [0, 1].
    assert np.linalg.norm(x, axis=1).max() <= 1 + 1e-6


def test_spirals_without_noise_is_the_cs231n_formula():
    n = 25
    x, y = gd.spirals(n=n, classes=3, noise=0.0, dtype=np.float64)
    for j in range(3):
        r = np.linspace(0.0, 1, n)
        t = np.linspace(j * 4, (j + 1) * 4, n)
        np.testing.assert_allclose(x[y == j], np.c_[r * np.sin(t), r * np.cos(t)], atol=1e-12)


def test_spirals_same_seed_same_data_and_generator_accepted():
    a, _ = gd.spirals(n=30, rng=3)
    b, _ = gd.spirals(n=30, rng=np.random.default_rng(3))
    c, _ = gd.spirals(n=30, rng=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_moons_shapes_and_shape_without_noise():
    x, y = gd.moons(n=9, noise=0.0, dtype=np.float64)
    assert x.shape == (9, 2) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [4, 5]
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert (upper[:, 1] >= 0).all() and (lower[:, 1] <= 0.5).all()


def test_moons_noise_is_seeded():
    a, _ = gd.moons(n=50, rng=1)
    b, _ = gd.moons(n=50, rng=1)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, gd.moons(n=50, noise=0.0)[0])


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: gd.spirals(n=0), ValueError, "n=0"),
        (lambda: gd.spirals(n=2.5), TypeError, "n=2.5"),
        (lambda: gd.spirals(classes=0), ValueError, "classes=0"),
        (lambda: gd.spirals(noise=-0.1), ValueError, "noise=-0.1"),
        (lambda: gd.spirals(rng="seed"), TypeError, "rng='seed'"),
        (lambda: gd.moons(n=1), ValueError, "n=1"),
        (lambda: gd.moons(noise=float("nan")), ValueError, "noise=nan"),
        (lambda: gd.moons(dtype=np.int32), TypeError, "dtype"),
        (lambda: gd.xor(dtype="float16"), TypeError, "dtype"),
    ],
)
def test_bad_arguments_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
