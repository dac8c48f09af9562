import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet.testing import gradcheck


def _with_affine(layer):
    """gamma and beta away from their initial 1 and 0, so mistakes with them show."""
    rng = np.random.default_rng(11)
    layer.weight.data[:] = rng.uniform(0.5, 1.5, size=layer.num_features)
    layer.bias.data[:] = rng.normal(size=layer.num_features)
    return layer


GRADCHECK_CASES = {
    "BatchNorm1d": (lambda dtype: _with_affine(gn.BatchNorm1d(4, dtype=dtype)), (5, 4), None),
    "BatchNorm2d": (lambda dtype: _with_affine(gn.BatchNorm2d(3, dtype=dtype)), (2, 3, 3, 4), None),
}


def _torch():
    torch = pytest.importorskip("torch")
    return torch


@pytest.mark.parametrize(
    ("cls", "shape", "kwargs"),
    [
        ("BatchNorm1d", (6, 4), {}),
        ("BatchNorm1d", (5, 3, 7), {"momentum": 0.3}),
        ("BatchNorm2d", (4, 3, 5, 6), {}),
        ("BatchNorm2d", (3, 2, 4, 4), {"affine": False, "eps": 1e-3}),
    ],
)
def test_matches_pytorch_in_float64(cls, shape, kwargs):
    torch = _torch()
    rng = np.random.default_rng(0)
    c = shape[1]
    ours = getattr(gn, cls)(c, dtype=np.float64, **kwargs)
    theirs = getattr(torch.nn, cls)(c, dtype=torch.float64, **kwargs)
    if ours.weight is not None:
        gamma, beta = rng.uniform(0.5, 2.0, size=c), rng.normal(size=c)
        ours.weight.data[:], ours.bias.data[:] = gamma, beta
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(gamma))
            theirs.bias.copy_(torch.from_numpy(beta))
    for _ in range(3):  # training steps: outputs, gradients and running statistics
        x = rng.normal(2.0, 3.0, size=shape)
        dy = rng.normal(size=shape)
        xt = torch.from_numpy(x).requires_grad_()
        yt = theirs(xt)
        yt.backward(torch.from_numpy(dy))
        ours.zero_grad()
        np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        if ours.weight is not None:
            np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
            theirs.weight.grad = theirs.bias.grad = None
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12, atol=1e-14)
    ours.eval()
    theirs.eval()
    x = rng.normal(size=shape)
    with torch.no_grad():
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(2, 5),
    c=st.integers(1, 4),
    spatial=st.lists(st.integers(1, 4), min_size=0, max_size=2).filter(lambda s: len(s) != 1),
)
def test_training_output_is_normalised_per_channel(n, c, spatial):
    x = np.random.default_rng(n * 10 + c).normal(3.0, 2.0, size=(n, c, *spatial))
    layer = (gn.BatchNorm2d if spatial else gn.BatchNorm1d)(c, dtype=np.float64)
    y = layer(x)
    assert y.shape == x.shape == layer.output_shape(x.shape)
    axes = (0, 2, 3) if spatial else (0,)
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-12)
    var = x.var(axis=axes)
    np.testing.assert_allclose(y.var(axis=axes), var / (var + layer.eps), rtol=1e-9)


def test_gradcheck_without_affine_and_with_a_long_1d_input():
    rng = np.random.default_rng(2)
    assert gradcheck(gn.BatchNorm1d(3, affine=False, dtype=np.float64), rng.normal(size=(4, 3))).ok
    assert gradcheck(gn.BatchNorm1d(2, dtype=np.float64), rng.normal(size=(3, 2, 5))).ok


def test_running_statistics_are_buffers_not_parameters():
    layer = gn.BatchNorm2d(3)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert set(layer.state_dict()) == {"weight", "bias", "running_mean", "running_var"}
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3, dtype=np.float32))
    np.testing.assert_array_equal(layer.running_var, np.ones(3, dtype=np.float32))
    np.testing.assert_array_equal(layer.weight.data, 1)
    np.testing.assert_array_equal(layer.bias.data, 0)
    assert gn.BatchNorm1d(3, affine=False).parameters() == []


def test_running_statistics_use_the_unbiased_variance():
    x = np.array([[1.0], [2.0], [6.0]])
    layer = gn.BatchNorm1d(1, momentum=0.5, dtype=np.float64)
    layer(x)
    np.testing.assert_allclose(layer.running_mean, [0.5 * 0 + 0.5 * 3.0])
    np.testing.assert_allclose(layer.running_var, [0.5 * 1 + 0.5 * x.var(ddof=1)])


def test_eval_mode_uses_running_statistics_and_caches_nothing():
    layer = gn.BatchNorm1d(2, dtype=np.float64)
    layer.running_mean[:] = [1.0, -1.0]
    layer.running_var[:] = [4.0, 0.25]
    layer.eval()
    y = layer(np.array([[3.0, -1.0]]))  # a batch of one is fine in eval mode
    np.testing.assert_allclose(y, [[2.0 / np.sqrt(4.0 + 1e-5), 0.0]])
    with pytest.raises(RuntimeError, match="training mode"):
        layer.backward(y)


@pytest.mark.parametrize("cls", ["BatchNorm1d", "BatchNorm2d"])
def test_float32_stays_float32(cls):
    layer = getattr(gn, cls)(3)
    shape = (4, 3) if cls == "BatchNorm1d" else (4, 3, 2, 2)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32
    assert layer.weight.grad.dtype == np.float32
    assert layer.eval()(x).dtype == np.float32


def test_wrong_shapes_say_what_was_expected():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got \(2, 4, 5, 5\)"):
        gn.BatchNorm2d(3)(np.zeros((2, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(N, 3, L\), got \(2, 3, 4, 4\)"):
        gn.BatchNorm1d(3)(np.zeros((2, 3, 4, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        gn.BatchNorm1d(3)([[1.0, 2.0, 3.0]])


def test_a_single_value_per_channel_cannot_be_normalised_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        gn.BatchNorm1d(3)(np.zeros((1, 3), dtype=np.float32))


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"num_features": 0}, ValueError, "num_features"),
        ({"num_features": 2.0}, TypeError, "num_features"),
        ({"eps": 0.0}, ValueError, "eps"),
        ({"eps": "small"}, TypeError, "eps"),
        ({"momentum": 1.5}, ValueError, "momentum"),
        ({"momentum": None}, TypeError, "momentum"),
        ({"affine": "yes"}, TypeError, "affine"),
        ({"dtype": np.int32}, TypeError, "dtype"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, name):
    args = {"num_features": 3, **kwargs}
    with pytest.raises(error, match=name):
        gn.BatchNorm2d(**args)


def test_config_round_trip():
    layer = gn.BatchNorm1d(5, eps=1e-3, momentum=0.2, affine=False, dtype=np.float64)
    config = layer.get_config()
    assert config == {"num_features": 5, "eps": 1e-3, "momentum": 0.2, "affine": False, "dtype": "float64"}
    assert gn.BatchNorm1d(**config).get_config() == config


GRADCHECK_CASES["LayerNorm"] = (
    lambda dtype: _layer_norm_with_affine(gn.LayerNorm(5, dtype=dtype)),
    (2, 3, 5),
    None,
)


def _layer_norm_with_affine(layer):
    rng = np.random.default_rng(12)
    layer.weight.data[:] = rng.uniform(0.5, 1.5, size=layer.weight.shape)
    if layer.bias is not None:
        layer.bias.data[:] = rng.normal(size=layer.bias.shape)
    return layer


@pytest.mark.parametrize(
    ("normalized_shape", "shape", "kwargs"),
    [(4, (3, 4), {}), (6, (2, 5, 6), {"bias": False}), ((3, 4), (2, 3, 4), {"eps": 1e-3})],
)
def test_layer_norm_matches_pytorch_in_float64(normalized_shape, shape, kwargs):
    torch = _torch()
    rng = np.random.default_rng(0)
    ours = _layer_norm_with_affine(gn.LayerNorm(normalized_shape, dtype=np.float64, **kwargs))
    theirs = torch.nn.LayerNorm(normalized_shape, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        if ours.bias is not None:
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    x, dy = rng.normal(1.0, 2.0, size=shape), rng.normal(size=shape)
    xt = torch.from_numpy(x).requires_grad_()
    yt = theirs(xt)
    yt.backward(torch.from_numpy(dy))
    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **tol)
    if ours.bias is not None:
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **tol)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), t=st.integers(1, 4), d=st.integers(2, 6), bias=st.booleans())
def test_layer_norm_gradcheck_random_shapes(n, t, d, bias):
    layer = _layer_norm_with_affine(gn.LayerNorm(d, bias=bias, dtype=np.float64))
    assert gradcheck(layer, np.random.default_rng(d).normal(size=(n, t, d))).ok


def test_layer_norm_without_affine_and_in_eval_mode():
    x = np.random.default_rng(1).normal(size=(3, 4))
    ln = gn.LayerNorm(4, elementwise_affine=False, dtype=np.float64)
    y = ln(x)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(ln.eval()(x), y)
    assert ln.parameters() == []
    assert gradcheck(ln.train(), x).ok


def test_layer_norm_bad_input():
    with pytest.raises(ValueError, match=r"\(N, \.\.\., 4\), got \(2, 3\)"):
        gn.LayerNorm(4)(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="normalized_shape"):
        gn.LayerNorm(0)
    with pytest.raises(TypeError, match="bias"):
        gn.LayerNorm(3, bias="no")
