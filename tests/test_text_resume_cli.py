"""``glassnet train --resume`` for language models: the character models (a text file, Shakespeare) and GPT-2.

Every run writes ``--out/checkpoint.gnet``; a run stopped by Ctrl-C and resumed gives the weights,
the curve and the validation loss of a run that never stopped.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli import language_model
from glassnet.cli import text_recipes as text
from glassnet.models import gpt2

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to this process is POSIX")


@pytest.fixture
def tiny_recipes(monkeypatch):
    """The recipes' models, made tiny (their settings stay the recipes')."""
    tiny_gpt = text.RECIPES["gpt"].with_overrides(
        build=lambda v, c, seed: gn.models.gpt(v, c, n_layer=1, n_head=2, n_embd=16, rng=seed)
    )
    monkeypatch.setitem(text.RECIPES, "gpt", tiny_gpt)


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "story.txt"
    path.write_text(gn.datasets.shakespeare()[0][:6_000], encoding="utf-8")
    return path


def _ctrl_c_after(monkeypatch, steps: int) -> None:
    """Ctrl-C, as a person presses it, during step ``steps`` of the next run (both loops: characters and GPT-2)."""
    loop = language_model.train_steps

    def pressed(*args, should_stop, **kwargs):
        asked = []

        def stop():
            asked.append(1)
            if len(asked) == steps:
                os.kill(os.getpid(), signal.SIGINT)
            return should_stop()

        return loop(*args, should_stop=stop, **kwargs)

    monkeypatch.setattr(language_model, "train_steps", pressed)
    monkeypatch.setattr(gpt2, "train_steps", pressed)


def _weights(path):
    model = gn.load(path)
    return [p.data for p in model.parameters()], model.metadata


def _same_run(a, b):
    (wa, ma), (wb, mb) = _weights(a / "model.gnet"), _weights(b / "model.gnet")
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert ma["curve"] == mb["curve"] and ma["validation_loss"] == mb["validation_loss"]


RUNS = {
    "text file, gpt": ["--data", "{story}", "--model", "gpt", "--steps", "6", "--eval-interval", "2", "--context", "8"],
    "shakespeare, gpt": ["--data", "shakespeare", "--steps", "5", "--eval-interval", "2", "--context", "8",
                         "--batch-size", "2"],
    "gpt2 from scratch": ["--data", "{story}", "--model", "gpt2", "--vocab-size", "260", "--steps", "5",
                          "--eval-interval", "2", "--context", "8", "--batch-size", "2"],
}  # fmt: skip


@pytest.mark.parametrize("name", list(RUNS))
def test_a_run_stopped_by_ctrl_c_and_resumed_equals_one_that_never_stopped(
    name, story, tmp_path, tiny_recipes, monkeypatch, capsys
):
    argv = ["train", *(a.format(story=story) for a in RUNS[name])]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert cli.main([*argv, "--out", str(straight)]) == 0
    with monkeypatch.context() as m:
        _ctrl_c_after(m, 3)
        capsys.readouterr()
        assert cli.main([*argv, "--out", str(stopped)]) == 130
    err = capsys.readouterr().err
    assert "continues the run from step 3/" in err and f"glassnet train --resume {stopped}" in err
    assert cli.main(["train", "--resume", str(stopped)]) == 0
    out = capsys.readouterr().out
    assert "resuming from step 3/" in out
    _same_run(straight, stopped)
    # once more: finished, nothing to train
    assert cli.main(["train", "--resume", str(stopped)]) == 0
    assert "is finished" in capsys.readouterr().out


def test_a_finished_run_whose_model_file_is_missing_writes_it(story, tmp_path, tiny_recipes, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", str(story), "--steps", "4", "--eval-interval", "2", "--context", "8", "--out", str(out)]
    assert cli.main(argv) == 0
    model = out / "model.gnet"
    kept = tmp_path / "kept.gnet"
    model.rename(kept)
    assert cli.main(["train", "--resume", str(out)]) == 0
    assert "model file is missing" in capsys.readouterr().out
    assert all(np.array_equal(a, b) for a, b in zip(_weights(model)[0], _weights(kept)[0]))


def _error(capsys, argv):
    capsys.readouterr()
    code = cli.main([*map(str, argv)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    return err


def test_resume_refuses_other_flags_and_other_data(story, tmp_path, tiny_recipes, monkeypatch, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", str(story), "--steps", "6", "--eval-interval", "2", "--context", "8", "--out", str(out)]
    with monkeypatch.context() as m:
        _ctrl_c_after(m, 2)
        assert cli.main(argv) == 130
    assert "--steps 9 differs from the run being resumed (--steps 6)" in _error(
        capsys, ["train", "--resume", out, "--steps", 9]
    )
    assert "--lr 0.5 differs from the run being resumed (not given)" in _error(
        capsys, ["train", "--resume", out, "--lr", 0.5]
    )
    story.write_text(story.read_text(encoding="utf-8")[::-1], encoding="utf-8")  # the same length, other text
    try:
        assert "other tokens" in _error(capsys, ["train", "--resume", out])
    finally:
        story.write_text(story.read_text(encoding="utf-8")[::-1], encoding="utf-8")
    assert cli.main(["train", "--resume", str(out)]) == 0  # the text as it was: the run continues


def test_a_checkpoint_of_epochs_does_not_resume_a_language_model(story, tmp_path, capsys):
    out = tmp_path / "xor"
    assert cli.main(["train", "--data", "xor", "--epochs", "1", "--out", str(out)]) == 0
    err = _error(capsys, ["train", "--data", story, "--resume", out])
    assert "holds a checkpoint of epochs" in err


def test_a_damaged_flag_in_the_checkpoint_is_refused(story, tmp_path, tiny_recipes, monkeypatch, capsys):
    from tests.test_checkpoint_edges import _edit

    out = tmp_path / "run"
    argv = ["train", "--data", str(story), "--steps", "4", "--eval-interval", "2", "--context", "8", "--out", str(out)]
    with monkeypatch.context() as m:
        _ctrl_c_after(m, 2)
        assert cli.main(argv) == 130
    edited = _edit(out / "checkpoint.gnet", tmp_path, header=lambda h: h["metadata"]["flags"].update(steps=-3))
    assert "the stored flag steps must be an integer >= 1 or null. Received: -3" in _error(
        capsys, ["train", "--resume", edited]
    )


def test_a_run_given_a_relative_path_resumes_from_another_folder(story, tmp_path, tiny_recipes, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / "story.txt").write_text(story.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(work)
    out = tmp_path / "run"
    argv = ["train", "--data", "story.txt", "--steps", "4", "--eval-interval", "2", "--context", "8", "--out", str(out)]
    with monkeypatch.context() as m:
        _ctrl_c_after(m, 2)
        assert cli.main(argv) == 130
    monkeypatch.chdir(tmp_path)  # elsewhere: the stored path is absolute
    assert cli.main(["train", "--resume", str(out)]) == 0
    monkeypatch.chdir(work)
    assert cli.main(["train", "--resume", str(out), "--data", "story.txt"]) == 0  # the same file, given relative
    assert "is finished" in capsys.readouterr().out
