"""What training shows: an epoch cut short says so; a language model's run shows progress and a last report."""

from __future__ import annotations

import numpy as np

import glassnet as gn
from glassnet import text_training as text
from glassnet.cli.text_recipes import RECIPES


class _StopAtBatch(gn.Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch, self.epochs_done = epoch, batch, 0

    def on_batch_end(self, batch: int, loss: float) -> None:
        if self.epochs_done == self.epoch and batch == self.batch:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs_done += 1


def test_an_epoch_cut_short_is_printed_as_cut_short(capsys):
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = gn.Sequential(gn.Linear(3, 2, rng=0))
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=3,
              batch_size=8, verbose=2, callbacks=[_StopAtBatch(epoch=1, batch=1)])  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("epoch 1/3 - loss")  # a whole epoch, as before
    assert lines[1].startswith("epoch 2/3 cut short after 2/4 batches - loss")
    assert len(lines) == 2


def test_language_model_training_reports_progress_between_evaluations(monkeypatch):
    monkeypatch.setattr(text, "PROGRESS_SECONDS", 0.0)  # a line after every step, as one every 10 s would be
    said: list[str] = []
    s = RECIPES["lstm"].with_overrides(steps=5, batch_size=2, context=4, eval_interval=100, eval_batches=1)
    model = gn.models.CharRNN(7, embedding_dim=3, hidden_size=4, rng=0)
    ids = np.random.default_rng(0).integers(0, 7, size=200)
    view = gn.datasets.windows(ids, 4)
    text.train_steps(model, view, view, s.optimizer(model, s), s, report=said.append)
    assert said[0].startswith("step 0/5: train loss")  # the first evaluation
    progress = [line for line in said[1:-1]]
    assert [line.split(":")[0] for line in progress] == [f"step {k}/5" for k in range(1, 5)]
    assert all("batch loss" in line and "ms a step" in line for line in progress)
    assert said[-1].startswith("step 5/5: train loss")  # the last report, at the end
