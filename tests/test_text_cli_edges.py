"""``glassnet train --data shakespeare``: the header says the schedule that runs; progress is shown; generate's edges."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
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


def _char_lm(tmp_path, chars: str, vocab_size: int | None = None) -> str:
    """A CharRNN with the vocabulary ``chars`` saved as glassnet train saves one (untrained: any output will do)."""
    tokenizer = gn.datasets.CharTokenizer(chars)
    model = gn.models.CharRNN(vocab_size or tokenizer.vocab_size, embedding_dim=4, hidden_size=8, cell="lstm", rng=0)
    path = tmp_path / "lm.gnet"
    model.save(path, metadata={"vocabulary": tokenizer.to_config(), "input_shape": [8]})
    return str(path)


def test_generate_length_is_bounded_before_any_work(tmp_path, capsys):
    path = _char_lm(tmp_path, "ab\n")
    with pytest.raises(SystemExit) as stop:
        cli.main(["generate", path, "--length", str(10**12)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--length" in err and "expected at most 1,000,000" in err and len(err.strip().splitlines()) == 1


def test_generate_refuses_a_vocabulary_that_does_not_match_the_model(tmp_path, capsys):
    path = _char_lm(tmp_path, "ab\n", vocab_size=5)
    assert cli.main(["generate", path, "--prompt", "a", "--length", "3"]) == 1
    err = capsys.readouterr().err
    assert "its vocabulary has 3 characters but the model has 5 outputs" in err
    assert capsys.readouterr().out == ""  # nothing generated


def test_generate_escapes_control_characters_on_a_terminal(tmp_path, capsys, monkeypatch):
    path = _char_lm(tmp_path, "ab\x1b\x07\n")
    argv = ["generate", path, "--prompt", "a\x1b\x07b", "--length", "50", "--temperature", "5"]
    assert cli.main(argv) == 0
    raw = capsys.readouterr().out
    assert "\x1b" in raw  # into a pipe or a file: the text as generated
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert cli.main(argv) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown and shown.startswith("a\\x1b\\x07b")
    assert shown.count("\\x1b") == raw.count("\x1b")


def test_an_lstm_reads_a_long_prompt_in_chunks_with_bounded_memory(monkeypatch):
    from glassnet.models import char_rnn

    model = gn.models.CharRNN(7, embedding_dim=4, hidden_size=8, cell="lstm", rng=0, dtype=np.float64)
    prompt = np.random.default_rng(0).integers(0, 7, size=(1, 1000))
    whole = model.generate(prompt, 20, rng=1)
    monkeypatch.setattr(char_rnn, "PROMPT_CHUNK", 7)
    assert np.array_equal(model.generate(prompt, 20, rng=1), whole)  # the state carries across chunks
    monkeypatch.setattr(char_rnn, "PROMPT_CHUNK", 256)
    long_prompt = np.random.default_rng(1).integers(0, 7, size=(1, 40_000))
    tracemalloc.start()
    model.generate(long_prompt, 1, rng=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40_000 * 300  # well under the prompt's length times one position's gates and states


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--context", "20000"], "--context 20000: at most 4,096"),
        (["--batch-size", "1000000"], "--batch-size 1000000 with --context 64 is 64,000,000 characters a step"),
        (["--model", "lstm", "--batch-size", "1000000"], "--batch-size 1000000 with --context 64"),
    ],
)
def test_train_bounds_the_cost_of_a_step_before_any_work(tmp_path, capsys, argv, message):
    assert cli.main(["train", "--data", "shakespeare", *argv, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
