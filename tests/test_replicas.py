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


# --- the edges: what must not be split, and what splitting must survive ----------------------


def _bn1d(rng):
    return gn.Sequential(
        gn.Conv2d(1, 2, 3, bias=False, rng=rng, dtype=np.float64), gn.Flatten(),
        gn.Linear(8, 4, bias=False, rng=rng, dtype=np.float64),  # a bias before BatchNorm: its gradient is noise
        gn.BatchNorm1d(4, dtype=np.float64), gn.ReLU(), gn.Linear(4, 2, rng=rng, dtype=np.float64),
    )  # fmt: skip


def _fit_with(threads, make, x, y, **kwargs):
    gn.set_num_threads(threads)
    model = make(np.random.default_rng(0))
    history = model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=1e-2),
                        seed=0, verbose=0, **kwargs)  # fmt: skip
    return history["loss"], [p.data.copy() for p in model.parameters()]


def _assert_close(a, b):
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-12)
    for p, q in zip(a[1], b[1]):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_size", [2, 3, 5])
def test_batchnorm1d_gets_two_rows_in_every_share(batch_size):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 1, 4, 4)), rng.integers(0, 2, 7)  # the last batch of 5 has 2 rows
    one = _fit_with(1, _bn1d, x, y, epochs=2, batch_size=batch_size)
    _assert_close(_fit_with(3, _bn1d, x, y, epochs=2, batch_size=batch_size), one)


class _Center(gn.Module):
    """A layer of one's own that mixes the rows of a batch: a share of it would compute something else."""

    def forward(self, x):
        return x - x.mean(axis=0)

    def backward(self, dy):
        return dy - dy.mean(axis=0)


def test_a_layer_of_your_own_is_never_split():
    def make(rng):
        return gn.Sequential(gn.Conv2d(1, 2, 3, rng=rng, dtype=np.float64), gn.Flatten(), _Center(),
                             gn.Linear(8, 2, rng=rng, dtype=np.float64))  # fmt: skip

    assert not can_split(make(np.random.default_rng(0)))
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 1, 4, 4)), rng.integers(0, 2, 8)
    one = _fit_with(1, make, x, y, epochs=2, batch_size=8)
    two = _fit_with(2, make, x, y, epochs=2, batch_size=8)
    assert one[0] == two[0] and all(np.array_equal(a, b) for a, b in zip(one[1], two[1]))


def test_a_loss_of_your_own_is_never_split():
    class Mean(gn.CrossEntropyLoss):
        pass

    model = _cnn(np.random.default_rng(0))
    assert can_split(model, gn.CrossEntropyLoss()) and not can_split(model, Mean())


def test_a_recurrent_layer_given_a_state_for_the_batch_is_not_split():
    model = _lstm(np.random.default_rng(0))
    assert can_split(model)
    model[1].initial_state = (np.zeros((4, 6)), np.zeros((4, 6)))
    assert not can_split(model)
    model[1].initial_state = None
    model[1].use_cache(True)  # stateful: the state carried from the last batch
    assert not can_split(model)


def test_a_mode_set_on_the_model_after_the_copies_were_made_reaches_every_thread():
    model = _cnn(np.random.default_rng(0))
    model.train()
    replicas = Replicas(model, gn.CrossEntropyLoss(), 2)  # copies made computing dL/dx
    model.set_input_grad(False)  # as fit and the language-model loop do
    x, y = _batch("cnn", 8)
    replicas.step(x, y)
    for master, twin in zip(model.modules(), replicas.models[1].modules()):
        assert (twin.training, twin.input_grad) == (master.training, master.input_grad)
    assert replicas.models[1][0].input_grad is False


def test_training_in_several_python_threads_at_once_never_hangs():
    import threading

    gn.set_num_threads(3)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 1, 8, 8)), rng.integers(0, 3, 16)
    done = []

    def train():
        model = _cnn(np.random.default_rng(0))
        model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters()), epochs=15, batch_size=8,
                  verbose=0)  # fmt: skip
        done.append(1)

    threads = [threading.Thread(target=train, daemon=True) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(done) == 5


def test_a_model_that_cannot_be_copied_trains_on_one_thread():
    import threading

    gn.set_num_threads(2)
    model = _cnn(np.random.default_rng(0))
    model.lock = threading.Lock()  # deepcopy refuses it
    assert replicas_for(model, gn.CrossEntropyLoss()) is None
    x, y = _batch("cnn", 8)
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters()), epochs=1, verbose=0)
    assert np.isfinite(model.predict(x)).all()


def test_own_threads_held_from_two_threads_gives_the_pool_back_when_the_last_ends():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    before = blas()
    a, b = parallel.own_threads(), parallel.own_threads()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert blas() == [1] * len(before)  # b still runs its threads
    b.__exit__(None, None, None)
    assert blas() == before
