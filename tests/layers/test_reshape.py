import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn

GRADCHECK_CASES = {
    "Flatten": (lambda dtype: gn.Flatten(), (3, 2, 4, 5), None),
}


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=5))
def test_flatten_keeps_the_batch_and_backward_restores_the_shape(shape):
    shape = tuple(shape)
    x = np.random.default_rng(len(shape)).normal(size=shape)
    layer = gn.Flatten()
    y = layer(x)
    assert y.shape == (shape[0], math.prod(shape[1:])) == layer.output_shape(shape)
    np.testing.assert_array_equal(y, x.reshape(shape[0], -1))
    dy = np.arange(y.size, dtype=np.float64).reshape(y.shape)
    dx = layer.backward(dy)
    assert dx.shape == shape
    np.testing.assert_array_equal(dx.reshape(y.shape), dy)


def test_flatten_copies_nothing_and_keeps_float32():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    y = gn.Flatten()(x)
    assert y.dtype == np.float32 and np.shares_memory(x, y)


def test_flatten_flattens_channels_first_like_pytorch():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(gn.Flatten()(x)[1], np.arange(12.0, 24.0))


def test_flatten_needs_a_batch_axis_and_an_array():
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\).*got \(5,\)"):
        gn.Flatten()(np.zeros(5))
    with pytest.raises(TypeError, match="numpy array"):
        gn.Flatten()([[1.0, 2.0]])


def test_flatten_in_eval_mode_caches_nothing():
    layer = gn.Flatten().eval()
    layer(np.zeros((2, 3, 4)))
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((2, 12)))
