import numpy as np
import pytest

import glassnet as gn
from glassnet.testing import gradcheck

GRADCHECK_CASES = {
    "MultiHeadAttention": (lambda dtype: gn.MultiHeadAttention(6, 2, causal=True, rng=0, dtype=dtype), (2, 4, 6), None),
}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_gradcheck_with_and_without_mask_and_bias(causal, bias):
    rng = np.random.default_rng(1)
    layer = gn.MultiHeadAttention(4, 2, causal=causal, bias=bias, rng=rng, dtype=np.float64)
    if bias:  # nonzero biases, so mistakes with them show
        layer.in_proj.bias.data[:] = rng.normal(size=12)
        layer.out_proj.bias.data[:] = rng.normal(size=4)
    assert gradcheck(layer, rng.normal(size=(2, 3, 4))).ok


@pytest.mark.parametrize("causal", [False, True])
def test_matches_pytorch_sdpa_in_float64(causal):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    n, t, d, h = 2, 5, 8, 2
    ours = gn.MultiHeadAttention(d, h, causal=causal, rng=0, dtype=np.float64)
    ours.in_proj.bias.data[:] = rng.normal(size=3 * d)
    ours.out_proj.bias.data[:] = rng.normal(size=d)
    w_in = torch.from_numpy(ours.in_proj.weight.data.copy()).requires_grad_()
    b_in = torch.from_numpy(ours.in_proj.bias.data.copy()).requires_grad_()
    w_out = torch.from_numpy(ours.out_proj.weight.data.copy()).requires_grad_()
    b_out = torch.from_numpy(ours.out_proj.bias.data.copy()).requires_grad_()
    x, dy = rng.normal(size=(n, t, d)), rng.normal(size=(n, t, d))
    xt = torch.from_numpy(x).requires_grad_()
    q, k, v = (xt @ w_in + b_in).split(d, dim=2)
    q, k, v = (a.view(n, t, h, d // h).transpose(1, 2) for a in (q, k, v))
    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    yt = o.transpose(1, 2).reshape(n, t, d) @ w_out + b_out
    yt.backward(torch.from_numpy(dy))
    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.in_proj.weight.grad, w_in.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.in_proj.bias.grad, b_in.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.out_proj.weight.grad, w_out.grad.numpy(), **tol)
    np.testing.assert_allclose(ours.out_proj.bias.grad, b_out.grad.numpy(), **tol)


def test_causal_output_ignores_the_future():
    rng = np.random.default_rng(3)
    layer = gn.MultiHeadAttention(4, 1, causal=True, rng=0, dtype=np.float64).eval()
    x = rng.normal(size=(1, 6, 4))
    changed = x.copy()
    changed[:, 4:] = rng.normal(size=(1, 2, 4))
    np.testing.assert_allclose(layer(x)[:, :4], layer(changed)[:, :4])
    assert not np.allclose(layer(x)[:, 4:], layer(changed)[:, 4:])


def test_key_value_cache_gives_the_full_forward_token_by_token():
    rng = np.random.default_rng(4)
    layer = gn.MultiHeadAttention(8, 2, causal=True, rng=0, dtype=np.float64).eval()
    x = rng.normal(size=(2, 7, 8))
    full = layer(x)
    layer.use_cache(True)
    steps = [layer(x[:, :3])] + [layer(x[:, i : i + 1]) for i in range(3, 7)]
    assert layer.cache_length == 7
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-12)
    layer.reset_cache()
    assert layer.cache_length == 0
    with pytest.raises(RuntimeError, match="eval"):
        layer.train()(x)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"divisible by num_heads.*embed_dim=10, num_heads=4"):
        gn.MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match=r"\(N, T, 8\), got \(2, 8\)"):
        gn.MultiHeadAttention(8, 2)(np.ones((2, 8), dtype=np.float32))
    with pytest.raises(TypeError, match="causal"):
        gn.MultiHeadAttention(8, 2, causal="yes")
