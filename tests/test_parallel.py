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
    """Every test starts with no count chosen and leaves none behind (and the BLAS pool as it found it)."""
    monkeypatch.delenv(parallel.ENV_VAR, raising=False)
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


def test_by_default_glassnet_uses_every_core_it_may_and_leaves_blas_alone(monkeypatch):
    before = _blas_threads()
    monkeypatch.setattr(parallel, "available_cores", lambda: 3)
    assert gn.get_num_threads() == 3
    assert _blas_threads() == before


def test_mpi_ranks_on_one_machine_share_its_cores(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 8)
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "3")
    assert gn.get_num_threads() == 2  # 8 cores // 3 ranks
    parallel._reset()
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "16")
    assert gn.get_num_threads() == 1


def test_ranks_bound_to_their_own_cores_keep_them(monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity here")
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    monkeypatch.setattr(parallel, "available_cores", lambda: 8)  # mpirun bound this rank to 8 of 32 cores
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "4")
    assert gn.get_num_threads() == 8


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


def test_set_num_threads_sets_the_blas_pool_too_and_reset_gives_it_back():
    before = _blas_threads()
    gn.set_num_threads(1)
    assert _blas_threads() == [1] * len(before)
    gn.set_num_threads(2)
    assert _blas_threads() == [2] * len(before)
    parallel._reset()
    assert _blas_threads() == before


def test_own_threads_holds_blas_at_one_thread_and_puts_it_back():
    before = _blas_threads()
    with parallel.own_threads():
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


def test_without_threadpoolctl_glassnet_cannot_hold_blas_and_trains_on_one_thread(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # the import fails, as when it is not installed
    monkeypatch.setattr(parallel, "_blas", None)
    gn.set_num_threads(2)  # an explicit count is honoured still
    assert gn.get_num_threads() == 2 and not parallel.can_hold_blas()
    with parallel.own_threads():  # nothing to hold: a plain context
        pass
    from glassnet.training import replicas_for

    assert replicas_for(gn.Sequential(gn.Linear(2, 2, rng=0)), gn.MSELoss()) is None


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


def test_run_blocks_runs_every_block_and_returns_the_results_in_order():
    gn.set_num_threads(3)
    blocks = parallel.row_blocks(10, threads=3, grain=1)
    assert parallel.run_blocks(lambda lo, hi: list(range(lo, hi)), blocks) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_an_error_in_a_worker_reaches_the_caller():
    gn.set_num_threads(2)

    def block(lo, hi):
        if lo > 0:
            raise RuntimeError("second block failed")

    with pytest.raises(RuntimeError, match="second block failed"):
        parallel.run_blocks(block, [(0, 5), (5, 10)])


def test_every_block_runs_under_the_callers_errstate():
    gn.set_num_threads(2)
    with np.errstate(over="raise"):
        seen = parallel.run_blocks(lambda lo, hi: np.geterr()["over"], [(0, 1), (1, 2)])
    assert seen == ["raise", "raise"]


def test_blocks_started_inside_a_block_run_there():
    gn.set_num_threads(2)
    x = np.arange(200.0)
    y = np.empty_like(x)

    def outer(lo, hi):  # each block starts blocks of its own: they must not wait on the busy pool
        half = (lo + hi) // 2

        def inner(a, b):
            np.multiply(x[a:b], 3.0, out=y[a:b])

        parallel.run_blocks(inner, [(lo, half), (half, hi)])

    parallel.run_blocks(outer, [(0, 100), (100, 200)])
    assert np.array_equal(y, 3.0 * x)


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
    halves = [(0, 50_000), (50_000, 100_000)]
    parallel.run_blocks(lambda lo, hi: np.add(x[lo:hi], 1.0, out=y[lo:hi]), halves)  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: the parent's worker threads are gone; a split pass must not wait for them
        try:
            parallel.run_blocks(lambda lo, hi: np.add(x[lo:hi], 2.0, out=y[lo:hi]), halves)
            os._exit(0 if np.array_equal(y, x + 2.0) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
