import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn

GRADCHECK_CASES = {
    "Dropout": (lambda dtype: gn.Dropout(0.3, rng=0), (4, 6), None),
}


def test_eval_mode_is_the_identity():
    layer = gn.Dropout(0.5, rng=0).eval()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    assert layer(x) is x
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(x)


def test_inverted_dropout_keeps_the_expected_value():
    p = 0.25
    layer = gn.Dropout(p, rng=1)
    y = layer(np.ones((200, 500), dtype=np.float32))
    kept = y != 0
    np.testing.assert_array_equal(y[kept], np.float32(1 / (1 - p)))  # every kept value scaled by 1/(1-p)
    assert abs(kept.mean() - (1 - p)) < 0.01
    assert abs(y.mean() - 1.0) < 0.01


def test_backward_uses_the_same_mask():
    layer = gn.Dropout(0.5, rng=2)
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(6, 7))
    y = layer(x)
    dy = np.random.default_rng(1).normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * y / x)


def test_same_seed_same_mask_and_a_fresh_mask_each_call():
    x = np.ones((8, 9), dtype=np.float32)
    a, b = gn.Dropout(0.5, rng=7), gn.Dropout(0.5, rng=7)
    first = a(x)
    np.testing.assert_array_equal(first, b(x))
    assert not np.array_equal(first, a(x))
    a.rng = np.random.default_rng(7)
    np.testing.assert_array_equal(first, a(x))


def test_fit_seed_fixes_the_masks():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 1)).astype(np.float32)

    def run():
        model = gn.Sequential(gn.Linear(3, 8, rng=0), gn.Dropout(0.5), gn.Linear(8, 1, rng=1))
        model.fit(x, y, loss=gn.MSELoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=3, seed=5, verbose=0)
        return model.predict(x)

    np.testing.assert_array_equal(run(), run())


def test_float32_stays_float32():
    layer = gn.Dropout(0.4, rng=0)
    y = layer(np.ones((3, 4), dtype=np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones((3, 4), dtype=np.float32)).dtype == np.float32


def test_p_zero_is_the_identity_in_training():
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_array_equal(gn.Dropout(0.0, rng=0)(x), x)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), p=st.floats(0.0, 0.95))
def test_shape_is_kept_and_values_are_zero_or_scaled(shape, p):
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=shape)
    layer = gn.Dropout(p, rng=0)
    y = layer(x)
    assert y.shape == tuple(shape) == layer.output_shape(tuple(shape))
    assert np.all((y == 0) | np.isclose(y, x / (1 - p)))


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_p_out_of_range_is_a_value_error(p):
    with pytest.raises(ValueError, match="p"):
        gn.Dropout(p)


def test_bad_argument_types():
    with pytest.raises(TypeError, match="p"):
        gn.Dropout("0.5")
    with pytest.raises(TypeError, match="rng"):
        gn.Dropout(0.5, rng="seed")


def test_config_and_repr():
    layer = gn.Dropout(0.2)
    assert layer.get_config() == {"p": 0.2}
    assert repr(layer) == "Dropout(p=0.2)"
    assert layer.stochastic and not layer.parameters()
