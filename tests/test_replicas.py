"""Data parallelism inside one process (glassnet.replicas): any thread count trains as one thread does."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet import parallel
from glassnet.datasets.text import windows
from glassnet.replicas import Replicas, can_split, split_pays
from glassnet.text_training import TextRecipe, train_steps
from glassnet.training import replicas_for


@pytest.fixture(autouse=True)
def _threads_afresh():
    parallel._reset()
    yield
    parallel._reset()


def _cnn(rng):
    return gn.Sequential(
        gn.Conv2d(1, 4, 3, padding=1, rng=rng, dtype=np.float64),
        gn.BatchNorm2d(4, dtype=np.float64),
        gn.ReLU(),
        gn.MaxPool2d(2),
        gn.Flatten(),
        gn.Linear(4 * 4 * 4, 3, rng=rng, dtype=np.float64),
    )


def _lstm(rng):
    return gn.Sequential(
        gn.Embedding(7, 5, rng=rng, dtype=np.float64),
        gn.LSTM(5, 6, rng=rng, dtype=np.float64),
        gn.Linear(6, 7, rng=rng, dtype=np.float64),
    )


def _gpt(rng):
    return gn.models.gpt(7, 6, n_layer=1, n_head=2, n_embd=8, rng=rng, dtype=np.float64)


def _batch(name, n):
    rng = np.random.default_rng(1)
    if name == "cnn":
        return rng.standard_normal((n, 1, 8, 8)), rng.integers(0, 3, n)
    return rng.integers(0, 7, (n, 6)), rng.integers(0, 7, (n, 6))


MODELS = {"cnn": _cnn, "lstm": _lstm, "gpt": _gpt}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("threads", [2, 3])
def test_the_threads_gradients_sum_to_the_whole_batchs(name, threads):
    x, y = _batch(name, 7)  # 7 rows: shares of 4 and 3, or 3, 2 and 2
    model = MODELS[name](np.random.default_rng(0))
    model.train()
    loss = gn.CrossEntropyLoss()
    value = loss.forward(model(x), y)
    model.zero_grad()
    model.backward(loss.backward())
    expected = [p.grad.copy() for p in model.parameters()]
    replicas = Replicas(model, gn.CrossEntropyLoss(), threads)
    for p in model.parameters():
        p.grad[...] = 7.0  # the step overwrites the gradients: no zero_grad needed
    got, outputs = replicas.step(x, y)
    replicas.close()
    assert got == pytest.approx(value, abs=1e-12)
    assert [len(o) for o in outputs] == [len(b) for b in np.array_split(np.arange(7), threads)]
    for p, g in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad, g, rtol=0, atol=1e-12)
    for replica in replicas.models[1:]:  # the weights are shared, not copied
        assert all(q.data is p.data for p, q in zip(model.parameters(), replica.parameters()))
    assert all(m.sync is None for m in model.modules() if m.batch_statistics)


def _lm_run(threads, build):
    gn.set_num_threads(threads)
    s = TextRecipe(
        build=lambda v, c, seed: build(np.random.default_rng(seed)),
        optimizer=lambda m, s: gn.AdamW(m.parameters(), lr=s.lr),
        steps=6, batch_size=5, context=6, lr=3e-3, min_lr=3e-4, warmup_steps=1, eval_interval=3, eval_batches=1,
    )  # fmt: skip
    model = s.build(7, 6, 0)
    tokens = np.random.default_rng(2).integers(0, 7, 300)
    log = train_steps(model, windows(tokens, 6), None, s.optimizer(model, s), s, seed=4, report=None)
    return log.losses, [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("build", [_gpt, _lstm], ids=["gpt", "lstm"])
def test_the_language_model_loop_on_2_threads_repeats_and_equals_one_thread(build):
    one = _lm_run(1, build)
    two, again = _lm_run(2, build), _lm_run(2, build)
    assert two[0] == again[0] and all(np.array_equal(a, b) for a, b in zip(two[1], again[1]))
    np.testing.assert_allclose(two[0], one[0], rtol=0, atol=1e-12)
    for a, b in zip(two[1], one[1]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_layers_that_draw_for_their_rows_only_and_observed_layers_are_not_split():
    gn.set_num_threads(2)
    rng = np.random.default_rng(0)
    loss = gn.CrossEntropyLoss()
    plain = gn.Sequential(gn.Linear(3, 4, rng=rng), gn.LayerNorm(4), gn.ReLU(), gn.Linear(4, 2, rng=rng))
    assert can_split(plain) and replicas_for(plain, loss) is not None
    dropout = gn.Sequential(gn.Linear(3, 4, rng=rng), gn.Dropout(0.5, rng=rng), gn.Linear(4, 2, rng=rng))
    assert can_split(dropout)  # it draws the whole batch's mask in every thread

    class Noise(gn.Module):  # a random layer of one's own, which draws for its rows only
        stochastic = True

        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(0)

        def forward(self, x):
            return x + self.rng.normal(size=x.shape)

        def backward(self, dy):
            return dy

    own = gn.Sequential(gn.Linear(3, 4, rng=rng), Noise(), gn.Linear(4, 2, rng=rng))
    assert not can_split(own) and replicas_for(own, loss) is None
    plain[1].forward = plain[1].forward  # an observer replaces forward on the object: a copy would share it
    assert not can_split(plain)
    gn.set_num_threads(1)
    assert replicas_for(gn.Sequential(gn.Linear(3, 2, rng=rng)), loss) is None


def test_an_error_in_one_thread_is_raised_and_leaves_no_thread_waiting():
    model = _cnn(np.random.default_rng(0))
    model.train()
    replicas = Replicas(model, gn.CrossEntropyLoss(), 2)
    x, y = _batch("cnn", 8)
    y[6] = 9  # a label past the 3 classes, in the second thread's share only: it fails after BatchNorm's sums
    with pytest.raises(ValueError, match="9"):
        replicas.step(x, y)
    y[6] = 1
    value, _ = replicas.step(x, y)  # the threads go on: nothing is left waiting on the barrier
    assert np.isfinite(value)


def _noisy(rng):
    return gn.Sequential(
        gn.RandomShift(1, rng=rng),
        gn.RandomHorizontalFlip(rng=rng),
        gn.Flatten(),
        gn.Linear(64, 16, rng=rng, dtype=np.float64),
        gn.Dropout(0.4, rng=rng),
        gn.ReLU(),
        gn.Linear(16, 3, rng=rng, dtype=np.float64),
    )


def _fit(threads, x, y):
    gn.set_num_threads(threads)
    model = _noisy(np.random.default_rng(0))
    history = model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=1e-2),
                        epochs=3, batch_size=10, seed=3, verbose=0)  # fmt: skip
    return history["loss"], [p.data.copy() for p in model.parameters()], model


def test_dropout_and_augmentation_draw_the_masks_of_one_thread_on_any_count():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((25, 1, 8, 8)), rng.integers(0, 3, 25)  # 25 = 2 x 10 + a last batch of 5
    one_loss, one, one_model = _fit(1, x, y)
    assert can_split(one_model)
    for threads in (2, 3, 7):  # 7: more threads than the last batch's rows... and than a share of 10
        loss, params, model = _fit(threads, x, y)
        np.testing.assert_allclose(loss, one_loss, rtol=0, atol=1e-12)
        for a, b in zip(params, one):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
        for a, b in zip(model.modules(), one_model.modules()):  # the generators end where one thread's do
            if a.stochastic:
                assert a.rng.bit_generator.state == b.rng.bit_generator.state


def test_a_model_of_products_and_light_passes_alone_trains_on_the_blas_pools_threads():
    gn.set_num_threads(2)
    rng = np.random.default_rng(0)
    loss = gn.CrossEntropyLoss()
    mlp = gn.Sequential(gn.Flatten(), gn.Linear(4, 8, rng=rng), gn.BatchNorm1d(8), gn.ReLU(), gn.Dropout(0.2, rng=rng),
                        gn.Linear(8, 2, rng=rng))  # fmt: skip
    assert can_split(mlp) and not split_pays(mlp) and replicas_for(mlp, loss) is None
    cnn = _cnn(rng)
    assert split_pays(cnn) and replicas_for(cnn, loss) is not None
