"""Diagnostics: per-layer statistics each epoch, and warnings provoked on purpose."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli


def _moons():
    return gn.datasets.moons(200, noise=0.1, rng=0)


def _fit(model, x, y, *, lr, epochs, loss=None, adam=False, batch_size=32):
    diag = gn.Diagnostics(print_fn=None)
    opt = gn.Adam(model.parameters(), lr=lr) if adam else gn.SGD(model.parameters(), lr=lr)
    model.fit(x, y, loss=loss or gn.CrossEntropyLoss(), optimizer=opt, epochs=epochs, batch_size=batch_size,
              verbose=0, callbacks=[diag], seed=0)  # fmt: skip
    return diag


def _relu_mlp():
    return gn.Sequential(
        gn.Linear(2, 32, rng=0), gn.ReLU(), gn.Linear(32, 32, rng=1), gn.ReLU(), gn.Linear(32, 2, rng=2)
    )


def test_a_healthy_run_fires_no_warning_and_records_every_layer():
    x, y = _moons()
    model = _relu_mlp()
    diag = _fit(model, x, y, lr=0.01, epochs=6, adam=True)
    assert diag.warnings == []
    assert len(diag.records) == 6 * 5
    last = [r for r in diag.records if r["epoch"] == 5]
    relu = last[1]
    assert relu["name"] == "ReLU" and 0 <= relu["dead"] < 0.5 and relu["grad_norm"] is None
    linear = last[0]
    assert linear["grad_norm"] > 0 and 1e-5 < linear["update_ratio"] < 1
    assert "forward" not in vars(model.layers[0])  # the observers are gone after training
    # the recorded statistics are those of the layer's outputs on the epoch's batches
    assert linear["act_std"] > 0 and np.isfinite(linear["act_mean"])
    assert "grad norm" in diag.table() and "epoch 6" in diag.table()


def test_the_activation_statistics_are_the_outputs_mean_and_std():
    x, y = gn.datasets.tutorial()
    model = gn.Sequential(
        gn.Linear(3, 4, rng=0, dtype=np.float64), gn.Sigmoid(), gn.Linear(4, 1, rng=0, dtype=np.float64)
    )
    w = [p.data.copy() for p in model.parameters()]
    diag = _fit(model, x, y, lr=0.1, epochs=1, loss=gn.MSELoss())
    h = 1 / (1 + np.exp(-(x @ w[0] + w[1])))  # the one batch's Sigmoid output, before the step
    record = diag.records[1]
    assert record["act_mean"] == pytest.approx(h.mean(), rel=1e-12)
    assert record["act_std"] == pytest.approx(h.std(), rel=1e-9)
    assert record["saturated"] == np.mean((h < 0.01) | (h > 0.99))


def test_a_deep_sigmoid_stack_warns_of_vanishing_gradients():
    x, y = _moons()
    layers = []
    for i in range(12):
        layers += [gn.Linear(2 if i == 0 else 16, 16, rng=i), gn.Sigmoid()]
    diag = _fit(gn.Sequential(*layers, gn.Linear(16, 2, rng=99)), x, y, lr=0.1, epochs=1)
    assert len(diag.warnings) == 1
    assert "layer 0's (Linear) gradients are" in diag.warnings[0]
    assert "vanishing gradients; try ReLU or He initialisation" in diag.warnings[0]


def test_dead_relus_are_named():
    x, y = _moons()
    model = _relu_mlp()
    model.layers[2].bias.data[:20] = -100.0  # 20 of layer 3's 32 units can never be positive
    diag = _fit(model, x, y, lr=0.01, epochs=2, adam=True)
    assert any(w.startswith("62% of layer 3's (ReLU) units were never positive") for w in diag.warnings)
    assert any("lower the learning rate" in w for w in diag.warnings)


def test_saturated_sigmoids_are_named():
    x, y = _moons()
    model = gn.Sequential(gn.Linear(2, 8, rng=0), gn.Sigmoid(), gn.Linear(8, 2, rng=1))
    model.layers[0].weight.data *= 200.0
    diag = _fit(model, x, y, lr=0.01, epochs=1)
    assert any("of layer 1's (Sigmoid) outputs are saturated" in w for w in diag.warnings)


def test_a_rising_loss_says_the_learning_rate_is_likely_too_high():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1))
    y = 3 * x
    model = gn.Sequential(gn.Linear(1, 1, rng=0, dtype=np.float64))
    diag = _fit(model, x, y, lr=1.2, epochs=5, loss=gn.MSELoss(), batch_size=None)  # past the stable lr of 1
    assert any(w.startswith("the loss rose three epochs in a row") for w in diag.warnings)
    assert any("the learning rate is likely too high" in w for w in diag.warnings)


def test_nan_names_the_epoch_and_the_layer():
    x, y = _moons()
    model = gn.Sequential(gn.Linear(2, 32, rng=0), gn.ReLU(), gn.Linear(32, 2, rng=2))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="nan"):
        diag = _fit(model, x, y, lr=1e4, epochs=3)
    nan = [w for w in diag.warnings if w.startswith("NaN or inf first appeared in epoch 1")]
    assert len(nan) == 1 and "layer 2" in nan[0]


def test_the_picture_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = _moons()
    diag = _fit(_relu_mlp(), x, y, lr=0.01, epochs=2, adam=True)
    diag.plot(str(tmp_path / "d.png"))
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_thresholds_are_named():
    with pytest.raises(ValueError, match="dead"):
        gn.Diagnostics(dead=2.0)


def test_glassnet_train_diagnose(tmp_path, capsys):
    assert (
        cli.main(["train", "--data", "xor", "--model", "mlp", "--epochs", "2", "--diagnose", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "diagnostics, epoch 2:" in out and "update/W" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "diagnostics.png").read_bytes()[:4] == b"\x89PNG"
