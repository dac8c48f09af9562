"""Activations at the edges of the reals: erf within [-1, 1] and accurate
everywhere, GELU's lower tail, ELU's gradient for very negative inputs."""

import math

import numpy as np
import pytest

import glassnet as gn
from glassnet.layers.activations import erf, erfc, normal_cdf

TAILS = np.array([0.0, -0.0, 5e-324, 1e-300, 1e-8, 27.0, 30.0, 1e3, 1e10, 1e15, 1e300, np.inf])
GRID = np.concatenate([np.linspace(-30.0, 30.0, 120_001), TAILS, -TAILS])


def test_erf_matches_math_erf_over_all_reals_and_stays_in_range():
    got = erf(GRID)
    expected = np.array([math.erf(t) for t in GRID])
    np.testing.assert_allclose(got, expected, rtol=2e-15, atol=1e-300)
    assert np.abs(got).max() <= 1.0
    np.testing.assert_array_equal(erf(-GRID), -got)  # odd, exactly
    assert np.isnan(erf(np.array([np.nan]))).all()


def test_erfc_keeps_its_relative_precision_in_the_tail():
    got = erfc(GRID)
    expected = np.array([math.erfc(t) for t in GRID])
    normal = expected > np.finfo(np.float64).tiny  # below it, subnormals hold fewer digits
    np.testing.assert_allclose(got[normal], expected[normal], rtol=2e-13)
    np.testing.assert_allclose(got[~normal], expected[~normal], atol=1e-320)
    assert got.min() >= 0.0 and got.max() <= 2.0


def test_normal_cdf_in_the_lower_tail():
    x = np.array([-40.0, -20.0, -10.0, -8.3, -5.0])
    expected = [0.5 * math.erfc(-t / math.sqrt(2.0)) for t in x]
    np.testing.assert_allclose(normal_cdf(x), expected, rtol=1e-12)
    assert normal_cdf(x).min() >= 0  # 1 + erf(x / sqrt 2) went negative below x = -8.2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_is_minus_zero_far_in_the_lower_tail(dtype):
    x = np.array([-1e10, -1e15, -1e30, -50.0, -9.0], dtype=dtype)
    layer = gn.GELU()
    y = layer(x)
    assert y.dtype == dtype
    assert (y <= 0).all() and (y[:4] == 0).all() and np.signbit(y[:4]).all()
    assert y[4] == pytest.approx(-9.0 * 0.5 * math.erfc(9.0 / math.sqrt(2.0)), rel=1e-6)
    dx = layer.backward(np.ones_like(y))
    assert np.isfinite(dx).all() and np.abs(dx[:4]).max() == 0


def test_gelu_is_bounded_below_over_a_dense_grid():
    y = gn.GELU()(GRID[np.isfinite(GRID)])
    assert y.min() >= -0.17 and y.min() == pytest.approx(-0.16997, abs=1e-5)  # GELU's minimum, near x = -0.75


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch_over_the_reals_in_float64(approximate):
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-12.0, 12.0, 4001), [-1e10, -1e5, -40.0, 40.0, 1e5, 1e10]])
    dy = np.random.default_rng(0).normal(size=x.shape)
    layer = gn.GELU(approximate)
    y = layer(x)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate=approximate)
    yt.backward(torch.tensor(dy))
    # torch's 1 + erf(x / sqrt 2) cancels in the lower tail: absolute agreement there
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_gelu_tanh_form_has_no_overflow_for_huge_inputs():
    layer = gn.GELU("tanh")
    for dtype in (np.float32, np.float64):
        x = np.array([-np.finfo(dtype).max, -1e15, 1e15, np.finfo(dtype).max], dtype=dtype)
        y = layer(x)
        np.testing.assert_array_equal(y, [0, 0, x[2], x[3]])
        np.testing.assert_array_equal(layer.backward(np.ones_like(y)), [0, 0, 1, 1])


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_elu_gradient_for_very_negative_inputs_is_alpha_exp_x(alpha):
    x = np.array([-25.0, -50.0, -300.0, -0.5, 0.5])
    layer = gn.ELU(alpha)
    layer(x)
    dx = layer.backward(np.ones_like(x))
    expected = [alpha * math.exp(t) if t <= 0 else 1.0 for t in x]
    np.testing.assert_allclose(dx, expected, rtol=2e-16, atol=0)  # dy * (y + alpha) gave 1.3887891e-11 at -25


def test_elu_matches_torch_for_very_negative_inputs():
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-700.0, -20.0, 500), np.linspace(-3.0, 3.0, 101)])
    x = x[x != 0]
    dy = np.random.default_rng(1).normal(size=x.shape)
    layer = gn.ELU(0.7)
    y = layer(x)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.elu(xt, alpha=0.7)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-14, atol=0)


def test_the_float32_erf_stays_in_range_and_close_over_all_reals():
    from glassnet.layers.activations import erf_float32

    big = float(np.finfo(np.float32).max)
    x = np.concatenate([GRID[np.abs(GRID) <= 1e38], [big, -big]]).astype(np.float32)
    got = erf_float32(x)
    assert got.dtype == np.float32 and np.abs(got).max() <= 1.0
    expected = np.array([math.erf(t) for t in x.astype(np.float64)])
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)  # as its docstring says
