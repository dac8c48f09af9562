"""Ctrl-C during ``glassnet train``: stop at the end of the batch, save the model so far, exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli.runs import StopOnInterrupt, interruptible, read_run_info

SRC = str(Path(gn.__file__).resolve().parents[1])

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")


class _CtrlCAt(gn.Callback):
    """Sends this process a SIGINT at the end of one batch, as a person pressing Ctrl-C would."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at, self.epoch = (epoch, batch), 0

    def on_batch_end(self, batch: int, loss: float) -> None:
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGINT)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch = epoch + 1


def test_ctrl_c_stops_fit_at_the_end_of_the_batch():
    x, y = gn.datasets.moons(n=200, rng=0)
    model = gn.Sequential(gn.Linear(2, 8, rng=0), gn.ReLU(), gn.Linear(8, 2, rng=1))
    stop = StopOnInterrupt(batches=7)  # 200 samples in batches of 32
    with interruptible(stop):
        history = model.fit(
            x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=10,
            callbacks=[_CtrlCAt(epoch=1, batch=2), stop], verbose=0,
        )  # fmt: skip
    assert stop.requested and stop.stopped == (2, 3)  # in the second epoch, after its third batch
    assert len(history.epoch) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def _train(out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-m", "glassnet", "train", "--data", "digits", "--epochs", "1000", "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _wait_for_epoch(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if line.startswith("epoch 1/1000"):
            return seen
    raise AssertionError(f"training ended before its first epoch: {seen}")


def test_ctrl_c_in_glassnet_train_saves_the_model_so_far(tmp_path, capsys):
    process = _train(tmp_path / "run")
    _wait_for_epoch(process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == cli.EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "test accuracy" not in out
    path = tmp_path / "run" / "model.gnet"
    assert f"saved to {path}" in err
    model = gn.load(path)
    info, problems = read_run_info(model.metadata)
    assert problems == [] and info.interrupted is not None
    assert info.interrupted["epoch"] >= 1 and 1 <= info.interrupted["batch"] <= info.interrupted["batches"]
    assert "test_accuracy" not in model.metadata and model.metadata["settings"]["epochs"] == 1000
    x, _ = gn.datasets.digits()
    assert np.isfinite(model.predict(x[:10])).all()
    capsys.readouterr()
    assert cli.main(["summary", str(path)]) == 0
    assert f"interrupted in epoch {info.interrupted['epoch']}/1000, not tested" in capsys.readouterr().out


def test_a_second_ctrl_c_quits_at_once_without_a_traceback(tmp_path):
    process = _train(tmp_path / "run")
    _wait_for_epoch(process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == cli.EXIT_INTERRUPTED
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
