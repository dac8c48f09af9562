"""ModelCheckpoint's options, and checkpoint files that are broken, hostile, from another run or can't be written."""

import errno
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import glassnet as gn
from glassnet import checkpoint
from glassnet.checkpoint import read_checkpoint


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def _model(hidden=8):
    rng = np.random.default_rng(1)
    return gn.Sequential(gn.Linear(4, hidden, rng=rng), gn.ReLU(), gn.Dropout(0.25), gn.Linear(hidden, 2, rng=rng))


def _fit(model=None, epochs=3, callbacks=(), optimizer=None, schedule=True, batch_size=8, **kwargs):
    model = model or _model()
    optimizer = optimizer or gn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    callbacks = [*([gn.ExponentialLR(optimizer, gamma=0.9)] if schedule else []), *callbacks]
    x, y = _data()
    history = model.fit(
        x,
        y,
        loss=gn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        callbacks=callbacks,
        seed=5,
        verbose=0,
        **kwargs,
    )
    return model, history


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "checkpoint.gnet"
    _fit(epochs=2, callbacks=[gn.ModelCheckpoint(path, metadata={"note": "two epochs"})])
    return path


def _entries(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _write(path, entries):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data if isinstance(data, bytes) else json.dumps(data))
    return path


def _with_header(saved, tmp_path, change):
    entries = _entries(saved)
    header = json.loads(entries["checkpoint.json"])
    change(header)
    entries["checkpoint.json"] = json.dumps(header).encode()
    return _write(tmp_path / "changed.gnet", entries)


def _resume(path, **kwargs):
    return _fit(epochs=4, resume_from=path, **kwargs)


# -- what is saved ----------------------------------------------------------
def test_the_file_holds_the_whole_run(saved):
    ck = read_checkpoint(saved)
    assert (ck.epoch, ck.step) == (2, 6)
    assert ck.metadata == {"note": "two epochs"}
    assert ck.history.epoch == [0, 1] and len(ck.history["loss"]) == 2
    names = set(_entries(saved))
    assert "checkpoint.json" in names
    assert {"arrays/model/layers.0.weight", "arrays/optimizer/velocity/0", "arrays/optimizer/velocity/3"} <= names
    header = ck.header
    assert header["format"] == "glassnet-checkpoint" and header["version"] == 1
    assert header["optimizer"]["class"] == "SGD" and header["optimizer"]["steps"] == 6
    assert header["schedules"] == [{"class": "ExponentialLR", "state": {"base_lr": 0.1, "last_epoch": 2}}]
    assert set(header["rng"]["layers"]) == {"layers.2"}
    assert header["rng"]["fit"]["bit_generator"] == "PCG64"
    assert header["run"] == {"samples": 24, "batch_size": 8}
    assert "Checkpoint(" in repr(ck) and "epoch=2" in repr(ck)


def test_every_and_file_name_templates(tmp_path):
    template = str(tmp_path / "ck-{epoch:02d}-{loss:.2f}.gnet")
    cb = gn.ModelCheckpoint(template, every=2)
    _fit(epochs=5, callbacks=[cb])
    files = sorted(os.listdir(tmp_path))
    assert [f[:5] for f in files] == ["ck-02", "ck-04"]
    assert cb.last_saved == str(tmp_path / files[-1])
    assert read_checkpoint(cb.last_saved).epoch == 4


def test_save_best_only_writes_when_the_monitored_value_improves(tmp_path, monkeypatch):
    written = []
    monkeypatch.setattr(checkpoint, "save_checkpoint", lambda path, run, metadata=None: written.append(run.epoch))
    cb = gn.ModelCheckpoint(tmp_path / "best.gnet", monitor="val_loss", save_best_only=True)
    cb.run = type("Run", (), {"epoch": 0})()
    cb.on_train_begin()
    for epoch, value in enumerate([0.9, 0.7, 0.8, 0.6, 0.6]):
        cb.run.epoch = epoch + 1
        cb.on_epoch_end(epoch, {"loss": value})  # no validation data: falls back to "loss"
    assert written == [1, 2, 4]
    assert cb.best == 0.6
    other = gn.ModelCheckpoint(tmp_path / "b.gnet", monitor="val_accuracy", save_best_only=True)
    other.run = cb.run
    with pytest.raises(ValueError, match="monitors 'val_accuracy'"):
        other.on_epoch_end(4, {"loss": 1.0})


def test_the_best_value_is_saved_and_restored(tmp_path):
    path = tmp_path / "best.gnet"
    cb = gn.ModelCheckpoint(path, monitor="loss", save_best_only=True)
    _fit(epochs=2, callbacks=[cb])
    best = cb.best
    assert read_checkpoint(path).header["checkpoints"] == [{"best": best}]
    again = gn.ModelCheckpoint(tmp_path / "other.gnet", monitor="loss", save_best_only=True)
    _resume(path, callbacks=[again])
    assert again.best <= best


def test_a_stopped_epoch_is_not_saved(tmp_path):
    class StopMidEpoch(gn.Callback):
        def on_batch_end(self, batch, loss):
            if self.run.epoch == 1 and batch == 1:
                self.model.stop_training = True

    cb = gn.ModelCheckpoint(tmp_path / "ck-{epoch}.gnet")
    _fit(epochs=3, callbacks=[StopMidEpoch(), cb])
    assert os.listdir(tmp_path) == ["ck-1.gnet"]  # epoch 2 stopped part-way: not resumable


def test_checkpoints_run_after_schedules_whatever_the_order(tmp_path):
    path = tmp_path / "ck.gnet"
    model = _model()
    optimizer = gn.SGD(model.parameters(), lr=0.1)
    _fit(
        model,
        epochs=2,
        optimizer=optimizer,
        schedule=False,
        callbacks=[gn.ModelCheckpoint(path), gn.StepLR(optimizer, 1, 0.5)],
    )
    header = read_checkpoint(path).header
    assert header["optimizer"]["lr"] == 0.025 == optimizer.lr
    assert header["schedules"][0]["state"]["last_epoch"] == 2


def test_resume_at_the_end_trains_nothing(saved):
    model = _model()
    _fit(model, epochs=2, resume_from=saved)
    assert np.array_equal(model[0].weight.data, read_checkpoint(saved).arrays["model/layers.0.weight"])


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="every"):
        gn.ModelCheckpoint(tmp_path / "a", every=0)
    with pytest.raises(ValueError, match="mode"):
        gn.ModelCheckpoint(tmp_path / "a", mode="up")
    with pytest.raises(ValueError, match="path"):
        gn.ModelCheckpoint("")
    with pytest.raises(TypeError, match="metadata"):
        gn.ModelCheckpoint(tmp_path / "a", metadata=[1])
    with pytest.raises(RuntimeError, match="fit"):
        gn.ModelCheckpoint(tmp_path / "a").on_epoch_end(0, {"loss": 1.0})


# -- checkpoints from another run ---------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": _model(hidden=9)}, "another model"),
        ({"optimizer": "adam"}, "holds 'SGD' state, but fit got Adam"),
        ({"schedule": False}, "schedules"),
        ({"batch_size": 6}, "batches of 8"),
        ({"epochs": 1}, "past epochs=1"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_and_changes_nothing(saved, kwargs, match):
    model = kwargs.pop("model", None) or _model()
    if kwargs.get("optimizer") == "adam":
        kwargs["optimizer"] = gn.Adam(model.parameters())
    before = model.state_dict()
    with pytest.raises(ValueError, match=match):
        _fit(model, **{"epochs": 4, **kwargs}, resume_from=saved)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_a_failed_restore_puts_everything_back(saved, tmp_path):
    def break_schedule(header):
        header["schedules"][0]["state"]["last_epoch"] = -3  # the last thing checked

    path = _with_header(saved, tmp_path, break_schedule)
    model = _model()
    optimizer = gn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = model.state_dict()
    with pytest.raises(ValueError, match="ExponentialLR"):
        _fit(model, epochs=4, optimizer=optimizer, resume_from=path)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert optimizer.steps == 0 and optimizer.velocity == [None] * 4


# -- truncated, hostile and other files ---------------------------------------
def test_truncated_checkpoints_are_value_errors(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (0, 3, 4, 30, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1):
        path = tmp_path / f"cut{cut}.gnet"
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=str(path)):
            _resume(path)


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.gnet"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="pickle"):
        _resume(path)
    inside = _write(tmp_path / "evil.zip", {"checkpoint.json": b"{}", "data.pkl": pickle.dumps(Payload())})
    with pytest.raises(ValueError):
        _resume(inside)
    assert not marker.exists()


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.gnet"
    _model().save(path)
    with pytest.raises(ValueError, match="glassnet.load"):
        _resume(path)
    with pytest.raises(ValueError, match="is a folder"):
        _resume(tmp_path)
    with pytest.raises(FileNotFoundError):
        _resume(tmp_path / "missing.gnet")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda h: h.update(format="glassnet-model"), "not a glassnet checkpoint"),
        (lambda h: h.update(version=2), "newer glassnet"),
        (lambda h: h.pop("rng"), "must have the keys"),
        (lambda h: h.update(epoch=-1), "'epoch' must be an integer"),
        (lambda h: h.update(history=[]), "'history' must be a JSON object"),
        (
            lambda h: h["architecture"]["config"]["layers"].insert(0, {"class": "os.system", "config": {}}),
            "another model",
        ),
        (lambda h: h["rng"]["layers"].update({"layers.2": {"bit_generator": "MT19937"}}), "not a PCG64 state"),
        (lambda h: h["rng"]["fit"]["state"].update(state="rm -rf /"), "invalid RNG state"),
        (lambda h: h["rng"]["layers"].clear(), "stochastic layers"),
        (lambda h: h["optimizer"]["slots"].update(velocity=9), "slots"),
        (lambda h: h["optimizer"]["param_groups"][0].update(lr=-1.0), "lr must be >= 0"),
        (lambda h: h["optimizer"]["param_groups"][0].update(exec="import os"), "unknown setting 'exec'"),
        (lambda h: h["optimizer"].update(param_groups=[5]), "cannot restore the optimizer"),
        (lambda h: h["arrays"]["model/layers.0.weight"].update(dtype="object"), "only"),
        (
            lambda h: h["arrays"]["model/layers.0.weight"].update(shape=[8, 4]),
            r"is float32 \(8, 4\), but the model holds float32 \(4, 8\)",
        ),
        (lambda h: h["arrays"]["model/layers.0.weight"].update(shape=[4, 9]), "holds 128 bytes, expected 144"),
        (lambda h: h["arrays"].pop("optimizer/velocity/1"), "stored but not described"),
        (lambda h: h["checkpoints"][0].update(best="x"), "invalid ModelCheckpoint state"),
    ],
)
def test_hostile_or_broken_headers_are_refused(saved, tmp_path, change, match):
    path = _with_header(saved, tmp_path, change)
    with pytest.raises(ValueError, match=match):
        _resume(path, callbacks=[gn.ModelCheckpoint(tmp_path / "again.gnet")])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"[]", "JSON object"),
        (b'{"epoch": NaN}', "not valid JSON"),
        (b"\xff", "not valid JSON"),
        (b'{"a": 1, "a": 2}', "duplicate"),
    ],
)
def test_bad_json(saved, tmp_path, text, match):
    entries = _entries(saved)
    entries["checkpoint.json"] = text
    with pytest.raises(ValueError, match=match):
        _resume(_write(tmp_path / "bad.gnet", entries))


def test_zip_hazards(saved, tmp_path):
    entries = _entries(saved)
    with pytest.raises(ValueError, match="stored but not described"):
        _resume(_write(tmp_path / "extra.gnet", {**entries, "arrays/../../etc/passwd": b"x"}))
    with pytest.raises(ValueError, match="unexpected entries"):
        _resume(_write(tmp_path / "other.gnet", {**entries, "run.sh": b"rm -rf /"}))
    compressed = tmp_path / "compressed.gnet"
    with zipfile.ZipFile(compressed, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="compressed"):
        _resume(compressed)


# -- files that can't be written ------------------------------------------------
def test_a_missing_folder_is_refused_before_training(tmp_path):
    model = _model()
    before = model.state_dict()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _fit(model, callbacks=[gn.ModelCheckpoint(tmp_path / "missing" / "ck.gnet")])
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_a_file_in_place_of_the_folder(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        _fit(callbacks=[gn.ModelCheckpoint(tmp_path / "file" / "ck.gnet")])
    run = _run_of_a_short_fit()
    with pytest.raises(NotADirectoryError, match="cannot write the checkpoint .* is not a folder"):
        checkpoint.save_checkpoint(tmp_path / "file" / "ck.gnet", run)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.save_checkpoint(tmp_path / "missing" / "ck.gnet", run)


def _run_of_a_short_fit():
    runs = []

    class Grab(gn.Callback):
        def on_train_end(self):
            runs.append(self.run)

    _fit(epochs=1, callbacks=[Grab()])
    return runs[0]


def test_a_read_only_folder(saved):
    folder = saved.parent
    os.chmod(folder, 0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: the folder's permissions do not stop writes")
        with pytest.raises(PermissionError, match="no permission to write in"):
            checkpoint.save_checkpoint(saved, _run_of_a_short_fit())
    finally:
        os.chmod(folder, 0o755)


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_full_disk_keeps_the_previous_checkpoint(saved, monkeypatch, where):
    before = saved.read_bytes()
    run = _run_of_a_short_fit()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "write":
        calls = []
        real = zipfile.ZipFile.writestr

        def writestr(self, *args, **kwargs):  # the disk fills up after the first entry
            calls.append(1)
            if len(calls) > 1:
                full()
            return real(self, *args, **kwargs)

        monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    else:
        monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="the disk is full .the previous checkpoint is unchanged") as info:
        checkpoint.save_checkpoint(saved, run)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == [saved.name]  # no temporary file left behind
    assert read_checkpoint(saved).epoch == 2


def test_json_unsafe_metadata(tmp_path):
    with pytest.raises(ValueError, match="JSON-safe"):
        _fit(callbacks=[gn.ModelCheckpoint(tmp_path / "ck.gnet", metadata={"f": object()})])
    assert os.listdir(tmp_path) == []


def test_non_finite_values_round_trip(tmp_path):
    run = _run_of_a_short_fit()
    run.history.history["loss"] = [float("nan"), float("inf"), -float("inf"), 0.5]
    path = tmp_path / "ck.gnet"
    checkpoint.save_checkpoint(path, run)
    loss = read_checkpoint(path).history["loss"]
    assert np.isnan(loss[0]) and loss[1:] == [float("inf"), -float("inf"), 0.5]


def test_parameter_groups_per_batch_schedules_clipping_and_augmentation_resume_exactly(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 1, 5, 5)).astype(np.float32)
    y = rng.integers(0, 3, 20)

    def run(epochs, callbacks=(), resume_from=None):
        r = np.random.default_rng(4)
        model = gn.Sequential(
            gn.RandomShift(1), gn.RandomHorizontalFlip(), gn.Conv2d(1, 3, 3, rng=r), gn.ReLU(), gn.Flatten(),
            gn.Dropout(0.2), gn.Linear(27, 3, rng=r),
        )  # fmt: skip
        conv, head = model[2].parameters(), model[6].parameters()
        optimizer = gn.AdamW(
            [{"params": conv, "weight_decay": 0.0}, {"params": head, "weight_decay": 0.1, "lr": 0.02}], lr=0.01
        )
        schedule = gn.WarmupCosineLR(optimizer, warmup_steps=3, total_steps=20)
        model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs, batch_size=8, seed=9,
                  callbacks=[schedule, gn.GradientClipping(1.0), *callbacks], verbose=0, resume_from=resume_from)  # fmt: skip
        return model, optimizer

    path = tmp_path / "ck.gnet"
    run(2, callbacks=[gn.ModelCheckpoint(path)])
    resumed, resumed_opt = run(5, resume_from=path)
    straight, straight_opt = run(5)
    for (name, a), b in zip(resumed.state_dict().items(), straight.state_dict().values()):
        assert np.array_equal(a, b), name
    assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in straight_opt.param_groups]
    assert [g["weight_decay"] for g in resumed_opt.param_groups] == [0.0, 0.1]
