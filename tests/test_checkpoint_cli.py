"""``glassnet train`` writes a checkpoint every epoch; ``--resume DIR`` continues a killed or stopped run, bit for bit."""

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
from glassnet.checkpoint import read_checkpoint

SRC = str(Path(gn.__file__).resolve().parents[1])
EPOCHS = "30"  # digits MLP: a fraction of a second an epoch

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals to a child process are POSIX")


def _start(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "glassnet", "train", "--data", "digits", "--epochs", EPOCHS, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )


def _wait_for(process: subprocess.Popen[str], prefix: str) -> None:
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if line.startswith(prefix):
            return
    raise AssertionError(f"training ended before {prefix!r}: {seen}")


def _weights(path: Path) -> dict[str, np.ndarray]:
    return gn.load(path).state_dict()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    assert cli.main(["train", "--data", "digits", "--epochs", EPOCHS, "--out", str(out)]) == 0
    return out


def _assert_same_run(resumed: Path, straight: Path) -> None:
    got, want = _weights(resumed / "model.gnet"), _weights(straight / "model.gnet")
    assert got.keys() == want.keys()
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert gn.load(resumed / "model.gnet").metadata == gn.load(straight / "model.gnet").metadata
    assert (
        read_checkpoint(resumed / "checkpoint.gnet").history.history
        == read_checkpoint(straight / "checkpoint.gnet").history.history
    )


def test_train_writes_a_checkpoint_of_its_last_epoch(straight):
    ck = read_checkpoint(straight / "checkpoint.gnet")
    assert ck.epoch == int(EPOCHS) and ck.metadata["data"] == "digits" and ck.metadata["settings"]["epochs"] == 30


def test_resume_after_sigkill(straight, tmp_path, capsys):
    out = tmp_path / "run"
    process = _start(out)
    try:
        _wait_for(process, f"epoch 2/{EPOCHS}")  # the first checkpoint is written
        process.kill()
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    epoch = read_checkpoint(out / "checkpoint.gnet").epoch
    assert 1 <= epoch < int(EPOCHS)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out)]) == 0
    assert f"resuming from the end of epoch {epoch}/{EPOCHS}" in capsys.readouterr().out
    _assert_same_run(out, straight)


def test_ctrl_c_says_how_to_resume_and_resuming_finishes_the_run(straight, tmp_path, capsys):
    out = tmp_path / "run"
    process = _start(out)
    _wait_for(process, f"epoch 1/{EPOCHS}")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == cli.EXIT_INTERRUPTED, err
    epoch = read_checkpoint(out / "checkpoint.gnet").epoch
    assert f"continues the run from the end of epoch {epoch}/{EPOCHS}: glassnet train --resume {out}" in err
    assert gn.load(out / "model.gnet").metadata["interrupted"]["epoch"] in (epoch, epoch + 1)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--data", "digits", "--epochs", EPOCHS]) == 0  # same settings
    _assert_same_run(out, straight)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--resume", "{w}/nowhere"], 1, "--resume {w}/nowhere: no checkpoint there"),
        (["--resume", "{s}", "--lr", "0.5"], 1, "--lr 0.5 differs from the run being resumed (--lr 0.001)"),
        (["--resume", "{s}", "--data", "moons"], 1, "--data moons differs from the run being resumed (--data digits)"),
        (
            ["--resume", "{s}/model.gnet"],
            1,
            "not a glassnet checkpoint file (a model file: load it with glassnet.load)",
        ),
        (["--resume", "{w}/bare.gnet"], 1, "was not written by glassnet train"),
        ([], 2, "--data (or --resume DIR"),
    ],
)
def test_resume_mistakes_are_one_line(straight, tmp_path, capsys, args, code, message):
    model = gn.Sequential(gn.Linear(64, 10, rng=0))
    x, y = gn.datasets.digits(flat=True)
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=1, verbose=0,
              callbacks=[gn.ModelCheckpoint(tmp_path / "bare.gnet")])  # fmt: skip
    args = [a.format(w=tmp_path, s=straight) for a in args]
    try:
        got = cli.main(["train", *args])
    except SystemExit as stop:  # argparse's usage errors
        got = stop.code
    assert got == code
    err = capsys.readouterr().err
    assert message.format(w=tmp_path, s=straight) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
