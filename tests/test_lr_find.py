"""gn.lr_find and glassnet lr-find: the learning-rate range test, which leaves the model as it was."""

import math

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli


def _moons():
    return gn.datasets.moons(256, noise=0.1, rng=0)


def _model():
    return gn.Sequential(gn.Linear(2, 16, rng=0), gn.ReLU(), gn.Dropout(0.2, rng=3), gn.Linear(16, 2, rng=1))


def test_the_weights_optimizer_state_and_rngs_are_restored():
    x, y = _moons()
    model = _model()
    opt = gn.Adam(model.parameters(), lr=1e-2)
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=opt, epochs=1, verbose=0, seed=0)  # Adam has moments now
    weights = {k: v.copy() for k, v in model.state_dict().items()}
    state = opt.state_dict()
    dropout_state = model.layers[2].rng.bit_generator.state
    result = gn.lr_find(model, x, y, loss=gn.CrossEntropyLoss(), optimizer=opt)
    assert len(result.lrs) > 10
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, weights[k])
    after = opt.state_dict()
    assert after["lr"] == state["lr"] and after["steps"] == state["steps"]
    for slot in ("m", "v"):
        for a, b in zip(after[slot], state[slot]):
            np.testing.assert_array_equal(a, b)
    assert model.layers[2].rng.bit_generator.state == dropout_state
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_the_lr_grows_exponentially_from_start_to_end():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = gn.Sequential(gn.Linear(3, 1, rng=0, dtype=np.float64))
    result = gn.lr_find(
        model,
        x,
        y,
        loss=gn.MSELoss(),
        optimizer=gn.SGD(model.parameters(), lr=0.1),
        start_lr=1e-5,
        end_lr=1e-1,
        steps=40,
    )
    assert len(result.lrs) == 40  # far below the stable lr: never diverges
    assert result.lrs[0] == pytest.approx(1e-5) and result.lrs[-1] == pytest.approx(1e-1)
    ratios = np.array(result.lrs[1:]) / np.array(result.lrs[:-1])
    np.testing.assert_allclose(ratios, (1e-1 / 1e-5) ** (1 / 39), rtol=1e-12)
    assert result.smoothed[-1] < result.smoothed[0]


def test_the_suggestion_trains_and_the_blow_up_stops_the_test():
    x, y = _moons()
    model = _model()
    opt = gn.SGD(model.parameters(), lr=0.1)
    result = gn.lr_find(model, x, y, loss=gn.CrossEntropyLoss(), optimizer=opt, end_lr=1e3)
    assert result.lrs[-1] < 1e3  # stopped once the loss diverged
    assert 1e-7 < result.suggestion <= result.min_lr
    opt.lr = result.suggestion
    history = model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=opt, epochs=5, verbose=0, seed=0)
    assert history["loss"][-1] < history["loss"][0]
    assert all(math.isfinite(v) for v in history["loss"])


def test_bad_ranges_are_named():
    x, y = _moons()
    model = _model()
    with pytest.raises(ValueError, match="end_lr"):
        gn.lr_find(model, x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), end_lr=1e-8)


def test_glassnet_lr_find(tmp_path, capsys):
    assert cli.main(["lr-find", "--data", "moons", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "suggested lr:" in out and "weights are as before the test" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "lr-find.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["lr-find", "--data", "moons", "--start-lr", "1", "--end-lr", "0.1", "--out", str(tmp_path)]) == 1
    assert "must be larger" in capsys.readouterr().err
