"""The command line's edges: resuming finished runs and hostile settings, options that do not apply, locks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli


def _train_xor(out: Path, *extra: str) -> None:
    assert cli.main(["train", "--data", "xor", "--epochs", "2", "--out", str(out), *extra]) == 0


def test_resuming_a_finished_run_says_so_and_writes_a_missing_model(tmp_path, capsys):
    out = tmp_path / "run"
    _train_xor(out)
    weights = gn.load(out / "model.gnet").state_dict()
    before = (out / "model.gnet").stat().st_mtime_ns
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out)]) == 0
    said = capsys.readouterr().out
    assert "is finished (epoch 2 of 2): nothing left to train" in said
    assert (out / "model.gnet").stat().st_mtime_ns == before  # left alone
    os.remove(out / "model.gnet")  # as after a kill while it was written
    assert cli.main(["train", "--resume", str(out)]) == 0
    said = capsys.readouterr().out
    assert "model file is missing: writing" in said
    rebuilt = gn.load(out / "model.gnet")
    assert all((rebuilt.state_dict()[k] == v).all() for k, v in weights.items())
    assert "test_accuracy" in rebuilt.metadata


def _checkpoint_with(path: Path, **settings: object) -> None:
    model = gn.Sequential(gn.Linear(2, 2, rng=0))
    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    stored = {"epochs": 3, "batch_size": 8, "optimizer": "adam", "lr": 0.01, **settings}
    metadata = {"data": "xor", "model": "mlp", "seed": 0, "settings": stored}
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=0.01), epochs=1,
              batch_size=8, verbose=0, callbacks=[gn.ModelCheckpoint(path, metadata=metadata)])  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"epochs": "3"}, "epochs='3'"),
        ({"lr": "0.01"}, "lr='0.01'"),
        ({"optimizer": "lbfgs"}, "optimizer='lbfgs'"),
        ({"batch_size": 2.5}, "batch_size=2.5"),
    ],
)
def test_resume_checks_the_settings_stored_in_the_checkpoint(tmp_path, capsys, settings, field):
    _checkpoint_with(tmp_path / "checkpoint.gnet", **settings)
    assert cli.main(["train", "--resume", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert field in err and "stored setting" in err
    assert len(err.strip().splitlines()) == 1 and "bug" not in err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--data", "shakespeare", "--data-path", "prose.txt"], "--data-path"),
        (["--data", "shakespeare", "--download"], "--download"),
        (["--data", "shakespeare", "--model", "lstm", "--diagnose"], "--diagnose"),
        (["--data", "shakespeare", "--optimizer", "sgd"], "--optimizer"),
        (["--data", "digits", "--data-path", "somewhere"], "--data-path"),
        (["--data", "digits", "--model", "cnn", "--steps", "10"], "--steps"),
        (["--data", "moons", "--context", "32"], "--context"),
        (["--data", "xor", "--eval-interval", "5"], "--eval-interval"),
        (["--data", "spirals", "--download"], "--download"),
    ],
)
def test_an_option_that_does_not_apply_is_an_error_naming_it(tmp_path, capsys, argv, flag):
    assert cli.main(["train", *argv, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{flag} does not apply to --data {argv[1]}" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before any work


def test_every_train_option_is_in_the_table_or_applies_everywhere():
    from glassnet.cli import applies
    from glassnet.cli.main import build_parser

    parser = build_parser()
    train = next(a for a in parser._subparsers._actions if a.dest == "command").choices["train"]  # type: ignore[union-attr]
    everywhere = {"help", "data", "model", "batch_size", "lr", "seed", "out", "resume", "distributed", "seeds", "debug"}
    dests = {a.dest for a in train._actions}
    assert dests - everywhere == set(applies.APPLIES)


def test_fit_records_the_input_shape_and_classes_so_the_cli_takes_a_model_saved_from_python(tmp_path, capsys):
    x, y = gn.datasets.digits()  # (N, 1, 8, 8) images, labels 0..9
    model = gn.Sequential(gn.Flatten(), gn.Linear(64, 10, rng=0))
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=0.01), epochs=1, verbose=0)
    assert model.metadata["input_shape"] == [1, 8, 8] and model.metadata["num_classes"] == 10
    assert model.metadata["class_names"] == [str(k) for k in range(10)]
    model.save(tmp_path / "model.gnet")  # no metadata given: fit's record is written
    assert gn.load(tmp_path / "model.gnet").metadata["input_shape"] == [1, 8, 8]
    assert cli.main(["summary", str(tmp_path / "model.gnet")]) == 0
    assert "Linear" in capsys.readouterr().out
    np.save(tmp_path / "x.npy", x[:3, 0])  # (3, 8, 8): the layout is restored from the recorded shape
    assert cli.main(["predict", str(tmp_path / "model.gnet"), str(tmp_path / "x.npy")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    assert cli.main(["evaluate", str(tmp_path / "model.gnet"), "--data", "digits"]) == 0
    assert "accuracy: " in capsys.readouterr().out


def test_fit_keeps_class_names_the_user_gave_and_a_regression_records_no_classes():
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    model = gn.Sequential(gn.Linear(3, 2, rng=0))
    model.metadata = {"class_names": ["cat", "dog"]}
    model.fit(x, (x[:, 0] > 0).astype(np.int64), loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1),
              epochs=1, verbose=0)  # fmt: skip
    assert model.metadata == {"class_names": ["cat", "dog"], "input_shape": [3], "num_classes": 2}
    regression = gn.Sequential(gn.Linear(3, 1, rng=0))
    regression.fit(
        x, x[:, :1], loss=gn.MSELoss(), optimizer=gn.SGD(regression.parameters(), lr=0.1), epochs=1, verbose=0
    )
    assert regression.metadata == {"input_shape": [3]}


def test_demo_says_when_the_run_did_not_converge(tmp_path, capsys):
    assert cli.main(["demo", "--seed", "67", "--tutorial-rng", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "did not converge: 0.4991 for target 1, 0.5022 for target 0" in out
    assert cli.main(["demo", "--out", str(tmp_path)]) == 0  # the default seed converges, and says nothing of it
    assert "did not converge" not in capsys.readouterr().out


def _a_process(alive: bool) -> subprocess.Popen[bytes]:
    """A live process (a sleeping Python), or one that has ended: its PID then names no process."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)" if alive else "pass"])
    if not alive:
        process.wait()
    return process


def test_a_folder_a_live_run_holds_is_refused_and_a_stale_lock_taken_over(tmp_path, capsys):
    from glassnet.cli.lock import LOCK_NAME

    out = tmp_path / "run"
    out.mkdir()
    other = _a_process(alive=True)
    try:
        (out / LOCK_NAME).write_text(f"{other.pid}\n")
        assert cli.main(["train", "--data", "xor", "--epochs", "1", "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"is in use by a running glassnet train (PID {other.pid})" in err
        assert not (out / "model.gnet").exists()
    finally:
        other.kill()
        other.wait()
    gone = _a_process(alive=False)
    (out / LOCK_NAME).write_text(f"{gone.pid}\n")  # left by a killed run
    _train_xor(out)
    assert (out / "model.gnet").exists()
    assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())  # held until this process exits


def test_two_runs_into_one_folder_at_once(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(gn.__file__).resolve().parents[1])}
    first = subprocess.Popen(
        [sys.executable, "-m", "glassnet", "train", "--data", "digits", "--epochs", "1000", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if line.startswith("epoch 1/"):
                break
        second = subprocess.run(
            [sys.executable, "-m", "glassnet", "train", "--data", "digits", "--epochs", "1", "--out", str(out)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert second.returncode == 1
        assert f"is in use by a running glassnet train (PID {first.pid})" in second.stderr
    finally:
        first.kill()
        first.communicate()  # reaps it and closes its pipe


def test_re_export_keeps_the_mode_of_the_file_it_replaces(tmp_path, capsys):
    pytest.importorskip("onnx")
    model = gn.Sequential(gn.Linear(3, 2, rng=0))
    model.save(tmp_path / "m.gnet", metadata={"input_shape": [3]})
    target = tmp_path / "m.onnx"
    assert cli.main(["export", str(tmp_path / "m.gnet"), str(target)]) == 0
    os.chmod(target, 0o600)
    assert cli.main(["export", str(tmp_path / "m.gnet"), str(target)]) == 0
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
