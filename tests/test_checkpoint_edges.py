"""Checkpoints at the edges of a run: a learning rate of 0, a finished run, early stopping across a resume."""

import json
import os
import stat
import zipfile

import numpy as np
import pytest

import glassnet as gn
from glassnet._files import atomic_write
from glassnet.checkpoint import check_settings, read_checkpoint


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


# -- a checkpoint's numbers are checked before anything changes -------------------
def _entries(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _write(path, entries):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _full_fit(epochs, callbacks=(), model=None, **kwargs):
    """Adam (moments), Dropout (a layer RNG), EarlyStopping and a best-only checkpoint: every kind of state."""
    model = model or _model()
    optimizer = gn.Adam(model.parameters(), lr=0.01)
    x, y = _data(48)
    model.fit(
        x[:24],
        y[:24],
        loss=gn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=8,
        validation_data=(x[24:], y[24:]),
        seed=3,
        verbose=0,
        callbacks=[gn.EarlyStopping(patience=5, restore_best_weights=True), *callbacks],
        **kwargs,
    )
    return model


@pytest.fixture
def full(tmp_path):
    path = tmp_path / "full.gnet"
    _full_fit(2, [gn.ModelCheckpoint(path, save_best_only=True)])
    return path


def _edit(saved, tmp_path, header=None, arrays=None):
    """A copy of ``saved`` with its header changed by ``header(h)`` and arrays by ``arrays(name, values)``."""
    entries = _entries(saved)
    h = json.loads(entries["checkpoint.json"])
    added = header(h) if header is not None else None  # a dict of entries to add, for extra arrays
    entries.update(added or {})
    for name in list(entries):
        if arrays is not None and name.startswith("arrays/"):
            spec = h["arrays"].get(name[len("arrays/") :])
            if spec is None:
                continue
            values = np.frombuffer(entries[name], dtype=spec["dtype"]).reshape(spec["shape"]).copy()
            arrays(name[len("arrays/") :], values)
            entries[name] = values.tobytes()
    entries["checkpoint.json"] = json.dumps(h).encode()
    return _write(tmp_path / "edited.gnet", entries)


def _set(name, value):
    def change(array_name, values):
        if array_name == name:
            values.flat[0] = value

    return change


def _extra_array(name):
    def change(h):
        h["arrays"][name] = {"dtype": "float32", "shape": [1]}
        return {"arrays/" + name: np.zeros(1, np.float32).tobytes()}

    return change


BAD_ARRAYS = {
    "a NaN weight": (_set("model/layers.0.weight", np.nan), "'model/layers.0.weight' holds NaN"),
    "an infinite bias": (_set("model/layers.3.bias", -np.inf), "'model/layers.3.bias' holds NaN or infinite"),
    "a NaN first moment": (_set("optimizer/m/0", np.nan), "'optimizer/m/0' holds NaN"),
    "an infinite second moment": (_set("optimizer/v/1", np.inf), "'optimizer/v/1' holds NaN or infinite"),
    "a negative second moment": (_set("optimizer/v/2", -1.0), r"state\['v'\]\[2\] holds negative values"),
    "a NaN best weight": (_set("early_stopping/0/layers.0.weight", np.nan), "'early_stopping/0/layers.0.weight'"),
}

BAD_HEADERS = {
    **{
        f"steps {value!r}": (lambda h, v=value: h["optimizer"].update(steps=v), "'steps' must be an integer >= 0")
        for value in ("21", 2.5, True, 1e300, -1, 2**70)
    },
    "step and steps differ": (lambda h: h.update(step=h["step"] + 1), "differs from 'step'"),
    "an extra optimizer slot": (_extra_array("optimizer/m/9"), "unknown array 'optimizer/m/9'"),
    "an extra best weight": (_extra_array("early_stopping/1/layers.0.weight"), "unknown array 'early_stopping/1/"),
    "an array of no kind": (_extra_array("extra"), "unknown array 'extra'"),
    "an extra model array": (_extra_array("model/layers.9.weight"), "do not match the model's"),
    "PCG64 inc 0": (lambda h: h["rng"]["fit"]["state"].update(inc=0), "odd 128-bit 'inc'"),
    "PCG64 inc even": (
        lambda h: h["rng"]["layers"]["layers.2"]["state"].update(inc=2**64),
        "invalid RNG state for layers.2",
    ),
    "PCG64 state past 128 bits": (lambda h: h["rng"]["fit"]["state"].update(state=2**128), "128-bit 'state'"),
    "PCG64 has_uint32 2": (lambda h: h["rng"]["fit"].update(has_uint32=2), "'has_uint32' 0 or 1"),
    "PCG64 uinteger as a string": (lambda h: h["rng"]["fit"].update(uinteger="1"), "32-bit 'uinteger'"),
    "best NaN": (lambda h: h["checkpoints"][0].update(best={"float": "nan"}), "'best' is NaN"),
    "best a string": (lambda h: h["checkpoints"][0].update(best="0.5"), "invalid ModelCheckpoint state"),
    "EarlyStopping best NaN": (lambda h: h["early_stopping"][0].update(best={"float": "nan"}), "best must not be NaN"),
    "EarlyStopping wait -1": (lambda h: h["early_stopping"][0].update(wait=-1), "wait must be a non-negative"),
    "EarlyStopping unknown key": (lambda h: h["early_stopping"][0].update(extra=1), "EarlyStopping state must have"),
    "history of dicts": (
        lambda h: h["history"]["history"].update(loss=[{"a": 0}] * 2),
        "'loss' must be a list of numbers",
    ),
    "history of strings": (lambda h: h["history"]["history"].update(loss=["0.5", "0.4"]), "list of numbers"),
    "history epochs as floats": (lambda h: h["history"].update(epoch=[0.0, 1.0]), "'epoch' must list integers"),
    "batch_size 0": (lambda h: h["run"].update(batch_size=0), "'batch_size' must be integers >= 1"),
    "samples as a string": (lambda h: h["run"].update(samples="24"), "'samples' and 'batch_size'"),
    "batch_size past samples": (lambda h: h["run"].update(batch_size=25), "is more than 'samples'"),
    "lr negative": (lambda h: h["optimizer"].update(lr=-0.1), "'lr' must be a number >= 0"),
    "lr as a string": (lambda h: h["optimizer"].update(lr="0.1"), "'lr' must be a number >= 0"),
}


def _weights(model):
    return [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("name", [*BAD_ARRAYS, *BAD_HEADERS])
def test_a_checkpoint_with_bad_numbers_is_refused_before_anything_changes(full, tmp_path, name):
    if name in BAD_ARRAYS:
        change, match = BAD_ARRAYS[name]
        path = _edit(full, tmp_path, arrays=change)
    else:
        change, match = BAD_HEADERS[name]
        path = _edit(full, tmp_path, header=change)
    model = _model()
    before = _weights(model)
    with pytest.raises(ValueError, match=match) as err:
        _full_fit(4, [gn.ModelCheckpoint(tmp_path / "again.gnet", save_best_only=True)], model=model, resume_from=path)
    assert "edited.gnet" in str(err.value)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(model), before))


def test_the_unedited_checkpoint_resumes(full, tmp_path):
    path = _edit(full, tmp_path)  # the same round trip as the bad files, without a change
    resumed = _full_fit(4, [gn.ModelCheckpoint(tmp_path / "again.gnet", save_best_only=True)], resume_from=path)
    straight = _full_fit(4)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(resumed), _weights(straight)))


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"steps": -1}, "steps=-1"),
        ({"steps": "21"}, "steps='21'"),
        ({"steps": 2.5}, "steps=2.5"),
        ({"v": "nan"}, r"state\['v'\]\[0\] holds NaN"),
        ({"v": "negative"}, "negative values"),
    ],
)
def test_optimizer_load_state_dict_checks_everything_before_setting_anything(state, match):
    params = gn.Linear(3, 2, rng=0).parameters()
    opt = gn.Adam(params, lr=0.1)
    saved = opt.state_dict()
    if "v" in state:
        saved["v"][0][0, 0] = np.nan if state["v"] == "nan" else -1.0
    else:
        saved.update(state)
    saved["param_groups"][0]["lr"] = 0.5
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(saved)
    assert opt.lr == 0.1 and opt.steps == 0 and not opt.v[0].any()


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1. Received: batch_size=0"),
        ({"epochs": "20"}, "epochs must be an integer >= 1. Received: epochs='20'"),
        ({"lr": "1e-3"}, "lr must be a number > 0"),
        ({"lr": float("nan")}, "lr must be a number > 0"),
        ({"optimizer": "lbfgs"}, r"optimizer must be one of \['sgd', 'adam'\]. Received: optimizer='lbfgs'"),
        ([1, 2], "must be a JSON object"),
        ({}, r"lack \['epochs'\]"),
    ],
)
def test_stored_settings_are_checked_as_flags_are(settings, match):
    with pytest.raises(ValueError, match=match) as err:
        check_settings(settings, "run/checkpoint.gnet", required=("epochs",) if settings == {} else ())
    assert str(err.value).startswith("run/checkpoint.gnet: ")


# -- ModelCheckpoint's file name template, and files keep their mode -------------
@pytest.mark.parametrize(
    ("template", "error", "match"),
    [
        (
            "ck-{val_loss:.3f}.gnet",
            ValueError,
            r"names \{val_loss\}, but the epoch logs will hold only.*validation_data",
        ),
        ("ck-{acc}.gnet", ValueError, r"names \{acc\}"),
        ("ck-{}.gnet", ValueError, "not a valid file name template"),
        ("ck-{loss:d}.gnet", ValueError, "not a valid file name template"),
    ],
)
def test_a_template_naming_a_missing_key_fails_before_training(tmp_path, template, error, match):
    model = _model()
    before = _weights(model)
    with pytest.raises(error, match=match) as err:
        _fit(2, lambda opt: gn.StepLR(opt, 1), [gn.ModelCheckpoint(tmp_path / template)], model=model)
    assert template in str(err.value)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(model), before))
    assert list(tmp_path.iterdir()) == []


def test_a_template_with_validation_keys_works_with_validation_data(tmp_path):
    x, y = _data(48)
    model = _model()
    model.fit(
        x[:24],
        y[:24],
        loss=gn.CrossEntropyLoss(),
        optimizer=gn.SGD(model.parameters(), lr=0.1),
        epochs=2,
        validation_data=(x[24:], y[24:]),
        metrics=["accuracy"],
        verbose=0,
        callbacks=[gn.ModelCheckpoint(tmp_path / "ck-{epoch}-{val_loss:.3f}-{val_accuracy:.2f}.gnet")],
    )
    assert len(list(tmp_path.glob("ck-2-*.gnet"))) == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("how", ["save", "checkpoint", "atomic_write"])
def test_writing_over_a_file_keeps_its_mode(tmp_path, how):
    path = tmp_path / "out.gnet"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    model = _model()
    if how == "save":
        model.save(path)
    elif how == "checkpoint":
        _fit(1, lambda opt: gn.StepLR(opt, 1), [gn.ModelCheckpoint(path)], model=model)
    else:
        atomic_write(path, b"new")  # what ONNX export and the report write through
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fresh = tmp_path / "fresh.bin"
    atomic_write(fresh, b"new")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


def test_a_resume_with_other_early_stopping_callbacks_is_refused(full, tmp_path):
    model = _model()
    x, y = _data(48)
    with pytest.raises(ValueError, match=r"had 1 EarlyStopping callback\(s\); give fit the same \(it got 0\)"):
        model.fit(
            x[:24], y[:24], loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=0.01), epochs=4,
            batch_size=8, validation_data=(x[24:], y[24:]), seed=3, verbose=0, resume_from=full,
            callbacks=[gn.ModelCheckpoint(tmp_path / "again.gnet", save_best_only=True)],
        )  # fmt: skip


def test_a_checkpoint_from_before_early_stopping_was_kept_resumes_from_its_own_weights(full, tmp_path):
    def older(h):  # a file written before the "early_stopping" entry existed
        del h["early_stopping"]
        for name in [n for n in h["arrays"] if n.startswith("early_stopping/")]:
            del h["arrays"][name]

    entries = _entries(_edit(full, tmp_path, header=older))
    path = _write(tmp_path / "older.gnet", {n: d for n, d in entries.items() if not n.startswith("arrays/early")})
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        _full_fit(4, [_CtrlC()], model=model, resume_from=path)
    saved = read_checkpoint(path).arrays
    for name, p in model.named_parameters():
        assert np.array_equal(p.data, saved["model/" + name])  # the resumed weights, not the fresh ones
