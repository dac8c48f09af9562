"""Checkpoints at the edges of a run: a learning rate of 0, a finished run, early stopping across a resume."""

import numpy as np
import pytest

import glassnet as gn
from glassnet.checkpoint import read_checkpoint


def _data(n=24):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)


def _model():
    rng = np.random.default_rng(1)
    return gn.Sequential(gn.Linear(4, 8, rng=rng), gn.ReLU(), gn.Dropout(0.25), gn.Linear(8, 2, rng=rng))


def _fit(epochs, schedule, callbacks=(), model=None, **kwargs):
    model = model or _model()
    optimizer = gn.Adam(model.parameters(), lr=0.05)
    x, y = _data()
    history = model.fit(
        x,
        y,
        loss=gn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=8,
        callbacks=[schedule(optimizer), *callbacks],
        seed=3,
        verbose=0,
        **kwargs,
    )
    return model, optimizer, history


SCHEDULES = {
    "cosine to 0 at the last epoch": (lambda opt: gn.CosineAnnealingLR(opt, T_max=4), 4),
    "cosine with T_max < epochs": (lambda opt: gn.CosineAnnealingLR(opt, T_max=2), 2),
    "warm-up and cosine, ended": (lambda opt: gn.WarmupCosineLR(opt, warmup_steps=2, total_steps=5), 3),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_a_checkpoint_saved_at_lr_0_resumes_exactly(tmp_path, name):
    schedule, at = SCHEDULES[name]
    path = tmp_path / "ck.gnet"
    _fit(at, schedule, [gn.ModelCheckpoint(path)])
    assert read_checkpoint(path).header["optimizer"]["lr"] == 0.0
    resumed, opt, _ = _fit(4, schedule, resume_from=path)
    straight, opt_straight, _ = _fit(4, schedule)
    for a, b in zip(resumed.parameters(), straight.parameters()):
        assert np.array_equal(a.data, b.data)
    assert opt.lr == opt_straight.lr


def test_optimizers_take_lr_0_as_pytorch_does():
    params = gn.Linear(2, 1, rng=0).parameters()
    for make in (gn.SGD, gn.Adam, gn.AdamW, gn.RMSprop):
        assert make(params, lr=0.0).lr == 0.0
    before = [p.data.copy() for p in params]
    opt = gn.Adam(params, lr=0)
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    assert all(np.array_equal(p.data, b) for p, b in zip(params, before))
    for bad in (-1e-3, float("nan")):
        with pytest.raises(ValueError, match="lr"):
            gn.SGD(params, lr=bad)


def test_resuming_a_finished_run_says_so_and_keeps_its_weights(tmp_path, capsys):
    schedule, _ = SCHEDULES["cosine to 0 at the last epoch"]
    path = tmp_path / "ck.gnet"
    finished, _, history = _fit(4, schedule, [gn.ModelCheckpoint(path)])
    model = _model()
    x, y = _data()
    opt = gn.Adam(model.parameters(), lr=0.05)
    again = model.fit(
        x,
        y,
        loss=gn.CrossEntropyLoss(),
        optimizer=opt,
        epochs=4,
        batch_size=8,
        callbacks=[schedule(opt)],
        seed=3,
        verbose=2,
        resume_from=path,
    )
    assert "finished (epoch 4 of 4): nothing left to train" in capsys.readouterr().out
    assert again.history == history.history
    for a, b in zip(model.parameters(), finished.parameters()):
        assert np.array_equal(a.data, b.data)


def test_the_model_of_a_checkpoint_can_be_saved_as_a_model_file(tmp_path):
    schedule, _ = SCHEDULES["cosine to 0 at the last epoch"]
    path = tmp_path / "ck.gnet"
    finished, _, _ = _fit(4, schedule, [gn.ModelCheckpoint(path, metadata={"data": "toy"})])
    model = read_checkpoint(path).model()
    assert model.metadata == {"data": "toy"}
    model.save(tmp_path / "model.gnet")
    loaded = gn.load(tmp_path / "model.gnet")
    x, _ = _data()
    assert np.array_equal(loaded.predict(x), finished.predict(x))


# -- EarlyStopping across a resume ---------------------------------------------
def _stopping_fit(epochs, callbacks=(), **kwargs):
    model = _model()
    optimizer = gn.Adam(model.parameters(), lr=0.1)
    x, y = _data(48)
    stop = gn.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(
        x[:24],
        y[:24],
        loss=gn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=8,
        validation_data=(x[24:], y[24:]),
        callbacks=[stop, *callbacks],
        seed=3,
        verbose=0,
        **kwargs,
    )
    return model, stop, history


def test_early_stopping_resumes_to_the_same_epoch_and_best_weights(tmp_path):
    straight, stop, history = _stopping_fit(30, [gn.ModelCheckpoint(tmp_path / "ck-{epoch}.gnet")])
    assert stop.stopped_epoch is not None and 3 <= stop.stopped_epoch < 29  # it stops early, after some epochs
    for k in range(1, stop.stopped_epoch + 2):  # every epoch, the one it stopped at included
        resumed, resumed_stop, resumed_history = _stopping_fit(30, resume_from=tmp_path / f"ck-{k}.gnet")
        assert resumed_stop.stopped_epoch == stop.stopped_epoch, k
        assert resumed_stop.best_epoch == stop.best_epoch, k
        assert resumed_history.history == history.history, k
        for a, b in zip(resumed.parameters(), straight.parameters()):
            assert np.array_equal(a.data, b.data), k


class _CtrlC(gn.Callback):
    def on_batch_end(self, batch, loss):
        raise KeyboardInterrupt


@pytest.mark.parametrize("k", [1, 2, 3])
def test_ctrl_c_in_the_first_batch_after_a_resume_keeps_the_checkpoint_s_best_weights(tmp_path, k):
    _stopping_fit(k, [gn.ModelCheckpoint(tmp_path / "ck.gnet")])
    best_so_far, _, _ = _stopping_fit(k)  # ends with the best weights of its k epochs
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        x, y = _data(48)
        model.fit(
            x[:24],
            y[:24],
            loss=gn.CrossEntropyLoss(),
            optimizer=gn.Adam(model.parameters(), lr=0.1),
            epochs=30,
            batch_size=8,
            validation_data=(x[24:], y[24:]),
            seed=3,
            verbose=0,
            resume_from=tmp_path / "ck.gnet",
            callbacks=[gn.EarlyStopping(patience=2, restore_best_weights=True), _CtrlC()],
        )
    fresh = _model()
    for a, b, c in zip(model.parameters(), best_so_far.parameters(), fresh.parameters()):
        assert np.array_equal(a.data, b.data)
        assert not np.array_equal(a.data, c.data)
