"""Faults during training: fit never hands back weights it knows are broken.

A batch whose loss is NaN or infinite gets no optimizer step; TerminateOnNaN
stops there; EarlyStopping restores its best weights however fit ends; data
that overflows the model's dtype is refused; a lone last sample never reaches
BatchNorm alone; fit leaves the model in the mode it found it in.
"""

import numpy as np
import pytest

import glassnet as gn
from glassnet.training import _batch_bounds


def _regression(n=24, seed=0, bad_rows=()):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0]], dtype=np.float32)).astype(np.float32)
    for i in bad_rows:
        x[i] = 1e30  # finite in float32, but its squared error is not
    return x, y


def _linear(seed=0):
    return gn.Sequential(gn.Linear(2, 1, rng=seed))


class Snapshots(gn.Callback):
    """The weights after every batch (after its step, if it had one)."""

    def on_train_begin(self):
        self.states = []

    def on_batch_end(self, batch, loss):
        self.states.append((batch, loss, self.model.state_dict()))


def _fit(model, x, y, **kwargs):
    args = {"loss": gn.MSELoss(), "optimizer": gn.SGD(model.parameters(), lr=0.05), "epochs": 3}
    args.update(batch_size=4, shuffle=False, verbose=0)
    args.update(kwargs)
    return model.fit(x, y, **args)


def test_terminate_on_nan_leaves_the_last_finite_weights():
    x, y = _regression(bad_rows=[9])  # batch 2 of the first epoch
    model, snaps, term = _linear(), Snapshots(), gn.TerminateOnNaN()
    history = _fit(model, x, y, callbacks=[snaps, term])
    assert term.terminated_at == 2
    assert [b for b, _, _ in snaps.states] == [0, 1, 2]
    assert not np.isfinite(snaps.states[2][1])
    state = model.state_dict()
    assert all(np.isfinite(v).all() for v in state.values())
    for name, value in state.items():  # exactly the weights after batch 1: the bad batch took no step
        np.testing.assert_array_equal(value, snaps.states[1][2][name])
    assert len(history["loss"]) == 1 and not np.isfinite(history["loss"][0])


def test_without_the_callback_fit_warns_once_naming_epoch_and_batch_and_keeps_finite_weights():
    x, y = _regression(bad_rows=[13])  # batch 3 of every epoch
    model = _linear()
    with pytest.warns(RuntimeWarning, match=r"loss is inf at epoch 1, batch 4\. That step was skipped") as record:
        history = _fit(model, x, y, epochs=4)
    assert len(record) == 1  # once per fit, not once per bad batch
    assert len(history["loss"]) == 4 and not np.isfinite(history["loss"]).any()
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    # the other batches still trained: the fit on the good rows improved
    good = np.delete(np.arange(len(x)), 13)
    before = _linear().evaluate(x[good], y[good], loss=gn.MSELoss())["loss"]
    assert model.evaluate(x[good], y[good], loss=gn.MSELoss())["loss"] < before


def test_a_finite_loss_with_an_infinite_gradient_takes_no_step_either():
    x, y = _regression()
    x[1] = [1e25, 0.0]
    model, snaps = _linear(), Snapshots()
    model.layers[0].weight.data[:] = [[1e-10], [0.0]]
    before = model.state_dict()
    # the squared error (about 1e29) fits float32; dW = x.T @ dy (about 5e39) does not
    with np.errstate(over="ignore"), pytest.warns(RuntimeWarning, match=r"gradient is not finite .* batch 1\."):
        _fit(model, x, y, epochs=1, callbacks=[snaps])
    assert np.isfinite(snaps.states[0][1])
    for name, value in snaps.states[0][2].items():  # batch 0 took no step
        np.testing.assert_array_equal(value, before[name])
    assert all(np.isfinite(p.data).all() for p in model.parameters())


class Interrupt(gn.Callback):
    """Records the epoch logs, then raises ``error`` at the end of epoch ``at``."""

    def __init__(self, at, error):
        self.at, self.error, self.logs = at, error, []

    def on_epoch_end(self, epoch, logs):
        self.logs.append(logs)
        if epoch == self.at:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("disk full")])
def test_early_stopping_restores_the_best_weights_when_fit_ends_by_an_exception(error):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    wrong = 1 - y  # val_loss rises as training improves: the best epoch is an early one
    model = gn.Sequential(gn.Linear(2, 8, rng=0), gn.Tanh(), gn.Linear(8, 2, rng=1))
    stop = gn.EarlyStopping(patience=100, restore_best_weights=True)
    interrupt = Interrupt(at=6, error=error)
    model.eval()
    with pytest.raises(type(error)):
        model.fit(
            x,
            y,
            loss=gn.CrossEntropyLoss(),
            optimizer=gn.SGD(model.parameters(), lr=0.5),
            epochs=50,
            batch_size=20,
            validation_data=(x, wrong),
            callbacks=[stop, interrupt],
            verbose=0,
        )
    val_losses = [logs["val_loss"] for logs in interrupt.logs]
    assert len(val_losses) == 7 and stop.best_epoch < 6
    restored = model.evaluate(x, wrong, loss=gn.CrossEntropyLoss())["loss"]
    assert restored == pytest.approx(min(val_losses), rel=1e-6)
    assert restored < val_losses[-1]
    assert not model.training and model.input_grad  # mode and input gradients as before fit


def test_early_stopping_acts_when_the_first_epoch_blows_up():
    x, y = _regression(bad_rows=[5])
    model = _linear()
    before = model.state_dict()
    stop = gn.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    with pytest.warns(RuntimeWarning, match="epoch 1, batch 2"):
        history = _fit(model, x, y, epochs=10, callbacks=stop)
    assert stop.stopped_epoch == 0 and len(history["loss"]) == 1  # a non-finite value stops at once
    for name, value in model.state_dict().items():  # no epoch was finite: the weights from before training
        np.testing.assert_array_equal(value, before[name])


def test_early_stopping_stops_at_a_nan_after_good_epochs_and_restores_the_best():
    stop = gn.EarlyStopping(monitor="loss", patience=10, restore_best_weights=True)
    stop.model = _linear()
    stop.on_train_begin()
    for epoch, value in enumerate([1.0, 0.5, float("nan")]):
        stop.on_epoch_end(epoch, {"loss": value})
    assert stop.model.stop_training and stop.stopped_epoch == 2 and stop.best_epoch == 1


def test_data_that_overflows_float32_is_rejected_after_the_cast():
    x, y = _regression()
    big = x.astype(np.float64)
    big[3, 1] = 1e300  # finite in float64, inf in float32
    model = _linear()
    with pytest.raises(ValueError, match=r"x holds 1 value\(s\) too large for float32.*1e\+300"):
        _fit(model, big, y)
    with pytest.raises(ValueError, match=r"validation_data\[0\] holds 1 value"):
        _fit(model, x, y, validation_data=(big, y))
    with pytest.raises(ValueError, match=r"y holds 24 value"):
        _fit(model, x, np.full((len(x), 1), 1e300))
    with pytest.raises(ValueError, match="too large for float32"):
        model.predict(big)
    # a float64 model computes 1e300 as given
    model64 = gn.Sequential(gn.Linear(2, 1, rng=0, dtype=np.float64))
    assert model64.predict(big[:4] * 0 + 1e300).dtype == np.float64


def _bn_model():
    return gn.Sequential(gn.Linear(2, 4, rng=0), gn.BatchNorm1d(4), gn.ReLU(), gn.Linear(4, 1, rng=1))


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_lone_last_sample_joins_the_batch_before_it_in_a_batchnorm_model(shuffle):
    x, y = _regression(n=33)
    sizes = []

    class Sizes(gn.Callback):
        def on_batch_end(self, batch, loss):
            sizes.append(batch)

    model = _bn_model()
    history = _fit(model, x, y, batch_size=16, shuffle=shuffle, callbacks=[Sizes()], seed=0)
    assert sizes == [0, 1] * 3  # two batches per epoch: 16 and 17 samples
    assert np.isfinite(history["loss"]).all()
    assert _batch_bounds(model, 33, 16) == [(0, 16), (16, 33)]
    assert _batch_bounds(_linear(), 33, 16) == [(0, 16), (16, 32), (32, 33)]  # no BatchNorm: batches as asked
    assert _batch_bounds(model, 34, 16) == [(0, 16), (16, 32), (32, 34)]


@pytest.mark.usefixtures("one_thread")  # the one-thread loop, bit for bit (tests/test_replicas.py: any count)
def test_the_merged_batch_is_the_manual_loop_over_those_bounds():
    x, y = _regression(n=9)
    a, b = _bn_model(), _bn_model()
    _fit(a, x, y, batch_size=4, epochs=2)
    loss_fn, opt = gn.MSELoss(), gn.SGD(b.parameters(), lr=0.05)
    for _ in range(2):
        for start, stop in [(0, 4), (4, 9)]:
            out = b(x[start:stop])
            loss_fn(out, y[start:stop])
            b.zero_grad()
            b.backward(loss_fn.backward())
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


@pytest.mark.parametrize("mode", [True, False])
def test_fit_returns_the_model_in_the_mode_it_was_in(mode):
    x, y = _regression()
    model = gn.Sequential(gn.Linear(2, 4, rng=0), gn.Dropout(0.5), gn.Linear(4, 1, rng=1))
    model.train(mode)
    _fit(model, x, y, seed=0)
    assert [m.training for m in model.modules()] == [mode] * 4
