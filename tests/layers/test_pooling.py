import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet.testing import gradcheck


def distinct(rng, shape):
    """Values spaced far apart compared to gradcheck's step, so every window has one clear maximum."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1


GRADCHECK_CASES = {
    "MaxPool2d": (lambda dtype: gn.MaxPool2d((2, 3), stride=(1, 2)), (2, 3, 5, 7), distinct),
    "AvgPool2d": (lambda dtype: gn.AvgPool2d(3, stride=2), (2, 2, 7, 6), None),
}

POOLS = [gn.MaxPool2d, gn.AvgPool2d]


def _out(size, k, s):
    return (size - k) // s + 1


@settings(max_examples=25, deadline=None)
@given(
    pool=st.sampled_from(POOLS),
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    s=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_pool_shape_rule_and_gradcheck(pool, n, c, h, w, k, s):
    assume(h >= k[0] and w >= k[1])
    layer = pool(k, s)
    sH, sW = k if s is None else s
    x = distinct(np.random.default_rng(h * 7 + w), (n, c, h, w))
    expected = (n, c, _out(h, k[0], sH), _out(w, k[1], sW))
    assert layer.output_shape(x.shape) == expected
    assert layer(x).shape == expected
    assert gradcheck(layer, x).ok


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(
    "kernel, stride, shape",
    [
        (2, None, (2, 3, 8, 6)),  # windows tile the input
        (2, None, (2, 2, 7, 5)),  # the last row and column are dropped
        ((2, 3), (2, 2), (2, 2, 6, 9)),  # non-square, overlapping along W
        (3, 2, (1, 2, 7, 8)),  # overlapping windows
        (3, 1, (2, 1, 5, 6)),
        (2, 3, (1, 2, 8, 7)),  # gaps between windows
    ],
)
@pytest.mark.parametrize("name", ["MaxPool2d", "AvgPool2d"])
def test_matches_pytorch_in_float64(name, kernel, stride, shape, ties):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    if ties:
        x = np.round(x)  # many windows hold several equal maxima
    layer = getattr(gn, name)(kernel, stride)
    reference = getattr(torch.nn, name)(kernel, stride)
    xt = torch.tensor(x, requires_grad=True)
    y, yt = layer(x), reference(xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = rng.normal(size=y.shape)
    dx = layer.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("nan_fraction", [0.05, 0.4])  # one NaN in some windows; several in many
@pytest.mark.parametrize(
    "kernel, stride, shape",
    [(2, None, (2, 3, 8, 6)), ((2, 3), (2, 2), (2, 2, 6, 9)), (3, 2, (1, 2, 7, 8)), (3, 1, (2, 1, 5, 6))],
)
def test_maxpool_nan_is_the_maximum_and_takes_the_gradient_as_in_pytorch(kernel, stride, shape, nan_fraction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=shape))  # ties too
    x[rng.random(shape) < nan_fraction] = np.nan
    layer, reference = gn.MaxPool2d(kernel, stride), torch.nn.MaxPool2d(kernel, stride)
    xt = torch.tensor(x, requires_grad=True)
    y, yt = layer(x), reference(xt)
    assert np.isnan(y).any()
    np.testing.assert_array_equal(y, yt.detach().numpy())  # NaN where torch has NaN, equal elsewhere
    g = rng.normal(size=y.shape)
    dx = layer.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_maxpool_gradient_goes_to_the_nan():
    x = np.array([[1.0, np.nan], [5.0, 2.0]]).reshape(1, 1, 2, 2)
    pool = gn.MaxPool2d(2)
    assert np.isnan(pool(x)).all()
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1)))[0, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_maxpool_routes_each_window_gradient_to_one_element_even_in_ties():
    pool = gn.MaxPool2d(2)
    pool(np.zeros((1, 1, 4, 4), dtype=np.float32))
    dx = pool.backward(np.ones((1, 1, 2, 2), dtype=np.float32))
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[::2, ::2] = 1  # the first element of each window, in row-major order
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_maxpool_tie_break_within_a_window_is_row_major():
    x = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).reshape(1, 1, 3, 3)
    pool = gn.MaxPool2d(3)
    pool(x)
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx[0, 0, 0, 1] == 1 and dx.sum() == 1


def test_avgpool_of_a_tiled_input_is_the_window_mean():
    x = np.arange(2 * 3 * 4 * 6, dtype=np.float64).reshape(2, 3, 4, 6)
    y = gn.AvgPool2d((2, 3))(x)
    np.testing.assert_allclose(y, x.reshape(2, 3, 2, 2, 2, 3).mean(axis=(3, 5)))


@pytest.mark.parametrize("pool", POOLS)
def test_float32_in_float32_out_and_float32_gradients(pool):
    layer = pool(2)
    y = layer(np.random.default_rng(0).normal(size=(2, 3, 6, 5)).astype(np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("pool", POOLS)
def test_stride_defaults_to_kernel_size_and_config_round_trips(pool):
    layer = pool((2, 3))
    assert layer.stride == (2, 3)
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"kernel_size": [2, 3], "stride": [2, 3]}
    assert pool(**config).get_config() == config


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": (2, -1)}, "kernel_size"),
        ({"kernel_size": (1, 2, 3)}, "kernel_size"),
        ({"kernel_size": 2, "stride": -1}, "stride"),
        ({"kernel_size": 2, "stride": 0}, "stride"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_argument(pool, kwargs, name):
    with pytest.raises(ValueError, match=name):
        pool(**kwargs)


@pytest.mark.parametrize("pool", POOLS)
def test_wrong_types_are_type_errors(pool):
    with pytest.raises(TypeError, match="kernel_size"):
        pool(2.0)
    with pytest.raises(TypeError, match="stride"):
        pool(2, stride="1")
    with pytest.raises(TypeError, match="floating"):
        pool(2).forward(np.ones((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="numpy array"):
        pool(2)([[[[1.0]]]])


@pytest.mark.parametrize("pool", POOLS)
def test_wrong_rank_and_too_small_input_are_value_errors(pool):
    layer = pool(3)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got \(2, 5, 5\)"):
        layer(np.zeros((2, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        layer(np.zeros((1, 1, 2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        layer.check_input(np.zeros((5, 5)), "x")
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        layer.output_shape((1, 1, 5, 2))


@pytest.mark.parametrize("pool", POOLS)
def test_backward_before_forward_and_after_eval_forward(pool):
    layer = pool(2)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones((1, 1, 1, 1), dtype=np.float32))
    layer.eval()
    layer(np.ones((1, 1, 2, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones((1, 1, 1, 1), dtype=np.float32))


@pytest.mark.parametrize("pool", POOLS)
def test_backward_checks_dy_shape(pool):
    layer = pool(2)
    layer(np.ones((1, 2, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(1, 2, 2, 2\)"):
        layer.backward(np.ones((1, 2, 3, 3), dtype=np.float32))


def test_small_cnn_gradcheck_end_to_end():
    rng = np.random.default_rng(0)
    model = gn.Sequential(
        gn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=np.float64),
        gn.Tanh(),
        gn.AvgPool2d(2),
        gn.Conv2d(2, 3, 2, stride=2, rng=rng, dtype=np.float64),
        gn.Tanh(),
    )
    assert gradcheck(model, rng.normal(size=(2, 1, 6, 5))).ok


@pytest.mark.parametrize("kernel, stride", [(2, None), ((2, 3), (1, 2)), (3, 1)])
def test_maxpool_eval_takes_the_maxima_without_arg_max_and_agrees_with_training(kernel, stride):
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(2, 3, 7, 8)))
    x[rng.random(x.shape) < 0.1] = np.nan
    pool = gn.MaxPool2d(kernel, stride)
    trained = pool(x)
    pool.eval()
    np.testing.assert_array_equal(pool(x), trained)  # NaN where training has NaN, equal elsewhere
    with pytest.raises(RuntimeError):
        pool.backward(np.ones_like(trained))  # eval mode kept nothing to route a gradient with
