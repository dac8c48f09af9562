import numpy as np
import pytest

import glassnet as gn
from glassnet.testing import GradcheckError, gradcheck

GRADCHECK_CASES = {
    "RNN": (lambda dtype: gn.RNN(3, 4, rng=0, dtype=dtype), (2, 5, 3), None),
    "LSTM": (lambda dtype: gn.LSTM(3, 4, rng=0, dtype=dtype), (2, 5, 3), None),
    "GRU": (lambda dtype: gn.GRU(3, 4, rng=0, dtype=dtype), (2, 5, 3), None),
}

LAYERS = {
    "RNN": lambda **kw: gn.RNN(3, 4, **kw),
    "RNN-relu": lambda **kw: gn.RNN(3, 4, nonlinearity="relu", **kw),
    "LSTM": lambda **kw: gn.LSTM(3, 4, **kw),
    "GRU": lambda **kw: gn.GRU(3, 4, **kw),
}


def _state(layer, rng, n):
    h = rng.normal(size=(n, layer.hidden_size))
    return (h, rng.normal(size=(n, layer.hidden_size))) if isinstance(layer, gn.LSTM) else h


def _flat(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_float64(name, bias):
    layer = LAYERS[name](rng=1, bias=bias, dtype=np.float64)
    x = np.random.default_rng(2).normal(size=(3, 4, 3))
    result = gradcheck(layer, x)
    expected = {"x", "weight_ih", "weight_hh"} | ({"bias_ih", "bias_hh"} if bias else set())
    assert set(result.errors) == expected


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradcheck_with_an_initial_state(name):
    """The gradients of x and the weights with h0 (and c0) given, and the initial state's own gradient."""
    rng = np.random.default_rng(3)
    layer = LAYERS[name](rng=1, dtype=np.float64)
    x = rng.normal(size=(2, 3, 3))
    layer.initial_state = _state(layer, rng, 2)
    assert gradcheck(layer, x).ok

    g = rng.normal(size=(2, 3, 4))
    layer.zero_grad()
    layer.forward(x)
    layer.backward(g)
    analytic = _flat(layer.initial_state_grad)
    eps = 1e-6
    for k, s in enumerate(_flat(layer.initial_state)):
        numeric = np.zeros_like(s)
        for idx in np.ndindex(s.shape):
            old = s[idx]
            s[idx] = old + eps
            up = np.sum(layer.forward(x) * g)
            s[idx] = old - eps
            down = np.sum(layer.forward(x) * g)
            s[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(analytic[k], numeric, atol=1e-6, rtol=1e-5)


def test_without_an_initial_state_there_is_no_state_gradient():
    layer = gn.LSTM(3, 4, rng=0)
    layer.forward(np.ones((2, 3, 3), np.float32))
    layer.backward(np.ones((2, 3, 4), np.float32))
    assert layer.initial_state_grad is None


@pytest.mark.parametrize("name", ["RNN", "RNN-relu", "LSTM", "GRU"])
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_pytorch_in_float64(name, with_state):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    n, t, f, h = 3, 6, 5, 7
    if name.startswith("RNN"):
        act = "relu" if name.endswith("relu") else "tanh"
        ours, theirs = gn.RNN(f, h, nonlinearity=act, dtype=np.float64), torch.nn.RNN(f, h, nonlinearity=act)
    else:
        ours, theirs = getattr(gn, name)(f, h, dtype=np.float64), getattr(torch.nn, name)(f, h)
    theirs = theirs.double()
    theirs.batch_first = True
    with torch.no_grad():  # torch's weights into ours: the documented mapping
        for p in ("weight_ih", "weight_hh"):
            getattr(ours, p).data[...] = getattr(theirs, p + "_l0").numpy().T
        for p in ("bias_ih", "bias_hh"):
            getattr(theirs, p + "_l0").copy_(torch.from_numpy(rng.normal(size=getattr(ours, p).shape)))
            getattr(ours, p).data[...] = getattr(theirs, p + "_l0").numpy()
    x = rng.normal(size=(n, t, f))
    g = rng.normal(size=(n, t, h))
    xt = torch.tensor(x, requires_grad=True)
    torch_state = None
    if with_state:
        ours.initial_state = _state(ours, rng, n)
        torch_state = tuple(torch.tensor(s[None], requires_grad=True) for s in _flat(ours.initial_state))
    yt, final = theirs(xt, torch_state if name == "LSTM" or torch_state is None else torch_state[0])
    (yt * torch.from_numpy(g)).sum().backward()

    y = ours.forward(x)
    dx = ours.backward(g)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    final = final if isinstance(final, tuple) else (final,)
    for mine, ref in zip(_flat(ours.state), final):
        np.testing.assert_allclose(mine, ref.detach().numpy()[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for p in ("weight_ih", "weight_hh"):
        np.testing.assert_allclose(getattr(ours, p).grad, getattr(theirs, p + "_l0").grad.numpy().T, rtol=1e-9)
    for p in ("bias_ih", "bias_hh"):
        np.testing.assert_allclose(getattr(ours, p).grad, getattr(theirs, p + "_l0").grad.numpy(), rtol=1e-9)
    if with_state:
        for mine, ref in zip(_flat(ours.initial_state_grad), torch_state):
            np.testing.assert_allclose(mine, ref.grad.numpy()[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_stateful_pieces_equal_the_whole_sequence(name):
    """Generation feeds a prompt, then one step at a time: the carried state must make that equal one pass."""
    rng = np.random.default_rng(5)
    layer = LAYERS[name](rng=0, dtype=np.float64).eval()
    x = rng.normal(size=(2, 7, 3))
    whole = layer.forward(x)
    layer.stateful = True
    layer.reset_state()  # else the first piece would continue from the whole sequence's end
    pieces = [layer.forward(x[:, :4])] + [layer.forward(x[:, k : k + 1]) for k in range(4, 7)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=1e-12)
    layer.reset_state()
    np.testing.assert_allclose(layer.forward(x[:, :4]), whole[:, :4], rtol=1e-12)


def test_initial_state_is_used_by_every_forward_and_state_is_the_last_step():
    layer = gn.RNN(3, 4, rng=0, dtype=np.float64)
    x = np.random.default_rng(6).normal(size=(2, 5, 3))
    zeros_start = layer.forward(x)
    layer.initial_state = np.ones((2, 4))
    first, second = layer.forward(x), layer.forward(x)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, zeros_start)
    np.testing.assert_array_equal(layer.state, first[:, -1])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_float32_in_float32_out_and_float64_input_is_cast(name):
    layer = LAYERS[name](rng=0)
    x = np.random.default_rng(7).normal(size=(2, 3, 3))
    assert layer.forward(x.astype(np.float32)).dtype == np.float32
    y = layer.forward(x)  # float64 data into a float32 layer: computed in the layer's dtype
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.weight_hh.grad.dtype == np.float32


def test_weight_shapes_follow_the_documented_layout():
    for cls, gates in ((gn.RNN, 1), (gn.LSTM, 4), (gn.GRU, 3)):
        layer = cls(5, 7, rng=0)
        assert layer.weight_ih.shape == (5, gates * 7)
        assert layer.weight_hh.shape == (7, gates * 7)
        assert layer.bias_ih.shape == layer.bias_hh.shape == (gates * 7,)
        bound = 1 / np.sqrt(7)
        assert all(np.abs(p.data).max() <= bound for p in layer.parameters())


def test_same_seed_same_weights_and_config_round_trip():
    a, b = gn.GRU(3, 4, rng=9), gn.GRU(3, 4, rng=9)
    np.testing.assert_array_equal(a.weight_hh.data, b.weight_hh.data)
    rnn = gn.RNN(3, 4, nonlinearity="relu", bias=False, dtype=np.float64)
    assert rnn.get_config() == {
        "input_size": 3,
        "hidden_size": 4,
        "bias": False,
        "dtype": "float64",
        "nonlinearity": "relu",
    }


def test_save_and_load_keep_outputs(tmp_path):
    model = gn.Sequential(gn.LSTM(3, 4, rng=0), gn.GRU(4, 5, rng=1), gn.RNN(5, 2, rng=2))
    x = np.random.default_rng(8).normal(size=(2, 3, 3)).astype(np.float32)
    model.save(tmp_path / "m.gn")
    loaded = gn.load(tmp_path / "m.gn")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_inside_sequential_gradcheck_across_layers():
    rng = np.random.default_rng(10)
    model = gn.Sequential(gn.LSTM(3, 4, rng=rng, dtype=np.float64), gn.Tanh(), gn.GRU(4, 2, rng=rng, dtype=np.float64))
    assert gradcheck(model, rng.normal(size=(2, 3, 3))).ok


def test_gradcheck_catches_a_wrong_recurrent_gradient(monkeypatch):
    """The checks above are able to fail: drop the recurrent weight's gradient and gradcheck notices."""
    layer = gn.RNN(3, 4, rng=0, dtype=np.float64)
    real_finish = layer._finish_backward

    def broken(dzx, dzh, cache):
        out = real_finish(dzx, dzh, cache)
        layer.weight_hh.grad[...] = 0
        return out

    monkeypatch.setattr(layer, "_finish_backward", broken)
    with pytest.raises(GradcheckError, match="weight_hh"):
        gradcheck(layer, np.random.default_rng(0).normal(size=(2, 3, 3)))


# -- bad input ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_wrong_rank_and_wrong_width_name_the_expected_shape(name):
    layer = LAYERS[name](rng=0)
    with pytest.raises(ValueError, match=r"\(N, T, input_size=3\), got \(2, 3\)"):
        layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"input_size=3\), got \(2, 5, 4\)"):
        layer.forward(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"got \(2, 0, 3\)"):
        layer.forward(np.zeros((2, 0, 3), np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        layer.forward([[[0.0, 0.0, 0.0]]])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="nonlinearity='sigmoid'"):
        gn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size=0"):
        gn.LSTM(3, 0)
    with pytest.raises(TypeError, match="input_size"):
        gn.GRU(2.5, 4)
    with pytest.raises(TypeError, match="dtype"):
        gn.RNN(3, 4, dtype=np.int64)


def test_bad_initial_states():
    x = np.zeros((2, 5, 3), np.float32)
    rnn = gn.RNN(3, 4)
    rnn.initial_state = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"initial_state must have shape \(N, hidden_size\) = \(2, 4\)"):
        rnn.forward(x)
    rnn.initial_state = [[0.0] * 4] * 2
    with pytest.raises(TypeError, match="initial_state must be a numpy array"):
        rnn.forward(x)
    lstm = gn.LSTM(3, 4)
    lstm.initial_state = np.zeros((2, 4))
    with pytest.raises(TypeError, match=r"pair \(h0, c0\)"):
        lstm.forward(x)
    lstm.initial_state = (np.zeros((2, 4)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"initial_state\[1\]"):
        lstm.forward(x)


def test_carried_state_of_another_batch_size_says_to_reset():
    layer = gn.GRU(3, 4)
    layer.stateful = True
    layer.forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="reset_state"):
        layer.forward(np.zeros((3, 5, 3), np.float32))
    layer.reset_state()
    assert layer.forward(np.zeros((3, 5, 3), np.float32)).shape == (3, 5, 4)


def test_backward_misuse():
    layer = gn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((2, 5, 4), np.float32))
    layer.forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"dy of shape \(2, 5, 4\)"):
        layer.backward(np.zeros((2, 4, 4), np.float32))


def test_use_cache_is_stateful_and_reset_cache_forgets():
    """The generation protocol shared with MultiHeadAttention: use_cache(True), then reset_cache() per sequence."""
    layer = gn.LSTM(3, 4, rng=0, dtype=np.float64).eval()
    x = np.random.default_rng(12).normal(size=(1, 4, 3))
    whole = layer.forward(x)
    layer.use_cache(True)
    assert layer.stateful and layer.state is None
    steps = np.concatenate([layer.forward(x[:, k : k + 1]) for k in range(4)], axis=1)
    np.testing.assert_allclose(steps, whole, rtol=1e-12)
    layer.reset_cache()
    np.testing.assert_allclose(layer.forward(x[:, :1]), whole[:, :1], rtol=1e-12)
    layer.use_cache(False)
    assert not layer.stateful


def test_the_shared_base_is_not_a_layer_of_its_own():
    """RNN, LSTM and GRU share RecurrentBase; a model file cannot name the base itself."""
    from glassnet.layers._recurrent import RecurrentBase
    from glassnet.registry import build_architecture

    assert all(issubclass(cls, RecurrentBase) for cls in (gn.RNN, gn.LSTM, gn.GRU))
    assert "RecurrentBase" not in gn.layers.__all__
    with pytest.raises(ValueError, match="unknown layer class 'RecurrentBase'"):
        build_architecture({"class": "RecurrentBase", "config": {"input_size": 2, "hidden_size": 2}})
