import numpy as np
import pytest

import glassnet as gn


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, n)
    x = (centers[y] + rng.normal(scale=0.6, size=(n, 2))).astype(np.float32)
    return x, y


def _mlp(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return gn.Sequential(gn.Linear(2, 16, rng=rng, dtype=dtype), gn.ReLU(), gn.Linear(16, 3, rng=rng, dtype=dtype))


def _fit(model, x, y, **kwargs):
    args = {
        "loss": gn.CrossEntropyLoss(),
        "optimizer": gn.SGD(model.parameters(), lr=0.1, momentum=0.9),
        "epochs": 5,
        "batch_size": 16,
        "seed": 0,
        "verbose": 0,
    }
    args.update(kwargs)
    return model.fit(x, y, **args)


def test_mlp_learns_a_toy_set_and_history_has_every_key():
    x, y = _blobs()
    model = _mlp()
    history = _fit(model, x, y, epochs=20, metrics=["accuracy"], validation_data=(x[:30], y[:30]))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 20 for v in history.history.values())
    assert history["loss"][-1] < history["loss"][0] / 3
    assert model.evaluate(x, y, loss=gn.CrossEntropyLoss(), metrics=["accuracy"])["accuracy"] > 0.9
    assert model.predict(x).shape == (120, 3)


def test_same_seed_same_training_bit_for_bit():
    x, y = _blobs()
    a, b = _mlp(), _mlp()
    ha, hb = _fit(a, x, y), _fit(b, x, y)
    assert ha.history == hb.history
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    c = _mlp()
    _fit(c, x, y, seed=1)
    assert not np.array_equal(c.parameters()[0].data, a.parameters()[0].data)


@pytest.mark.usefixtures("one_thread")  # the one-thread loop, bit for bit (tests/test_replicas.py: any count)
def test_fit_is_the_manual_loop():
    x, y = _blobs(n=48)
    a, b = _mlp(), _mlp()
    _fit(a, x, y, epochs=3, shuffle=False)
    loss_fn, opt = gn.CrossEntropyLoss(), gn.SGD(b.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        for s in range(0, 48, 16):
            out = b(x[s : s + 16])
            loss_fn(out, y[s : s + 16])
            b.zero_grad()
            b.backward(loss_fn.backward())
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_float32_model_stays_float32_end_to_end():
    x, y = _blobs()
    model = _mlp()
    _fit(model, x.astype(np.float64), y, epochs=1)
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    assert model.predict(x.astype(np.float64)).dtype == np.float32


def test_float64_model_runs_in_float64():
    x, y = _blobs()
    model = _mlp(dtype=np.float64)
    _fit(model, x, y, epochs=1)
    assert model.predict(x).dtype == np.float64


def test_full_batch_default_and_zero_epochs():
    x, y = _blobs(n=20)
    model = _mlp()
    before = model.state_dict()
    history = _fit(model, x, y, epochs=0, batch_size=None)
    assert history.history == {}
    np.testing.assert_array_equal(model.state_dict()["layers.0.weight"], before["layers.0.weight"])


def test_predict_in_batches_equals_one_pass():
    x, _ = _blobs(n=50)
    model = _mlp()
    # BLAS may take another kernel for a 1-row remainder batch: equal up to rounding
    np.testing.assert_allclose(model.predict(x, batch_size=7), model.predict(x), rtol=1e-6)
    assert model.training  # predict restores the mode


def test_early_stopping_restores_best_weights():
    x, y = _blobs()
    model = _mlp()
    stop = gn.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    # validation labels that disagree with training: val_loss rises as training improves
    wrong = (y + 1) % 3
    history = _fit(model, x, y, epochs=50, validation_data=(x, wrong), callbacks=[stop])
    assert stop.stopped_epoch is not None and len(history["loss"]) < 50
    best = min(history["val_loss"])
    assert history["val_loss"][stop.best_epoch] == best
    assert model.evaluate(x, wrong, loss=gn.CrossEntropyLoss())["loss"] == pytest.approx(best, rel=1e-5)


def test_terminate_on_nan():
    x, y = _blobs()
    model = _mlp()
    term = gn.TerminateOnNaN()
    targets = np.eye(3, dtype=np.float32)[y]
    with np.errstate(all="ignore"):  # the point of the test: the loss overflows
        history = model.fit(
            x * 1e30,
            targets,
            loss=gn.MSELoss(),
            optimizer=gn.SGD(model.parameters(), lr=1e10),
            epochs=10,
            batch_size=16,
            callbacks=[term],
            verbose=0,
        )
    assert term.terminated_at is not None
    assert len(history["loss"]) == 1
    assert all(np.isfinite(p.data).all() for p in model.parameters())  # the bad batch took no step


def test_scheduler_as_callback():
    x, y = _blobs()
    model = _mlp()
    opt = gn.SGD(model.parameters(), lr=0.1)
    _fit(model, x, y, epochs=3, optimizer=opt, callbacks=[gn.StepLR(opt, step_size=1, gamma=0.5)])
    assert opt.lr == pytest.approx(0.0125)


def test_progress_lines(capsys):
    x, y = _blobs(n=32)
    model = _mlp()
    _fit(model, x, y, epochs=2, verbose=1, metrics=["accuracy"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2 - loss: ") and "accuracy: " in lines[0] and lines[0].endswith("s")
    _fit(model, x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_binary_accuracy_and_mse_metrics():
    pred = np.array([[0.9], [0.2], [0.6]])
    assert gn.Accuracy()(pred, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert gn.Accuracy(threshold=0.0)(np.array([[2.0], [-1.0]]), np.array([1, 0])) == 1.0
    assert gn.MeanSquaredError()(pred, np.array([[1.0], [0.0], [1.0]])) == pytest.approx((0.01 + 0.04 + 0.16) / 3)


class TestBadInput:
    x, y = _blobs(n=10)

    def _fit(self, **kwargs):
        model = _mlp()
        args = {"x": self.x, "y": self.y}
        args.update(kwargs)
        x, y = args.pop("x"), args.pop("y")
        return _fit(model, x, y, **args)

    def test_nan_and_inf_in_x(self):
        for bad in (np.nan, np.inf):
            x = self.x.copy()
            x[3, 1] = bad
            with pytest.raises(ValueError, match="x contains 1 NaN or infinite"):
                self._fit(x=x)

    def test_non_numeric_x(self):
        with pytest.raises(TypeError, match="x must be a real numeric array"):
            self._fit(x=[["a", "b"]] * 10)
        with pytest.raises(TypeError, match="x"):
            _mlp().predict([[object(), object()]])

    def test_wrong_width_and_ndim(self):
        with pytest.raises(ValueError, match=r"x has shape \(10, 3\).*\(N, 2\)"):
            self._fit(x=np.zeros((10, 3)))
        with pytest.raises(ValueError, match=r"x has shape \(10,\)"):
            _mlp().predict(np.zeros(10))
        with pytest.raises(ValueError, match=r"x has shape \(10, 2, 1\)"):
            _mlp().predict(np.zeros((10, 2, 1)))

    def test_lengths_differ(self):
        with pytest.raises(ValueError, match="same number of samples. Received: 10 and 9"):
            self._fit(y=self.y[:9])

    def test_empty_x(self):
        with pytest.raises(ValueError, match="at least one sample"):
            self._fit(x=np.zeros((0, 2)), y=np.zeros(0, dtype=int))

    def test_batch_size_and_epochs(self):
        with pytest.raises(ValueError, match="batch_size=0"):
            self._fit(batch_size=0)
        with pytest.raises(ValueError, match="epochs=-1"):
            self._fit(epochs=-1)
        with pytest.raises(TypeError, match="batch_size"):
            self._fit(batch_size=2.5)

    def test_labels(self):
        with pytest.raises(ValueError, match="3 classes"):
            self._fit(y=np.full(10, 3))
        with pytest.raises(ValueError, match=r"\[-1"):
            self._fit(y=np.full(10, -1))
        with pytest.raises(TypeError, match="integer"):
            self._fit(y=np.full(10, 0.5))

    def test_loss_and_optimizer_types(self):
        with pytest.raises(TypeError, match="loss"):
            self._fit(loss="mse")
        with pytest.raises(TypeError, match="optimizer"):
            self._fit(optimizer="sgd")

    def test_backward_before_forward(self):
        with pytest.raises(RuntimeError, match="call forward in training mode"):
            _mlp().backward(np.ones((2, 3), dtype=np.float32))

    def test_eval_mode_caches_nothing(self):
        model = _mlp()
        model.eval()
        model(self.x)
        with pytest.raises(RuntimeError, match="forward"):
            model.backward(np.ones((10, 3), dtype=np.float32))


def test_state_dict_round_trip_and_errors():
    a, b = _mlp(0), _mlp(1)
    b.load_state_dict(a.state_dict())
    x, _ = _blobs(n=5)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({})
    bad = a.state_dict()
    bad["layers.0.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"layers.0.weight.*\(3, 3\).*\(2, 16\)"):
        b.load_state_dict(bad)


def test_parameters_are_found_by_walking_attributes():
    model = _mlp()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert len(model.parameters()) == 4
    with pytest.raises(TypeError, match="Module"):
        gn.Sequential(gn.ReLU(), "relu")


def test_fit_skips_the_unused_input_gradient_and_restores_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 1, 6, 6)).astype(np.float32)
    dy = rng.normal(size=(4, 3)).astype(np.float32)

    def grads(flag):
        model = gn.Sequential(gn.Conv2d(1, 2, 3, rng=0), gn.ReLU(), gn.Flatten(), gn.Linear(32, 3, rng=1))
        model.set_input_grad(flag)
        model(x)
        dx = model.backward(dy)
        return dx, [p.grad.copy() for p in model.parameters()]

    dx_on, on = grads(True)
    dx_off, off = grads(False)
    assert dx_on.shape == x.shape and dx_off is None
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)
    model = _mlp()
    x16, y16 = _blobs(n=16)
    _fit(model, x16, y16, epochs=1)
    assert model.input_grad and model.layers[0].input_grad
    model(x16)
    assert model.backward(np.ones((16, 3), dtype=np.float32)).shape == (16, 2)


def test_live_bar_with_tqdm_on_a_terminal(monkeypatch, capsys):
    import io
    import sys
    import types

    bars = []

    class FakeBar:
        def __init__(self, total, desc, unit, leave):
            self.total, self.desc, self.updates, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, n):
            self.updates += n

        def set_postfix(self, **kwargs):
            self.postfix = kwargs

        def close(self):
            self.closed = True

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    module = types.ModuleType("tqdm.auto")
    module.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    monkeypatch.setattr(sys, "stderr", Terminal())
    x, y = _blobs(n=40)
    _fit(_mlp(), x, y, epochs=2, batch_size=16, verbose=1)
    assert [(b.total, b.desc, b.updates, b.closed) for b in bars] == [
        (3, "epoch 1/2", 3, True),
        (3, "epoch 2/2", 3, True),
    ]
    assert "loss" in bars[0].postfix
    assert capsys.readouterr().out.count("epoch ") == 2  # the epoch lines stay


def test_a_stop_mid_epoch_averages_over_the_batches_that_ran():
    class StopAfterFirst(gn.Callback):
        def on_batch_end(self, batch, loss):
            self.loss = loss
            self.model.stop_training = True

    x, y = np.ones((100, 1), np.float32), np.zeros((100, 1), np.float32)
    model, stop = gn.Sequential(gn.Linear(1, 1, rng=0)), StopAfterFirst()
    history = model.fit(
        x,
        y,
        loss=gn.MSELoss(),
        optimizer=gn.SGD(model.parameters(), lr=1e-9),
        epochs=3,
        batch_size=10,
        verbose=0,
        callbacks=[stop],
    )
    assert history["loss"] == [pytest.approx(stop.loss)]


def test_predict_never_returns_the_callers_array():
    x = np.zeros((3, 2), np.float32)
    out = gn.Sequential(gn.Flatten()).predict(x)
    out[0, 0] = 5
    assert x[0, 0] == 0


def test_early_stopping_patience_counts_epochs_without_improvement():
    stop = gn.EarlyStopping(monitor="loss", patience=2)
    stop.model = _mlp()
    stop.on_train_begin()
    for epoch, value in enumerate([1.0, 0.5, 0.6, 0.7, 0.4]):
        stop.on_epoch_end(epoch, {"loss": value})
        if stop.model.stop_training:
            break
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1


def test_pack_gradients_makes_one_array_per_dtype_and_keeps_the_values():
    from glassnet.module import pack_gradients

    params = gn.Sequential(gn.Linear(3, 4, rng=0), gn.ReLU(), gn.Linear(4, 2, rng=1)).parameters()
    wide = gn.Linear(2, 2, rng=2, dtype=np.float64).parameters()
    for i, p in enumerate(params + wide):
        p.grad[...] = i + 1.0
    flats = pack_gradients(params + params[:1] + wide)  # a parameter listed twice gets one place
    assert [f.dtype for f in flats] == [np.float32, np.float64]
    assert flats[0].size == sum(p.data.size for p in params)
    for i, p in enumerate(params + wide):
        assert np.shares_memory(p.grad, flats[0 if i < len(params) else 1])
        assert p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype
        assert np.all(p.grad == i + 1.0)


@pytest.mark.usefixtures("one_thread")  # the one-thread loop, bit for bit (tests/test_replicas.py: any count)
def test_fit_with_packed_gradients_computes_the_same_step_as_by_hand():
    def model():
        return gn.Sequential(gn.Linear(3, 4, rng=0), gn.ReLU(), gn.Linear(4, 2, rng=1))

    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.arange(8) % 2
    fitted, by_hand = model(), model()
    fitted.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(fitted.parameters(), lr=0.1), epochs=1,
               batch_size=None, verbose=0)  # fmt: skip
    loss = gn.CrossEntropyLoss()
    loss(by_hand(x), y)
    by_hand.backward(loss.backward())
    gn.SGD(by_hand.parameters(), lr=0.1).step()
    flat = fitted.parameters()[0].grad.base
    for mine, ref in zip(fitted.parameters(), by_hand.parameters()):
        assert mine.grad.base is flat  # every gradient is a view into one array
        np.testing.assert_array_equal(mine.grad, ref.grad)
        np.testing.assert_array_equal(mine.data, ref.data)


class _Counting(gn.Module):
    """A layer of one's own: the identity, counting the samples of each forward call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        self.calls.append(len(x))
        return x

    def backward(self, dy):
        return dy

    def output_shape(self, input_shape):
        return input_shape


def _cnn():
    return gn.Sequential(
        gn.Conv2d(1, 4, 3, padding=1, rng=0, dtype=np.float64), gn.ReLU(), gn.MaxPool2d(2),
        gn.BatchNorm2d(4, dtype=np.float64), gn.Flatten(), gn.Dropout(0.5, rng=1),
        gn.Linear(4 * 4 * 4, 3, rng=2, dtype=np.float64),
    )  # fmt: skip


@pytest.mark.usefixtures("one_thread")  # a layer counting its calls: one copy of it
def test_predict_slices_a_batch_of_glassnet_layers_to_fit_in_cache(monkeypatch):
    from glassnet import training

    model, x = _cnn(), np.random.default_rng(0).normal(size=(50, 1, 8, 8))
    whole = model.predict(x)  # 4 x 8 x 8 float64 values a sample: 2 MiB hold all 50
    counting = _Counting()
    counting.per_sample = True  # says its samples are independent: sliced with the rest
    sliced_model = gn.Sequential(counting, *model.layers)
    # the largest activation, 4 x 8 x 8 float64 = 2,048 bytes a sample: slices of 6 samples
    monkeypatch.setattr(training, "PREDICT_SLICE_BYTES", 6 * 2048 + 100)
    np.testing.assert_allclose(sliced_model.predict(x), whole, rtol=1e-12)
    assert counting.calls == [6] * 8 + [2]
    got = sliced_model.evaluate(x, np.arange(50) % 3, loss=gn.CrossEntropyLoss(), metrics=["accuracy"])
    expected = model.evaluate(x, np.arange(50) % 3, loss=gn.CrossEntropyLoss(), metrics=["accuracy"], batch_size=50)
    assert got["accuracy"] == expected["accuracy"] and got["loss"] == pytest.approx(expected["loss"], rel=1e-12)
    counting.calls.clear()
    sliced_model.predict(x, batch_size=4)  # never more than batch_size
    assert max(counting.calls) == 4


def test_predict_runs_a_layer_of_your_own_and_stateful_layers_in_whole_batches(monkeypatch):
    from glassnet import training

    monkeypatch.setattr(training, "PREDICT_SLICE_BYTES", 1)  # would slice to single samples
    counting = _Counting()  # per_sample is False for a Module of one's own
    model = gn.Sequential(counting, *_cnn().layers)
    assert not model.samples_independent()
    model.predict(np.zeros((20, 1, 8, 8)))
    assert counting.calls == [20]
    lstm = gn.Sequential(gn.LSTM(3, 4, rng=0), gn.Linear(4, 2, rng=1))
    assert not lstm.samples_independent()  # its final state is the whole batch's
    gpt = gn.models.gpt(vocab_size=10, context=8, n_layer=1, n_head=2, n_embd=8, rng=0)
    assert gpt.samples_independent()
    gpt.eval()
    for m in gpt.modules():
        if isinstance(m, gn.MultiHeadAttention):
            m.use_cache(True)
    assert not gpt.samples_independent()  # the generation cache holds the whole batch
