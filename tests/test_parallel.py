"""glassnet.parallel: the thread policy, the row-block helpers, and numbers that do not depend on the thread count."""

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet import parallel


@pytest.fixture(autouse=True)
def fresh_policy(monkeypatch):
    """Every test starts with no count chosen and leaves none behind (and the BLAS pool as it found it).

    The grains are made small, so that arrays of test size are split as a large one is.
    """
    monkeypatch.delenv(parallel.ENV_VAR, raising=False)
    monkeypatch.setattr(parallel, "GRAIN", 16_384)
    monkeypatch.setattr(parallel, "MATMUL_GRAIN", 1 << 16)
    parallel._reset()
    yield
    parallel._reset()


def _blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


# --- the policy -------------------------------------------------------------------------------


def test_set_and_get_num_threads_are_exported_and_round_trip():
    gn.set_num_threads(3)
    assert gn.get_num_threads() == 3
    gn.set_num_threads(np.int64(1))
    assert gn.get_num_threads() == 1


def test_by_default_glassnet_runs_one_thread_and_leaves_blas_alone(monkeypatch):
    before = _blas_threads()
    assert gn.get_num_threads() == 1
    assert _blas_threads() == before


def test_available_cores_is_the_cpu_affinity(monkeypatch):
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # as under taskset -c 0
        assert parallel.available_cores() == 1
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5})
    else:
        monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert parallel.available_cores() == 3


def test_environment_variable_sets_the_default(monkeypatch):
    monkeypatch.setenv("GLASSNET_NUM_THREADS", " 5 ")
    assert gn.get_num_threads() == 5
    gn.set_num_threads(2)  # an explicit call wins
    assert gn.get_num_threads() == 2


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_a_bad_environment_variable_is_named(monkeypatch, text):
    monkeypatch.setenv("GLASSNET_NUM_THREADS", text)
    with pytest.raises(
        ValueError, match=f"GLASSNET_NUM_THREADS must be a positive integer. Received: GLASSNET_NUM_THREADS='{text}'"
    ):
        gn.get_num_threads()


@pytest.mark.parametrize("n", [0, -1])
def test_set_num_threads_refuses_counts_below_one(n):
    with pytest.raises(ValueError, match=f"n must be a positive integer. Received: n={n}"):
        gn.set_num_threads(n)


@pytest.mark.parametrize("n", [True, 2.0, "2", None])
def test_set_num_threads_refuses_non_integers(n):
    with pytest.raises(TypeError, match="n must be a positive integer. Received: n="):
        gn.set_num_threads(n)


def test_the_blas_pool_is_held_at_one_thread_and_given_back():
    before = _blas_threads()
    gn.set_num_threads(2)
    assert _blas_threads() == [1] * len(before)
    parallel._reset()
    assert _blas_threads() == before


def test_without_threadpoolctl_the_default_is_one_thread_and_blas_is_left_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # the import fails, as when it is not installed
    assert gn.get_num_threads() == 1
    gn.set_num_threads(2)  # an explicit count is honoured still
    assert gn.get_num_threads() == 2


# --- the helpers ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(0, 5000), row_size=st.integers(1, 100_000), threads=st.integers(1, 8))
def test_row_blocks_cover_the_rows_in_order_with_at_least_a_grain_each(rows, row_size, threads):
    blocks = parallel.row_blocks(rows, row_size, threads=threads)
    assert blocks[0][0] == 0 and blocks[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    assert 1 <= len(blocks) <= max(1, threads)
    sizes = [hi - lo for lo, hi in blocks]
    assert max(sizes) - min(sizes) <= 1
    if len(blocks) > 1:
        assert min(sizes) * row_size >= parallel.GRAIN
    assert parallel.row_blocks(rows, row_size, threads=threads) == blocks


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_parallel_for_gives_the_same_bits_as_one_call(threads):
    gn.set_num_threads(threads)
    x = np.random.default_rng(0).standard_normal((1000, 300))
    y = np.empty_like(x)
    parallel.parallel_for(lambda lo, hi: np.tanh(x[lo:hi], out=y[lo:hi]), len(x), row_size=x.shape[1])
    assert np.array_equal(y, np.tanh(x))


def test_parallel_sum_adds_blocks_in_order_and_repeats_bit_for_bit():
    x = np.random.default_rng(1).standard_normal((20_000, 7))
    gn.set_num_threads(1)
    one = parallel.parallel_sum(lambda lo, hi: x[lo:hi].sum(axis=0), len(x), row_size=7)
    assert np.array_equal(one, x.sum(axis=0))
    gn.set_num_threads(3)
    blocks = parallel.row_blocks(len(x), 7)
    assert len(blocks) == 3
    three = parallel.parallel_sum(lambda lo, hi: x[lo:hi].sum(axis=0), len(x), row_size=7)
    in_order = x[slice(*blocks[0])].sum(axis=0) + x[slice(*blocks[1])].sum(axis=0) + x[slice(*blocks[2])].sum(axis=0)
    assert np.array_equal(three, in_order)
    for _ in range(5):
        assert np.array_equal(parallel.parallel_sum(lambda lo, hi: x[lo:hi].sum(axis=0), len(x), row_size=7), three)
    np.testing.assert_allclose(three, one, rtol=1e-12, atol=1e-12)  # a sum of 20,000 terms near 260: rounding


def test_elementwise_splits_contiguous_arrays_and_runs_others_whole():
    gn.set_num_threads(3)
    x = np.random.default_rng(2).standard_normal((400, 500))
    calls = []

    def block(xb, yb):
        calls.append(xb.size)
        np.exp(xb, out=yb)

    y = np.empty_like(x)
    parallel.elementwise(block, x, y)
    assert np.array_equal(y, np.exp(x)) and len(calls) == 3 and sum(calls) == x.size
    calls.clear()
    xt, yt = x.T, np.empty_like(x.T)  # not C-contiguous: one call on the whole
    parallel.elementwise(block, xt, yt)
    assert calls == [x.size] and np.array_equal(yt, np.exp(xt))


def test_parallel_items_runs_every_item_once():
    gn.set_num_threads(3)
    sizes = [50_000, 10, 70_000, 5, 5, 40_000, 90_000]
    seen = []
    parallel.parallel_items(seen.append, sizes)  # list.append is atomic under the GIL
    assert sorted(seen) == list(range(len(sizes)))


def test_matmul_splits_rows_and_equals_one_product():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 150))
    gn.set_num_threads(1)
    one = parallel.matmul(a, b)
    for threads in (2, 3):
        gn.set_num_threads(threads)
        assert len(parallel.row_blocks(300, 200 * 150)) == threads
        np.testing.assert_allclose(parallel.matmul(a, b), one, rtol=0, atol=1e-12)
        c = rng.standard_normal((300, 400))  # a transposed operand, as Linear's dW = x.T @ dy
        np.testing.assert_allclose(parallel.matmul(a.T, c), a.T @ c, rtol=0, atol=1e-12)


def test_an_error_in_a_worker_reaches_the_caller():
    gn.set_num_threads(2)

    def block(lo, hi):
        if lo > 0:
            raise RuntimeError("second block failed")

    with pytest.raises(RuntimeError, match="second block failed"):
        parallel.parallel_for(block, 100_000)


def test_a_pass_started_inside_a_worker_runs_there():
    gn.set_num_threads(2)
    x = np.arange(200_000.0)
    y = np.empty_like(x)

    def outer(lo, hi):  # each block starts a split pass of its own: it must not wait on the busy pool
        parallel.parallel_for(lambda a, b: np.multiply(x[lo + a : lo + b], 3.0, out=y[lo + a : lo + b]), hi - lo)

    parallel.parallel_for(outer, len(x))
    assert np.array_equal(y, 3.0 * x)


# --- the layers and optimizers that split their passes ---------------------------------------

LAYERS = {
    "ReLU": gn.ReLU,
    "ReLU(inplace)": lambda: gn.ReLU(inplace=True),
    "Sigmoid": gn.Sigmoid,
    "Tanh": gn.Tanh,
    "GELU": gn.GELU,
    "GELU(tanh)": lambda: gn.GELU(approximate="tanh"),
}


def _layer_pass(make, threads, dtype):
    gn.set_num_threads(threads)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 16, 9, 11)).astype(dtype)  # 101,376 elements: 3 blocks at 3 threads
    dy = rng.standard_normal(x.shape).astype(dtype)
    layer = make()
    y = layer(x.copy()).copy()
    return y, layer.backward(dy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LAYERS))
def test_activations_give_the_same_bits_on_1_2_and_3_threads(name, dtype):
    y1, dx1 = _layer_pass(LAYERS[name], 1, dtype)
    for threads in (2, 3):
        y, dx = _layer_pass(LAYERS[name], threads, dtype)
        assert y.dtype == dx.dtype == dtype
        assert np.array_equal(y, y1) and np.array_equal(dx, dx1)


PRODUCT_LAYERS = {
    "Linear": (lambda: gn.Linear(70, 90, rng=0, dtype=np.float64), (40, 6, 70)),
    "Conv2d": (lambda: gn.Conv2d(5, 12, 3, padding=1, rng=0, dtype=np.float64), (16, 5, 20, 20)),
    "Conv2d(stride 2, no padding)": (lambda: gn.Conv2d(4, 8, 3, stride=2, rng=0, dtype=np.float64), (16, 4, 21, 21)),
    # (N, T, F): the products over all steps and the batch rows of the time loop are large enough to split
    "RNN": (lambda: gn.RNN(30, 40, rng=0, dtype=np.float64), (24, 10, 30)),
    "LSTM": (lambda: gn.LSTM(30, 40, rng=0, dtype=np.float64), (24, 10, 30)),
    "GRU": (lambda: gn.GRU(30, 40, rng=0, dtype=np.float64), (24, 10, 30)),
}


def _product_pass(name, threads):
    gn.set_num_threads(threads)
    make, shape = PRODUCT_LAYERS[name]
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    layer = make()
    y = layer(x).copy()
    dx = layer.backward(rng.standard_normal(y.shape))
    return [y, dx] + [p.grad.copy() for p in layer.parameters()]


@pytest.mark.parametrize("name", list(PRODUCT_LAYERS))
def test_layers_with_split_products_repeat_bit_for_bit_and_equal_one_thread(name):
    one = _product_pass(name, 1)
    for threads in (2, 3):
        first, again = _product_pass(name, threads), _product_pass(name, threads)
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
        for a, b in zip(first, one):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [gn.Adam, gn.AdamW])
def test_adam_steps_give_the_same_bits_on_1_2_and_3_threads(cls):
    def run(threads):
        gn.set_num_threads(threads)
        rng = np.random.default_rng(5)
        model = gn.Sequential(
            gn.Linear(300, 200, rng=rng, dtype=np.float64), gn.Linear(200, 250, rng=rng, dtype=np.float64)
        )
        opt = cls(model.parameters(), lr=1e-2, weight_decay=0.1)
        for _ in range(3):
            for p in model.parameters():
                p.grad[...] = rng.standard_normal(p.grad.shape)
            opt.step()
        return [p.data.copy() for p in model.parameters()]

    one = run(1)
    for threads in (2, 3):
        assert all(np.array_equal(a, b) for a, b in zip(run(threads), one))


# --- whole training runs ------------------------------------------------------------------------


def _mlp(rng):
    return gn.Sequential(
        gn.Linear(20, 600, rng=rng, dtype=np.float64),
        gn.ReLU(),
        gn.Linear(600, 600, rng=rng, dtype=np.float64),
        gn.Tanh(),
        gn.Linear(600, 3, rng=rng, dtype=np.float64),
    )


def _cnn(rng):
    return gn.Sequential(
        gn.Conv2d(
            1, 8, 3, padding=1, bias=False, rng=rng, dtype=np.float64
        ),  # a bias before BatchNorm gets only rounding noise
        gn.BatchNorm2d(8, dtype=np.float64),
        gn.ReLU(),
        gn.MaxPool2d(2),
        gn.Flatten(),
        gn.Linear(8 * 12 * 12, 3, rng=rng, dtype=np.float64),
        gn.GELU(),
        gn.Linear(3, 3, rng=rng, dtype=np.float64),
    )


def _train(make, shape, threads):
    gn.set_num_threads(threads)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((256, *shape))
    y = rng.integers(0, 3, 256)
    model = make(np.random.default_rng(7))
    history = model.fit(
        x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=1e-3),
        epochs=2, batch_size=128, seed=0, verbose=0,
    )  # fmt: skip
    return history["loss"], [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("make,shape", [(_mlp, (20,)), (_cnn, (1, 24, 24))], ids=["mlp", "cnn"])
def test_fit_repeats_bit_for_bit_and_any_thread_count_equals_one_thread(make, shape):
    assert len(parallel.row_blocks(128 * 600, threads=2)) == 2  # the activations are large enough to split
    loss1, params1 = _train(make, shape, 1)
    for threads in (2, 3):
        loss, params = _train(make, shape, threads)
        again_loss, again = _train(make, shape, threads)
        assert loss == again_loss and all(np.array_equal(a, b) for a, b in zip(params, again))
        np.testing.assert_allclose(loss, loss1, rtol=0, atol=1e-12)
        for a, b in zip(params, params1):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12 warns about fork in a threaded process
def test_a_forked_child_starts_its_own_workers():
    gn.set_num_threads(2)
    x = np.arange(100_000.0)
    y = np.empty_like(x)
    parallel.parallel_for(lambda lo, hi: np.add(x[lo:hi], 1.0, out=y[lo:hi]), len(x))  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: the parent's worker threads are gone; a split pass must not wait for them
        try:
            parallel.parallel_for(lambda lo, hi: np.add(x[lo:hi], 2.0, out=y[lo:hi]), len(x))
            os._exit(0 if np.array_equal(y, x + 2.0) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
