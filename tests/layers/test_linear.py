import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet.testing import gradcheck

GRADCHECK_CASES = {
    "Linear": (lambda dtype: gn.Linear(4, 3, rng=0, dtype=dtype), (5, 4), None),
}


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), fan_in=st.integers(1, 6), fan_out=st.integers(1, 6), bias=st.booleans())
def test_linear_gradcheck_random_shapes(n, fan_in, fan_out, bias):
    layer = gn.Linear(fan_in, fan_out, bias=bias, rng=n, dtype=np.float64)
    x = np.random.default_rng(fan_in).normal(size=(n, fan_in))
    assert layer(x).shape == (n, fan_out)
    assert gradcheck(layer, x).ok


def test_linear_forward_is_x_at_w_plus_b():
    layer = gn.Linear(3, 2, rng=0, dtype=np.float64)
    layer.bias.data[:] = [0.5, -1.0]
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(layer(x), x @ layer.weight.data + layer.bias.data)
    assert layer.weight.data.shape == (3, 2) and layer.bias.data.shape == (2,)


def test_same_seed_same_weights_and_float32_default():
    a, b = gn.Linear(5, 4, rng=7), gn.Linear(5, 4, rng=7)
    assert a.weight.data.dtype == np.float32
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, gn.Linear(5, 4, rng=8).weight.data)


@pytest.mark.parametrize("kwargs", [{"in_features": 0}, {"out_features": -2}])
def test_non_positive_sizes_are_value_errors(kwargs):
    args = {"in_features": 3, "out_features": 2, **kwargs}
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        gn.Linear(**args)


@pytest.mark.parametrize("value", [2.5, "3", None])
def test_non_integer_sizes_are_type_errors(value):
    with pytest.raises(TypeError, match="in_features"):
        gn.Linear(value, 2)


def test_wrong_width_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(N, 4\), got \(5, 3\)"):
        gn.Linear(4, 2)(np.zeros((5, 3), dtype=np.float32))


def test_backward_before_forward_hints_at_forward():
    with pytest.raises(RuntimeError, match="forward"):
        gn.Linear(2, 2).backward(np.ones((1, 2), dtype=np.float32))


def test_unknown_init_and_bad_dtype():
    with pytest.raises(ValueError, match="init"):
        gn.Linear(2, 2, init="nope")
    with pytest.raises(TypeError, match="dtype"):
        gn.Linear(2, 2, dtype=np.int32)


def test_linear_acts_on_the_last_axis_of_sequences():
    rng = np.random.default_rng(0)
    layer = gn.Linear(4, 3, rng=0, dtype=np.float64)
    layer.bias.data[:] = rng.normal(size=3)
    x = rng.normal(size=(2, 5, 4))
    np.testing.assert_allclose(layer(x), x @ layer.weight.data + layer.bias.data)
    assert gradcheck(layer, x).ok
    with pytest.raises(ValueError, match=r"\(N, \.\.\., 4\), got \(2, 5, 3\)"):
        layer(np.ones((2, 5, 3)))


def test_linear_on_sequences_matches_pytorch_in_float64():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    ours = gn.Linear(4, 3, rng=0, dtype=np.float64)
    ours.bias.data[:] = rng.normal(size=3)
    theirs = torch.nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data.T))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    x, dy = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 5, 3))
    xt = torch.from_numpy(x).requires_grad_()
    yt = theirs(xt)
    yt.backward(torch.from_numpy(dy))
    tol = dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy().T, **tol)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **tol)
