import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet.layers.conv import COL2IM_CHANNELS
from glassnet.testing import gradcheck

GRADCHECK_CASES = {
    "Conv2d": (
        lambda dtype: gn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), rng=0, dtype=dtype),
        (2, 2, 5, 4),
        None,
    ),
}


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    p=st.tuples(st.integers(0, 4), st.integers(0, 4)),  # past kernel_size - 1 too, as PyTorch allows
    bias=st.booleans(),
)
def test_conv_shape_rule_and_gradcheck(n, c_in, c_out, h, w, k, s, p, bias):
    assume(h + 2 * p[0] >= k[0] and w + 2 * p[1] >= k[1])
    conv = gn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=bias, rng=n, dtype=np.float64)
    x = np.random.default_rng(h * 7 + w).normal(size=(n, c_in, h, w))
    expected = (n, c_out, _out(h, k[0], s[0], p[0]), _out(w, k[1], s[1], p[1]))
    assert conv.output_shape(x.shape) == expected
    assert conv(x).shape == expected
    assert gradcheck(conv, x).ok


def _torch_conv(torch, conv):
    t = torch.nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    ).double()
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(conv.weight.data))
        if conv.bias is not None:
            t.bias.copy_(torch.from_numpy(conv.bias.data))
    return t


@pytest.mark.parametrize(
    "config, shape",
    [
        ({"in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1}, (3, 1, 8, 8)),
        ({"in_channels": 3, "out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 1}, (2, 3, 9, 7)),
        ({"in_channels": 2, "out_channels": 3, "kernel_size": (2, 4), "stride": (1, 2)}, (2, 2, 6, 9)),
        ({"in_channels": 4, "out_channels": 2, "kernel_size": (3, 3), "padding": (0, 2), "bias": False}, (3, 4, 5, 5)),
        ({"in_channels": 2, "out_channels": 2, "kernel_size": 5, "stride": 3, "padding": 2}, (2, 2, 4, 6)),
        # more input channels than col2im adds back at a time: two blocks and a remainder
        ({"in_channels": 2 * COL2IM_CHANNELS + 3, "out_channels": 3, "kernel_size": 3, "padding": 1}, (2, 19, 5, 4)),
    ],
)
def test_matches_pytorch_in_float64(config, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    conv = gn.Conv2d(**config, rng=1, dtype=np.float64)
    if conv.bias is not None:
        conv.bias.data[:] = rng.normal(size=conv.bias.shape)
    t = _torch_conv(torch, conv)
    x = rng.normal(size=shape)
    xt = torch.tensor(x, requires_grad=True)
    y, yt = conv(x), t(xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.normal(size=y.shape)
    dx = conv.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.weight.grad, t.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    if conv.bias is not None:
        np.testing.assert_allclose(conv.bias.grad, t.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_gradcheck_across_col2im_channel_blocks():
    conv = gn.Conv2d(COL2IM_CHANNELS + 3, 2, 3, padding=1, rng=0, dtype=np.float64)
    x = np.random.default_rng(3).normal(size=(2, COL2IM_CHANNELS + 3, 4, 3))
    assert gradcheck(conv, x).ok


SWEEP = [  # (kernel_size, stride, padding, input H x W): paddings up to and past the kernel, as PyTorch takes them
    ((1, 5), 1, 1, (4, 6)),
    (1, 1, 1, (3, 3)),
    (1, 2, 3, (5, 4)),
    (2, (2, 1), (2, 0), (3, 5)),
    (3, 1, 3, (2, 2)),
    (3, 2, (4, 1), (5, 6)),
    ((2, 3), (1, 3), (0, 5), (4, 2)),
    (1, 1, (0, 2), (1, 1)),
]


@pytest.mark.parametrize(("k", "s", "p", "hw"), SWEEP)
def test_every_padding_pytorch_accepts_matches_pytorch_in_float64(k, s, p, hw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    conv = gn.Conv2d(2, 3, k, stride=s, padding=p, rng=1, dtype=np.float64)
    conv.bias.data[:] = rng.normal(size=conv.bias.shape)
    t = _torch_conv(torch, conv)
    x = rng.normal(size=(2, 2, *hw))
    xt = torch.tensor(x, requires_grad=True)
    y, yt = conv(x), t(xt)
    assert conv.output_shape(x.shape) == y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.normal(size=y.shape)
    dx = conv.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.weight.grad, t.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.bias.grad, t.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert gradcheck(conv, x).ok


def test_padding_whose_workspace_would_dwarf_the_usual_one_is_refused_before_allocating():
    conv = gn.Conv2d(1, 1, 3, padding=6000)
    x = np.zeros((1, 1, 8, 8), dtype=np.float32)
    for call, arg in ((conv, x), (conv.check_input, x), (conv.output_shape, x.shape)):
        with pytest.raises(ValueError, match=r"padding=\(6000, 6000\).*workspace of .* MiB.*only adds outputs"):
            call(arg)
    assert gn.Conv2d(1, 1, 3, padding=10)(x).shape == (1, 1, 26, 26)  # past the kernel, but cheap


def test_forward_is_the_cross_correlation_sum():
    rng = np.random.default_rng(2)
    conv = gn.Conv2d(2, 3, (2, 3), stride=(2, 1), padding=(1, 1), rng=0, dtype=np.float64)
    conv.bias.data[:] = [0.5, -1.0, 2.0]
    x = rng.normal(size=(2, 2, 5, 4))
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = conv(x)
    for oh in range(y.shape[2]):
        for ow in range(y.shape[3]):
            window = xp[:, :, oh * 2 : oh * 2 + 2, ow : ow + 3]
            expected = np.einsum("ncij,ocij->no", window, conv.weight.data) + conv.bias.data
            np.testing.assert_allclose(y[:, :, oh, ow], expected)


def test_float32_in_float32_out_and_float32_gradients():
    conv = gn.Conv2d(2, 4, 3, padding=1, rng=0)
    assert conv.weight.data.dtype == np.float32 and conv.bias.data.dtype == np.float32
    y = conv(np.ones((2, 2, 6, 5), dtype=np.float32))
    assert y.dtype == np.float32
    dx = conv.backward(np.ones_like(y))
    assert dx.dtype == np.float32
    assert conv.weight.grad.dtype == np.float32 and conv.bias.grad.dtype == np.float32


def test_backward_adds_into_grad():
    conv = gn.Conv2d(1, 2, 2, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(2, 1, 4, 4))
    g = np.ones(conv.output_shape(x.shape))
    conv(x)
    conv.backward(g)
    once_w, once_b = conv.weight.grad.copy(), conv.bias.grad.copy()
    conv.backward(g)
    np.testing.assert_allclose(conv.weight.grad, 2 * once_w)
    np.testing.assert_allclose(conv.bias.grad, 2 * once_b)


def test_returned_arrays_are_not_overwritten_by_later_calls():
    # the layer reuses work arrays between steps; what it returns must stay put
    rng = np.random.default_rng(0)
    conv = gn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64)
    x1, x2 = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(2, 2, 5, 5))
    y1 = conv(x1)
    y1_copy = y1.copy()
    dx1 = conv.backward(np.ones_like(y1))
    dx1_copy = dx1.copy()
    y2 = conv(x2)
    conv.backward(rng.normal(size=y2.shape))
    np.testing.assert_array_equal(y1, y1_copy)
    np.testing.assert_array_equal(dx1, dx1_copy)


def test_alternating_input_shapes_give_the_same_results():
    rng = np.random.default_rng(0)
    conv = gn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64)
    shapes = [(2, 2, 5, 5), (3, 2, 4, 6), (1, 2, 7, 3)]
    xs = [rng.normal(size=s) for s in shapes]
    first = [conv(x).copy() for x in xs]
    again = [conv(x) for x in reversed(xs)]
    for a, b in zip(first, reversed(again), strict=True):
        np.testing.assert_array_equal(a, b)


def test_eval_mode_convolves_large_batches_in_bounded_chunks(monkeypatch):
    import glassnet.layers.conv as conv_module

    rng = np.random.default_rng(0)
    conv = gn.Conv2d(3, 4, 3, padding=1, rng=0, dtype=np.float64)
    x = rng.normal(size=(23, 3, 6, 5))
    whole = conv(x)  # training mode: one product over the whole batch
    bound = 5 * (3 * 9 + 1 + 4) * 6 * 7 * 8  # the columns and product of 5 samples
    monkeypatch.setattr(conv_module, "EVAL_WORKSPACE_BYTES", bound)
    conv.eval()
    conv._workspaces.clear()
    chunked = conv(x)  # chunks of 5: four of them, then the remaining 3
    np.testing.assert_allclose(chunked, whole, rtol=1e-13, atol=1e-13)
    assert sorted(shape[0] for shape in conv._workspaces) == [3, 5]
    for ws in conv._workspaces.values():
        assert ws["cols"].nbytes + ws["y2d"].nbytes <= bound


def test_weight_layout_and_initialiser_fans():
    seen = {}

    def record(shape, fan_in, fan_out, rng, dtype):
        seen.update(shape=shape, fan_in=fan_in, fan_out=fan_out)
        return np.zeros(shape, dtype=dtype)

    conv = gn.Conv2d(3, 5, (2, 4), init=record)
    assert conv.weight.shape == (5, 3, 2, 4) and conv.bias.shape == (5,)
    assert seen == {"shape": (5, 3, 2, 4), "fan_in": 3 * 2 * 4, "fan_out": 5 * 2 * 4}
    bound = np.sqrt(6 / (3 * 2 * 4))
    assert np.abs(gn.Conv2d(3, 5, (2, 4), rng=0).weight.data).max() <= bound


def test_config_is_json_and_rebuilds_the_layer():
    conv = gn.Conv2d(3, 4, (3, 2), stride=2, padding=(1, 0), bias=False, init="he_normal", dtype=np.float64)
    config = json.loads(json.dumps(conv.get_config()))
    assert config == conv.get_config()
    clone = gn.Conv2d(**config)
    assert clone.get_config() == config
    assert clone.bias is None and clone.weight.data.dtype == np.float64
    assert gn.Conv2d(1, 1, 1, init=lambda *a: np.zeros((1, 1, 1, 1))).get_config()["init"] == "he_uniform"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"in_channels": 0}, "in_channels"),
        ({"out_channels": -1}, "out_channels"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": (3, 0)}, "kernel_size"),
        ({"kernel_size": (1, 2, 3)}, "kernel_size"),
        ({"stride": -1}, "stride"),
        ({"stride": 0}, "stride"),
        ({"padding": -1}, "padding"),
        ({"padding": 2**31}, "padding"),
        ({"stride": 2**40}, "stride"),
        ({"init": "nope"}, "init"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_argument(kwargs, name):
    args = {"in_channels": 2, "out_channels": 3, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        gn.Conv2d(**args)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"kernel_size": 2.5}, "kernel_size"),
        ({"stride": "2"}, "stride"),
        ({"padding": None}, "padding"),
        ({"dtype": np.int32}, "dtype"),
    ],
)
def test_wrong_types_are_type_errors(kwargs, name):
    args = {"in_channels": 2, "out_channels": 3, "kernel_size": 3, **kwargs}
    with pytest.raises(TypeError, match=name):
        gn.Conv2d(**args)


def test_wrong_channel_count_and_rank_name_the_expected_layout():
    conv = gn.Conv2d(3, 2, 3)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got \(2, 4, 5, 5\)"):
        conv(np.zeros((2, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got \(3, 5, 5\)"):
        conv(np.zeros((3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        conv.check_input(np.zeros((2, 1, 5, 5)), "x")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        conv.output_shape((2, 5, 5))
    with pytest.raises(TypeError, match="numpy array"):
        conv([[1.0]])


def test_input_smaller_than_the_kernel_is_a_value_error():
    conv = gn.Conv2d(1, 1, (3, 5), padding=1)
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        conv(np.zeros((1, 1, 4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        conv.check_input(np.zeros((1, 1, 9, 2)))
    assert conv.output_shape((1, 1, 1, 3)) == (1, 1, 1, 1)


def test_backward_before_forward_and_after_eval_forward():
    conv = gn.Conv2d(1, 2, 3)
    with pytest.raises(RuntimeError, match="forward"):
        conv.backward(np.ones((1, 2, 1, 1), dtype=np.float32))
    conv.eval()
    conv(np.ones((1, 1, 3, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="forward"):
        conv.backward(np.ones((1, 2, 1, 1), dtype=np.float32))


def test_backward_checks_dy_shape():
    conv = gn.Conv2d(1, 2, 3)
    conv(np.ones((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(1, 2, 2, 2\)"):
        conv.backward(np.ones((1, 2, 3, 3), dtype=np.float32))
