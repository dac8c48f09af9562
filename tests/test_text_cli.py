"""glassnet train --data shakespeare and glassnet generate, with a tiny GPT standing in for the recipe's."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli import text_recipes as text


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    tiny = text.RECIPES["gpt"].with_overrides(
        build=lambda v, c, seed: gn.models.gpt(v, c, n_layer=1, n_head=2, n_embd=16, rng=seed), warmup_steps=2
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(text.RECIPES, "gpt", tiny)
        code = cli.main(
            [
                "train",
                "--data",
                "shakespeare",
                "--model",
                "gpt",
                "--steps",
                "6",
                "--eval-interval",
                "3",
                "--context",
                "16",
                "--out",
                str(out),
            ]
        )
    assert code == 0
    return out


def test_train_reports_losses_and_saves_model_vocabulary_and_curve(tiny_lm, capsys):
    model = gn.load(tiny_lm / "model.gnet")
    meta = model.metadata
    assert meta["vocabulary"]["chars"].startswith("\n !$&") and len(meta["vocabulary"]["chars"]) == 65
    assert meta["settings"]["steps"] == 6 and meta["settings"]["context"] == 16
    assert len(meta["curve"]["step_loss"]) == 6 and meta["curve"]["eval_steps"] == [0, 3, 6]
    tokens = gn.datasets.CharTokenizer.from_config(meta["vocabulary"]).encode(gn.datasets.shakespeare()[1])
    assert meta["validation_loss"] == pytest.approx(text.validation_loss(model, tokens, 16), rel=1e-6)
    pytest.importorskip("matplotlib")
    assert (tiny_lm / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_train_output_lines(tmp_path, capsys):
    tiny = text.RECIPES["gpt"].with_overrides(
        build=lambda v, c, seed: gn.models.gpt(v, c, n_layer=1, n_head=1, n_embd=8, rng=seed)
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(text.RECIPES, "gpt", tiny)
        assert (
            cli.main(
                [
                    "train",
                    "--data",
                    "shakespeare",
                    "--model",
                    "gpt",
                    "--steps",
                    "2",
                    "--context",
                    "8",
                    "--out",
                    str(tmp_path),
                ]
            )
            == 0
        )
    out = capsys.readouterr().out
    assert "step 0/2: train loss" in out and "step 2/2: train loss" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("validation loss: ") and len(last.split(": ")[1]) == 6


def test_generate_is_deterministic_and_continues_the_prompt(tiny_lm, capsys):
    args = ["generate", str(tiny_lm / "model.gnet"), "--prompt", "ROMEO:", "--length", "40", "--top-k", "5"]
    assert cli.main([*args, "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert cli.main([*args, "--seed", "3"]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("ROMEO:") and len(first) == len("ROMEO:") + 40 + 1
    assert cli.main([*args, "--seed", "4"]) == 0
    assert capsys.readouterr().out != first


def test_generate_with_a_prompt_longer_than_the_context(tiny_lm, capsys):
    prompt = "To be, or not to be, that is the question"
    assert cli.main(["generate", str(tiny_lm / "model.gnet"), "--prompt", prompt, "--length", "5"]) == 0
    captured = capsys.readouterr()
    assert "more than the model's context of 16: the model reads its last 16" in captured.err
    assert captured.out.startswith(prompt)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--prompt", "héllo~"], r"--prompt holds 2 character\(s\) that are not in the vocabulary: 'é', '~'"),
        (["--prompt", ""], "--prompt is empty"),
    ],
)
def test_generate_bad_prompts(tiny_lm, capsys, argv, match):
    assert cli.main(["generate", str(tiny_lm / "model.gnet"), *argv]) == 1
    assert pytest.importorskip("re").search(match, capsys.readouterr().err)


def test_generate_needs_a_language_model(tmp_path, capsys):
    path = tmp_path / "mlp.gnet"
    gn.Sequential(gn.Linear(2, 2, rng=0)).save(path)
    assert cli.main(["generate", str(path)]) == 1
    assert "no vocabulary" in capsys.readouterr().err
    assert cli.main(["generate", str(tmp_path / "missing.gnet")]) == 1
    assert "no such model file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--data", "shakespeare", "--model", "mlp"], "not a language model"),
        (["--data", "shakespeare", "--model", "gpt", "--epochs", "3"], "--epochs does not apply"),
        (["--data", "digits", "--model", "gpt"], "--data shakespeare"),
    ],
)
def test_train_bad_combinations(tmp_path, capsys, argv, match):
    assert cli.main(["train", *argv, "--out", str(tmp_path)]) == 1
    assert match in capsys.readouterr().err


def test_summary_of_a_language_model(tiny_lm, capsys):
    assert cli.main(["summary", str(tiny_lm / "model.gnet")]) == 0
    out = capsys.readouterr().out
    assert "trained on shakespeare (gpt)" in out and "(None, 16, 65)" in out


def test_train_steps_is_reproducible():
    tokens = np.tile(np.arange(6), 50)
    view = gn.datasets.windows(tokens, 8)
    recipe = text.RECIPES["gpt"].with_overrides(steps=5, batch_size=4, context=8, eval_interval=5, eval_batches=2)
    logs = []
    for _ in range(2):
        model = gn.models.gpt(6, 8, n_layer=1, n_head=1, n_embd=8, rng=0)
        logs.append(text.train_steps(model, view, view, recipe.optimizer(model, recipe), recipe, seed=1, report=None))
    assert logs[0].losses == logs[1].losses and len(logs[0].losses) == 5
