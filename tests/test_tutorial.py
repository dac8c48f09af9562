"""glassnet reproduces the tutorial's network, number for number."""

import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli.commands import demo
from glassnet.datasets import tutorial


def _tutorial_formulas(x, y, w1, w2, iterations):
    """The tutorial's own code, transcribed: feedforward, then backprop with its update rule."""

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def sigmoid_derivative(s):
        return s * (1.0 - s)

    losses = []
    for _ in range(iterations):
        layer1 = sigmoid(x @ w1)
        output = sigmoid(layer1 @ w2)
        losses.append(float(np.sum((y - output) ** 2)))
        d_weights2 = layer1.T @ (2 * (y - output) * sigmoid_derivative(output))
        d_weights1 = x.T @ (((2 * (y - output) * sigmoid_derivative(output)) @ w2.T) * sigmoid_derivative(layer1))
        w1 = w1 + d_weights1
        w2 = w2 + d_weights2
    return w1, w2, losses


def test_trajectory_equals_the_tutorials_formulas():
    x, y = tutorial()
    model = demo.tutorial_network(seed=123)
    w1, w2 = model.layers[0].weight.data.copy(), model.layers[2].weight.data.copy()
    history = model.fit(x, y, loss=gn.SSELoss(), optimizer=gn.SGD(model.parameters(), lr=1.0), epochs=1500, verbose=0)
    ref_w1, ref_w2, ref_losses = _tutorial_formulas(x, y, w1, w2, 1500)
    np.testing.assert_allclose(history["loss"], ref_losses, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.layers[0].weight.data, ref_w1, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.layers[2].weight.data, ref_w2, rtol=0, atol=1e-9)


def test_tutorial_network_is_exactly_the_tutorials():
    model = demo.tutorial_network(seed=0)
    shapes = [p.data.shape for p in model.parameters()]
    assert shapes == [(3, 4), (4, 1)]  # no biases
    for p in model.parameters():
        assert ((p.data >= 0) & (p.data < 1)).all()
    assert [type(m).__name__ for m in model.layers] == ["Linear", "Sigmoid", "Linear", "Sigmoid"]


def test_default_demo_converges_and_the_loss_falls_monotonically():
    result = demo.train_tutorial()
    x, y = tutorial()
    assert float(np.sum((y - result.predictions) ** 2)) < 0.01
    np.testing.assert_array_equal(np.round(result.predictions), y)
    assert np.all(np.diff(result.losses) < 0)


def test_glassnet_demo_writes_a_png(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    png = tmp_path / "glassnet-demo-loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in out
    assert "iteration  1500: SSE = " in out and "prediction" in out


def test_glassnet_demo_without_matplotlib_sketches_the_curve(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert cli.main(["demo", "--iterations", "200", "--seed", "3", "--lr", "0.5"]) == 0
    out = capsys.readouterr().out
    assert 'pip install "glassnet[plot]"' in out
    assert "*" in out and "iteration 0 … 200" in out
    assert not (tmp_path / "glassnet-demo-loss.png").exists()


def test_demo_rejects_bad_arguments(capsys):
    for args in (["demo", "--lr", "0"], ["demo", "--iterations", "-1"], ["demo", "--lr", "nan"]):
        with pytest.raises(SystemExit):
            cli.main(args)
    assert "expected" in capsys.readouterr().err
