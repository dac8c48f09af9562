"""gn.explain and glassnet explain: the chain rule printed from the layers' own docstrings."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli, layers
from glassnet.explain import backward_formula, draw, explain, forward_formula
from glassnet.models import tutorial_network

PUBLIC_LAYERS = [getattr(layers, name) for name in layers.__all__] + [gn.Sequential]
PUBLIC_LOSSES = [gn.SSELoss, gn.MSELoss, gn.BCELoss, gn.BCEWithLogitsLoss, gn.CrossEntropyLoss]


@pytest.mark.parametrize("cls", PUBLIC_LAYERS + PUBLIC_LOSSES + [gn.models.GPT], ids=lambda c: c.__name__)
def test_every_public_layer_and_loss_documents_its_backward_formula(cls):
    lines = backward_formula(cls)
    assert any("=" in line for line in lines), f"{cls.__name__}'s docstring has no Backward formula"
    assert all(line in " ".join(cls.__doc__.split()) for line in (" ".join(t.split()) for t in lines[-1:]))
    assert forward_formula(cls)


def test_the_formula_printed_is_the_docstrings():
    class Doubler(gn.Module):
        """Doubles: ``y = 2 * x``.

        Backward (dy = dL/dy):
            dx = 2 * dy      (edited here, and only here)
        """

        def forward(self, x):
            return 2 * x

        def backward(self, dy):
            return 2 * dy

    x, y = gn.datasets.tutorial()
    model = gn.Sequential(gn.Linear(3, 1, rng=0, dtype=np.float64), Doubler())
    trace = explain(model, x, y)
    assert trace.steps[1].forward == "y = 2 * x"
    assert trace.steps[1].backward == ["dx = 2 * dy      (edited here, and only here)"]
    assert "dx = 2 * dy      (edited here, and only here)" in trace.text()


def test_the_tutorials_d_weights2_equals_glassnets_dw2_with_the_tutorials_sign():
    x, y = gn.datasets.tutorial()
    model = tutorial_network(3)
    w1, w2 = model.layers[0].weight.data.copy(), model.layers[2].weight.data.copy()
    trace = explain(model, x, y)
    # the tutorial's own code, on the same weights
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    layer1 = sigmoid(x @ w1)
    output = sigmoid(layer1 @ w2)
    d_weights2 = layer1.T @ (2 * (y - output) * output * (1 - output))
    d_weights1 = x.T @ (((2 * (y - output) * output * (1 - output)) @ w2.T) * layer1 * (1 - layer1))
    np.testing.assert_allclose(trace.tutorial.d_weights2, d_weights2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(trace.steps[2].grads["weight"], -d_weights2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(trace.steps[0].grads["weight"], -d_weights1, rtol=0, atol=1e-12)
    assert trace.tutorial.max_error <= 1e-12
    assert trace.loss == pytest.approx(float(np.sum((y - output) ** 2)), rel=1e-12)
    np.testing.assert_array_equal(model.layers[0].weight.data, w1)  # explain does not train


def test_the_trace_shows_the_shapes_that_meet():
    trace = explain()
    assert [s.meets for s in trace.steps] == [
        "(4, 3) @ (3, 4) -> (4, 4)",
        "(4, 4) -> (4, 4)",
        "(4, 4) @ (4, 1) -> (4, 1)",
        "(4, 1) -> (4, 1)",
    ]
    assert trace.steps[2].backward_meets == [
        "dx = dy @ W.T: (4, 1) @ (1, 4) -> (4, 4)",
        "dW = x.T @ dy: (4, 4) @ (4, 1) -> (4, 1)",
    ]
    text = trace.text()
    assert text.index("forward pass") < text.index("backward pass") < text.index("d_weights2")
    assert text.index("[3] Sigmoid, Backward") < text.index("[0] Linear, Backward")  # from dL/dŷ down
    assert "dW2 = -d_weights2: equal to 1e-12" in text


def _manual_grads(model, x, y, loss):
    model.train()
    model.zero_grad()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    return {name: p.grad.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("kind", ["cnn", "lstm", "gpt"])
def test_any_model_gives_the_gradients_of_its_own_backward(kind):
    rng = np.random.default_rng(0)
    if kind == "cnn":
        model = gn.Sequential(
            gn.Conv2d(1, 3, 3, padding=1, rng=0, dtype=np.float64), gn.ReLU(), gn.MaxPool2d(2),
            gn.Flatten(), gn.Linear(3 * 4 * 4, 5, rng=0, dtype=np.float64),
        )  # fmt: skip
        x, y = rng.normal(size=(6, 1, 8, 8)), rng.integers(0, 5, size=6)
    elif kind == "lstm":
        model = gn.Sequential(
            gn.Embedding(7, 4, rng=0, dtype=np.float64), gn.LSTM(4, 5, rng=0, dtype=np.float64),
            gn.Linear(5, 7, rng=0, dtype=np.float64),
        )  # fmt: skip
        x, y = rng.integers(0, 7, size=(3, 6)), rng.integers(0, 7, size=(3, 6))
    else:
        model = gn.models.gpt(vocab_size=7, context=6, n_layer=1, n_head=2, n_embd=8, rng=0, dtype=np.float64)
        x, y = rng.integers(0, 7, size=(3, 6)), rng.integers(0, 7, size=(3, 6))
    expected = _manual_grads(model, x, y, gn.CrossEntropyLoss())
    trace = explain(model, x, y, gn.CrossEntropyLoss())
    got = {}
    for step in trace.steps:
        prefix = f"layers.{step.index}." if isinstance(model, gn.Sequential) else ""
        got.update({prefix + k: g for k, g in step.grads.items()})
    assert sorted(got) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-15)
    records = trace.records
    assert len(records) == len(trace.steps) and all(r["backward"] for r in records)
    assert records[-1]["y_shape"] == [*x.shape[: 1 if kind == "cnn" else 2], 5 if kind == "cnn" else 7]
    text = trace.text()
    assert "norm" in text  # large arrays are summarised, not printed


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="model"):
        explain("not a model", [[0.0]], [[0.0]])
    with pytest.raises(TypeError, match="loss"):
        explain(tutorial_network(), *gn.datasets.tutorial(), loss="sse")
    with pytest.raises(ValueError, match="both x and y"):
        explain(tutorial_network(), x=np.zeros((4, 3)))


def test_the_picture_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    draw(explain(), str(tmp_path / "net.png"))
    assert (tmp_path / "net.png").read_bytes()[:4] == b"\x89PNG"


def test_glassnet_explain_prints_the_chain_rule(tmp_path, capsys):
    assert cli.main(["explain", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "the tutorial's 3-4-1 network, seed 1" in out
    assert "dW2 = -d_weights2: equal to 1e-12" in out
    assert cli.main(["explain", "--data", "digits", "--model", "cnn", "--samples", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Conv2d" in out and "(2, 1, 8, 8)" in out and "d_weights2" not in out


def test_glassnet_explain_rejects_a_model_file_with_model(tmp_path, capsys):
    assert cli.main(["explain", str(tmp_path / "m.gnet"), "--model", "mlp", "--out", str(tmp_path)]) == 1
    assert "not both" in capsys.readouterr().err


def test_glassnet_explain_a_model_file(tmp_path, capsys):
    assert cli.main(["train", "--data", "xor", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert cli.main(["explain", str(tmp_path / "model.gnet"), "--samples", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "on 3 xor test samples" in out and "CrossEntropyLoss" in out and "(3, 2) @ (2, " in out
