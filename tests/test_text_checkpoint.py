"""Checkpoints of the language-model loop (``train_steps``): a resumed run equals one that never stopped."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet.checkpoint import read_checkpoint
from glassnet.datasets.text import windows
from glassnet.text_training import TextRecipe, train_steps

VOCAB, CONTEXT = 11, 8
TOKENS = np.random.default_rng(3).integers(0, VOCAB, size=600)


def _gpt(vocab: int, context: int, seed: int) -> gn.Module:
    return gn.models.gpt(vocab, context, n_layer=1, n_head=2, n_embd=16, rng=seed, dtype=np.float64)


def _lstm_with_dropout(vocab: int, context: int, seed: int) -> gn.Module:
    rng = np.random.default_rng(seed)
    return gn.Sequential(
        gn.Embedding(vocab, 8, rng=rng, dtype=np.float64),
        gn.LSTM(8, 16, rng=rng, dtype=np.float64),
        gn.Dropout(0.3, rng=rng),
        gn.Linear(16, vocab, rng=rng, dtype=np.float64),
    )


def _recipe(build, steps: int = 10) -> TextRecipe:
    return TextRecipe(
        build=build,
        optimizer=lambda m, s: gn.AdamW(m.parameters(), lr=s.lr),
        steps=steps,
        batch_size=3,
        context=CONTEXT,
        lr=3e-3,
        min_lr=3e-4,
        warmup_steps=2,
        eval_interval=4,
        eval_batches=2,
    )


def _run(build, stop_after: int | None = None, tokens=TOKENS, steps: int = 10, **kwargs):
    s = _recipe(build, steps)
    model = s.build(VOCAB, CONTEXT, 0)
    optimizer = s.optimizer(model, s)
    train, val = windows(tokens[:500], CONTEXT), windows(tokens[500:], CONTEXT)
    done = []

    def should_stop() -> bool:
        done.append(1)
        return stop_after is not None and len(done) >= stop_after

    log = train_steps(model, train, val, optimizer, s, seed=5, report=None, should_stop=should_stop, **kwargs)
    return model, log


@pytest.mark.parametrize("build", [_gpt, _lstm_with_dropout], ids=["gpt", "lstm-dropout"])
@pytest.mark.parametrize("stop_after", [3, 4, 10])  # between evaluations, at one, at the end
def test_a_resumed_run_equals_one_that_never_stopped(tmp_path, build, stop_after):
    whole, whole_log = _run(build)
    path = tmp_path / "checkpoint.gnet"
    first, first_log = _run(build, stop_after=stop_after, checkpoint=path, metadata={"note": "first"})
    assert len(first_log.losses) == stop_after
    ck = read_checkpoint(path)
    assert ck.step == stop_after and ck.metadata == {"note": "first"} and ck.steps["total"] == 10
    resumed, log = _run(build, checkpoint=path, resume_from=path)
    assert log.resumed_at == stop_after
    for a, b in zip(resumed.parameters(), whole.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert log.losses == whole_log.losses
    assert (log.eval_steps, log.eval_train, log.eval_val) == (
        whole_log.eval_steps,
        whole_log.eval_train,
        whole_log.eval_val,
    )
    assert read_checkpoint(path).step == 10


def test_resuming_a_finished_run_trains_nothing_and_reports_again(tmp_path):
    path = tmp_path / "checkpoint.gnet"
    model, log = _run(_gpt, checkpoint=path)
    again, again_log = _run(_gpt, resume_from=path)
    assert again_log.resumed_at == 10 and again_log.losses == log.losses
    assert again_log.eval_train[-1] == log.eval_train[-1]  # the last estimate, drawn from the same generator state
    for a, b in zip(again.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_a_checkpoint_of_another_run_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "checkpoint.gnet"
    _run(_gpt, stop_after=4, checkpoint=path)
    with pytest.raises(ValueError, match="has 10 steps, not 12"):
        _run(_gpt, steps=12, resume_from=path)
    other = np.random.default_rng(4).integers(0, VOCAB, size=600)
    with pytest.raises(ValueError, match="other tokens"):
        _run(_gpt, tokens=other, resume_from=path)
    with pytest.raises(ValueError, match="stochastic layers|do not match"):
        _run(_lstm_with_dropout, resume_from=path)


def test_fit_and_the_step_loop_refuse_each_others_checkpoints(tmp_path):
    steps_path = tmp_path / "steps.gnet"
    _run(_gpt, stop_after=4, checkpoint=steps_path)
    x = np.random.default_rng(0).normal(size=(16, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    model = gn.Sequential(gn.Linear(3, 2, rng=0, dtype=np.float64))
    fit_path = tmp_path / "fit.gnet"
    kwargs = dict(loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters()), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="language model's checkpoint"):
        model.fit(x, y, epochs=2, resume_from=steps_path, **kwargs)
    model.fit(x, y, epochs=1, callbacks=[gn.ModelCheckpoint(fit_path)], **kwargs)
    with pytest.raises(ValueError, match="checkpoint of fit's epochs"):
        _run(_gpt, resume_from=fit_path)


BAD_STEPS = {
    "not an object": (lambda h: h.update(steps=[1]), "invalid 'steps'"),
    "total 0": (lambda h: h["steps"].update(total=0), "'total' must be an integer >= 1"),
    "total a string": (lambda h: h["steps"].update(total="10"), "'total' must be an integer >= 1"),
    "data a number": (lambda h: h["steps"].update(data=7), "'data' a string"),
    "eval_rng inc even": (lambda h: h["steps"]["eval_rng"]["state"].update(inc=2), "the evaluation's generator"),
    "a log key missing": (lambda h: h["steps"]["log"].pop("eval_val") and None, "'log' must hold"),
    "losses of strings": (lambda h: h["steps"]["log"].update(losses=["1.0"] * 4), "'losses' must be a list of numbers"),
    "eval steps as floats": (lambda h: h["steps"]["log"].update(eval_steps=[0.0, 4.0]), "'eval_steps' must be a list"),
    "more losses than steps": (lambda h: h["steps"]["log"].update(losses=[1.0] * 11), "lengths do not fit 10 steps"),
    "estimates of other lengths": (lambda h: h["steps"]["log"].update(eval_val=[1.0, 2.0]), "lengths do not fit"),
    "a loss too large for a float": (lambda h: h["steps"]["log"].update(losses=[10**400] * 4), "'losses' must be"),
}


@pytest.mark.parametrize("name", list(BAD_STEPS))
def test_a_checkpoint_with_a_bad_loop_state_is_refused_before_anything_changes(tmp_path, name):
    from tests.test_checkpoint_edges import _edit

    saved = tmp_path / "checkpoint.gnet"
    _run(_gpt, stop_after=4, checkpoint=saved)
    change, match = BAD_STEPS[name]
    path = _edit(saved, tmp_path, header=change)
    s = _recipe(_gpt)
    model = s.build(VOCAB, CONTEXT, 0)
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=match):
        train_steps(model, windows(TOKENS[:500], CONTEXT), None, s.optimizer(model, s), s, seed=5, report=None,
                    resume_from=path)  # fmt: skip
    assert all(np.array_equal(p.data, b) for p, b in zip(model.parameters(), before))


def test_a_generator_other_than_pcg64_is_refused_for_a_run_with_checkpoints(tmp_path):
    s = _recipe(_gpt)
    model = s.build(VOCAB, CONTEXT, 0)
    mt = np.random.Generator(np.random.MT19937(5))
    with pytest.raises(ValueError, match="seed must be an int or a Generator of NumPy's default PCG64"):
        train_steps(model, windows(TOKENS, CONTEXT), None, s.optimizer(model, s), s, seed=mt, report=None,
                    checkpoint=tmp_path / "ck.gnet")  # fmt: skip
