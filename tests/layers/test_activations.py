import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet.layers.activations import erf
from glassnet.testing import gradcheck


def _away_from_zero(rng, shape):
    x = rng.normal(size=shape)
    return x + np.sign(x) * 0.1  # keep ReLU-like kinks out of the finite differences


GRADCHECK_CASES = {
    "Identity": (lambda dtype: gn.Identity(), (3, 4), None),
    "Sigmoid": (lambda dtype: gn.Sigmoid(), (3, 4), None),
    "Tanh": (lambda dtype: gn.Tanh(), (3, 4), None),
    "ReLU": (lambda dtype: gn.ReLU(), (3, 4), _away_from_zero),
    "LeakyReLU": (lambda dtype: gn.LeakyReLU(0.2), (3, 4), _away_from_zero),
    "ELU": (lambda dtype: gn.ELU(0.7), (3, 4), _away_from_zero),
    "GELU": (lambda dtype: gn.GELU(), (3, 4), None),
    "Softmax": (lambda dtype: gn.Softmax(), (3, 4), None),
}

ACTIVATIONS = [gn.Identity, gn.Sigmoid, gn.Tanh, gn.ReLU, gn.LeakyReLU, gn.ELU, gn.GELU, gn.Softmax]


@settings(max_examples=20, deadline=None)
@given(
    cls=st.sampled_from(ACTIVATIONS),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    seed=st.integers(0, 100),
)
def test_activation_gradcheck_random_shapes(cls, shape, seed):
    x = _away_from_zero(np.random.default_rng(seed), shape)
    layer = cls()
    assert layer(x).shape == x.shape
    assert gradcheck(layer, x, seed=seed).ok


def test_gelu_tanh_approximation_gradcheck():
    assert gradcheck(gn.GELU("tanh"), np.random.default_rng(0).normal(size=(3, 5))).ok


def test_sigmoid_is_finite_at_plus_minus_1000_without_warnings():
    for dtype in (np.float32, np.float64):
        y = gn.Sigmoid()(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype))
        assert y.dtype == dtype
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-7)


def test_sigmoid_matches_the_textbook_formula():
    x = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(gn.Sigmoid()(x), 1 / (1 + np.exp(-x)), rtol=1e-12)


def test_erf_matches_math_erf():
    z = np.linspace(-8, 8, 2001)
    np.testing.assert_allclose(erf(z), [math.erf(t) for t in z], atol=1e-14)


def test_elu_large_inputs_do_not_overflow():
    y = gn.ELU()(np.array([1000.0, -1000.0], dtype=np.float32))
    np.testing.assert_array_equal(y, np.array([1000.0, -1.0], dtype=np.float32))


def test_softmax_rows_sum_to_one_and_are_stable():
    y = gn.Softmax()(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    assert np.isfinite(y).all()


def test_float32_stays_float32():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    for cls in ACTIVATIONS:
        layer = cls()
        y = layer(x)
        assert y.dtype == np.float32, cls
        assert layer.backward(np.ones_like(y)).dtype == np.float32, cls


def test_bad_arguments():
    with pytest.raises(ValueError, match="approximate"):
        gn.GELU("fast")
    with pytest.raises(TypeError, match="negative_slope"):
        gn.LeakyReLU("0.1")
    with pytest.raises(TypeError, match="axis"):
        gn.Softmax(axis=1.5)


def test_float32_erf_is_within_1e6_of_the_exact_erf():
    from glassnet.layers.activations import erf_float32

    z = np.linspace(-7, 7, 20001)
    approx = erf_float32(z.astype(np.float32))
    assert approx.dtype == np.float32
    np.testing.assert_allclose(approx, [math.erf(t) for t in z], rtol=0, atol=1e-6)


def test_relu_inplace_overwrites_its_input_and_has_the_same_gradient():
    rng = np.random.default_rng(0)
    x = _away_from_zero(rng, (4, 5))
    dy = rng.normal(size=x.shape)
    plain, inplace = gn.ReLU(), gn.ReLU(inplace=True)
    y = plain(x)
    x_in = x.copy()
    y_in = inplace(x_in)
    assert y_in is x_in
    np.testing.assert_array_equal(y_in, y)
    np.testing.assert_array_equal(inplace.backward(dy), plain.backward(dy))
    assert gn.ReLU(**inplace.get_config()).inplace and plain.get_config() == {}
    with pytest.raises(TypeError, match="inplace"):
        gn.ReLU(inplace=1)
