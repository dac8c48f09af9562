"""``glassnet train --data shakespeare``: the header says the schedule that runs; progress is shown; generate's edges."""

from __future__ import annotations

import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli import text_recipes as text


@pytest.fixture
def tiny_gpt(monkeypatch):
    tiny = text.RECIPES["gpt"].with_overrides(
        build=lambda v, c, seed: gn.models.gpt(v, c, n_layer=1, n_head=1, n_embd=8, rng=seed), eval_batches=2
    )
    monkeypatch.setitem(text.RECIPES, "gpt", tiny)


def _train(tmp_path, *argv: str) -> int:
    return cli.main(["train", "--data", "shakespeare", "--context", "8", "--out", str(tmp_path), *argv])


def test_a_run_shorter_than_the_warm_up_gets_a_scaled_warm_up_and_says_so(tiny_gpt, tmp_path, capsys):
    assert _train(tmp_path, "--steps", "40", "--eval-interval", "20") == 0
    out = capsys.readouterr().out
    assert "2 warm-up steps (the recipe's 100 scaled to 1/20 of a 40-step run), cosine decay to 0.0001" in out
    assert "step 40/40: train loss" in out and "lr 1.00e-04" in out  # the decay ran to its end
    assert gn.load(tmp_path / "model.gnet").metadata["settings"]["warmup_steps"] == 2  # what ran is recorded


def test_a_constant_rate_is_said_as_such():
    s, said = text.fit_schedule(text.RECIPES["lstm"].with_overrides(steps=10))
    assert said == "constant learning rate" and s.warmup_steps == 0
    s, said = text.fit_schedule(text.RECIPES["gpt"])
    assert s.warmup_steps == 100 and said == "100 warm-up steps, cosine decay to 0.0001"  # the recipe as it is
