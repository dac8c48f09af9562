"""Resuming after SIGKILL gives, bit for bit, the weights of a run that never stopped.

Each test starts this file as a training process (see ``_worker``), which
writes a checkpoint every epoch; the test kills it with SIGKILL in the middle
of an epoch, resumes from the last checkpoint in this process and compares
every weight, buffer, optimizer slot and History value with an uninterrupted
run by ``np.array_equal``.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet._archive import write_archive
from glassnet.checkpoint import read_checkpoint

EPOCHS = 5
KILL_EPOCH = 2  # killed during the third epoch, after two checkpoints
KILL_BATCH = 3


def _data(kind):
    rng = np.random.default_rng(7)
    shape = (6,) if kind == "mlp" else (1, 6, 6)
    x = rng.normal(size=(40, *shape)).astype(np.float32)
    y = (x.reshape(40, -1)[:, :3].argmax(axis=1)).astype(np.int64)
    return x[:32], y[:32], x[32:], y[32:]


def _model(kind):
    rng = np.random.default_rng(3)
    if kind == "mlp":  # Dropout: its masks come from an RNG that must be restored
        return gn.Sequential(
            gn.Linear(6, 16, rng=rng), gn.ReLU(), gn.Dropout(0.3), gn.Linear(16, 16, rng=rng), gn.Tanh(),
            gn.Dropout(0.2), gn.Linear(16, 3, rng=rng),
        )  # fmt: skip
    # BatchNorm: its running statistics are buffers that must be restored
    return gn.Sequential(
        gn.Conv2d(1, 4, 3, padding=1, rng=rng), gn.BatchNorm2d(4), gn.ReLU(), gn.MaxPool2d(2),
        gn.Flatten(), gn.Dropout(0.25), gn.Linear(36, 3, rng=rng),
    )  # fmt: skip


def _optimizer(name, model):
    if name == "sgd":
        return gn.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return gn.Adam(model.parameters(), lr=0.01)


def _train(kind, opt_name, callbacks=(), resume_from=None):
    """One run of the experiment: the same code in the killed process and in this one."""
    x, y, xv, yv = _data(kind)
    model = _model(kind)
    optimizer = _optimizer(opt_name, model)
    schedule = gn.StepLR(optimizer, step_size=2, gamma=0.5)
    history = model.fit(
        x,
        y,
        loss=gn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=EPOCHS,
        batch_size=6,  # the last batch of each epoch is smaller
        validation_data=(xv, yv),
        metrics=["accuracy"],
        callbacks=[schedule, *callbacks],
        seed=11,
        verbose=0,
        resume_from=resume_from,
    )
    return model, optimizer, history


class _WaitForTheKill(gn.Callback):
    """Says where it is in the middle of an epoch, then waits to be killed."""

    def on_batch_end(self, batch, loss):
        if self.run.epoch == KILL_EPOCH and batch == KILL_BATCH:
            print(f"mid-epoch {self.run.epoch} batch {batch}", flush=True)
            time.sleep(120)


def _worker(kind, opt_name, path):
    _train(kind, opt_name, callbacks=[gn.ModelCheckpoint(path), _WaitForTheKill()])


def _killed_run(kind, opt_name, path):
    src = os.path.dirname(os.path.dirname(os.path.abspath(gn.__file__)))
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), kind, opt_name, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"mid-epoch {KILL_EPOCH} batch {KILL_BATCH}", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_resume_after_sigkill_is_bit_identical(tmp_path, kind, opt_name):
    path = tmp_path / "checkpoint.gnet"
    _killed_run(kind, opt_name, path)
    ck = read_checkpoint(path)
    assert ck.epoch == KILL_EPOCH  # the last complete epoch before the kill
    assert ck.step == KILL_EPOCH * 6  # 32 samples in batches of 6: 6 steps an epoch
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]

    resumed, resumed_opt, resumed_history = _train(kind, opt_name, resume_from=path)
    straight, straight_opt, straight_history = _train(kind, opt_name)

    got, want = resumed.state_dict(), straight.state_dict()
    assert got.keys() == want.keys()
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    got_opt, want_opt = resumed_opt.state_dict(), straight_opt.state_dict()
    assert got_opt["steps"] == want_opt["steps"] == EPOCHS * 6 and got_opt["lr"] == want_opt["lr"]
    for slot in set(want_opt) - {"lr", "steps"}:
        for a, b in zip(got_opt[slot], want_opt[slot]):
            assert np.array_equal(a, b), slot
    assert resumed_history.epoch == straight_history.epoch == list(range(EPOCHS))
    assert resumed_history.history == straight_history.history
    # and the run did something: the resumed part changed the checkpoint's weights
    assert not np.array_equal(ck.arrays["model/layers.0.weight"], got["layers.0.weight"])


@pytest.mark.parametrize("lost", ["dropout", "shuffle"])
def test_the_comparison_catches_a_lost_rng_state(tmp_path, lost):
    """The check above can fail: a resume that lost an RNG state gives other weights."""
    path = tmp_path / "checkpoint.gnet"
    _killed_run("mlp", "sgd", path)
    ck = read_checkpoint(path)
    fresh = np.random.default_rng(0).bit_generator.state
    if lost == "dropout":
        ck.header["rng"]["layers"]["layers.2"] = fresh
    else:
        ck.header["rng"]["fit"] = fresh
    tampered = tmp_path / "tampered.gnet"
    header = {k: v for k, v in ck.header.items() if k != "arrays"}
    write_archive(tampered, header, ck.arrays, json_name="checkpoint.json")
    resumed, _, _ = _train("mlp", "sgd", resume_from=tampered)
    straight, _, _ = _train("mlp", "sgd")
    assert not np.array_equal(resumed[0].weight.data, straight[0].weight.data)


if __name__ == "__main__":
    _worker(*sys.argv[1:4])
