"""glassnet's threads: how many cores it uses, and how it runs its work on them.

One place decides the count: ``set_num_threads(n)``, else the environment variable
``GLASSNET_NUM_THREADS``, else every core the process may use (``available_cores()``:
its CPU affinity, so ``taskset -c 0`` means one), as PyTorch does, shared among the MPI
ranks that mpirun started on the machine.

The count is used two ways, each where it was measured to pay (benchmarks/README.md):

- a training step of a model that can be split (``glassnet.replicas``), and predict on
  a large batch, run their shares of the batch on that many threads at once, each
  thread with one BLAS thread (``own_threads()`` holds the BLAS pool at one for the
  step: OpenBLAS's idle workers spin after every product, and would hold the core a
  glassnet thread needs);
- everything else (a generated token, a model that cannot be split, your own NumPy
  code) runs on the calling thread with the BLAS pool's threads, which split large
  products better than Python threads do. ``set_num_threads(n)`` sets that pool to
  ``n`` threads too; without it, the pool is left as NumPy set it.

NumPy releases the GIL inside its loops and products, so Python threads are enough.
The BLAS pool is set through threadpoolctl; without it glassnet cannot bound the pool
while its own threads run, and runs everything on the calling thread.

Example:
    >>> import numpy as np
    >>> from glassnet import parallel
    >>> x = np.arange(12.0)
    >>> parallel.run_blocks(lambda lo, hi: float(x[lo:hi].sum()), parallel.row_blocks(12, threads=2, grain=1))
    [15.0, 51.0]
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from glassnet._checks import short

__all__ = [
    "GRAIN",
    "set_num_threads",
    "get_num_threads",
    "available_cores",
    "can_hold_blas",
    "own_threads",
    "inside_worker",
    "row_blocks",
    "run_blocks",
]

# Rows a block must hold before row_blocks splits: handing a block to a Python thread and waiting for it
# costs tens of microseconds (PyTorch's OpenMP threads start a block in about one, hence its 32,768).
GRAIN = 131_072
ENV_VAR = "GLASSNET_NUM_THREADS"

_lock = threading.Lock()
_threads: int | None = None  # None until first asked for: then the environment or the affinity decides
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas: Any = None  # threadpoolctl's controller of the BLAS libraries loaded, made on first use; False: none
_blas_limit: Any = None  # the limit set_num_threads put on the BLAS pool
_held = 0  # own_threads contexts open now, in any thread
_held_limit: Any = None  # the limit the first of them set (the last one out restores it)
_inside = threading.local()  # set in a worker: a pass it starts runs inline, never waits on its own pool


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: start a pool afresh there when one is needed,
    and give the BLAS pool back its threads if a parent's thread held it at one."""
    global _lock, _pool, _pool_size, _held, _held_limit
    _lock = threading.Lock()
    _pool, _pool_size = None, 0
    if _held_limit is not None:
        _held_limit.restore_original_limits()
    _held, _held_limit = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def available_cores() -> int:
    """The number of cores this process may run on: its CPU affinity where the system has one."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _check_count(n: Any, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer. Received: {name}={short(n)}")
    if n <= 0:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={short(n)}")
    return int(n)


def _from_environment() -> int | None:
    text = os.environ.get(ENV_VAR)
    if text is None or not text.strip():
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{ENV_VAR} must be a positive integer. Received: {ENV_VAR}={short(text)}") from None
    if value <= 0:
        raise ValueError(f"{ENV_VAR} must be a positive integer. Received: {ENV_VAR}={short(text)}")
    return value


def _blas_controller() -> Any:
    """threadpoolctl's controller of the BLAS pools, or None without threadpoolctl (made once)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
        else:
            _blas = ThreadpoolController().select(user_api="blas")
    return _blas or None


def can_hold_blas() -> bool:
    """Whether glassnet can bound the BLAS pool (threadpoolctl is installed): its own threads need it."""
    return _blas_controller() is not None


@contextlib.contextmanager
def own_threads() -> Iterator[None]:
    """The BLAS pool at one thread while glassnet runs its own threads (each calls BLAS); put back after.

    A context of a few microseconds: ``glassnet.replicas`` enters it for every training step. Contexts
    open in several threads at once share one hold: the pool gets its threads back when the last ends.
    """
    global _held, _held_limit
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with _lock:
        if _held == 0:
            _held_limit = controller.limit(limits=1)
        _held += 1
    try:
        yield
    finally:
        with _lock:
            _held -= 1
            if _held == 0 and _held_limit is not None:
                _held_limit.restore_original_limits()
                _held_limit = None


def inside_worker() -> bool:
    """Whether this thread is running a block of ``run_blocks`` (blocks it starts run inline)."""
    return bool(getattr(_inside, "active", False))


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for glassnet's work, as ``torch.set_num_threads``: its own threads and the BLAS pool.

    Args:
        n: a positive integer; it may exceed the cores available (the threads then share them).

    Example:
        >>> import glassnet as gn
        >>> before = gn.get_num_threads()
        >>> gn.set_num_threads(1); gn.get_num_threads()
        1
        >>> gn.set_num_threads(before)
    """
    global _threads, _blas_limit
    n = _check_count(n, "n")
    with _lock:
        _threads = n
        controller = _blas_controller()
        if controller is not None:
            if _blas_limit is None:  # the pool as it was before the first call: what _reset puts back
                _blas_limit = controller.limit(limits=n)
            else:
                controller.limit(limits=n)


def _ranks_on_this_machine() -> int:
    """How many MPI ranks mpirun started on this machine (Open MPI's and MPICH's variables), else 1.

    1 as well when mpirun bound this rank to a part of the machine: its affinity is its share already.
    """
    if hasattr(os, "sched_getaffinity") and available_cores() < (os.cpu_count() or 1):
        return 1
    for name in ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"):
        text = os.environ.get(name, "")
        if text.isdigit() and int(text) > 0:
            return int(text)
    return 1


def get_num_threads() -> int:
    """The number of threads glassnet runs its work on (see the module's docstring for the default).

    By default every core the process may use, shared among the MPI ranks on this machine
    (``mpirun -n 2`` on 2 cores: one thread each).
    """
    global _threads
    if _threads is None:
        with _lock:
            if _threads is None:
                _threads = _from_environment() or max(1, available_cores() // _ranks_on_this_machine())
    return _threads


def _reset() -> None:
    """Forget the chosen count and give the BLAS pool back (tests use it to start afresh)."""
    global _threads, _pool, _pool_size, _blas_limit
    with _lock:
        _threads = None
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool, _pool_size = None, 0
        if _blas_limit is not None:
            _blas_limit.restore_original_limits()
            _blas_limit = None


def _workers(count: int) -> ThreadPoolExecutor:
    """The persistent pool, created on first use with ``count - 1`` workers (the caller is the other)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < count - 1:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(max_workers=count - 1, thread_name_prefix="glassnet")
            _pool_size = count - 1
        return _pool


def row_blocks(
    rows: int, row_size: int = 1, grain: int | None = None, threads: int | None = None
) -> list[tuple[int, int]]:
    """Split ``rows`` rows of ``row_size`` elements into at most ``threads`` contiguous blocks.

    Each block holds at least ``grain`` elements (one block when the whole is smaller),
    and the blocks differ by at most one row. The split depends only on the arguments,
    never on timing.

    Example:
        >>> from glassnet.parallel import row_blocks
        >>> row_blocks(10, row_size=200_000, threads=3)
        [(0, 4), (4, 7), (7, 10)]
        >>> row_blocks(10, row_size=10, threads=3)
        [(0, 10)]
    """
    threads = get_num_threads() if threads is None else threads
    grain = GRAIN if grain is None else grain
    if rows <= 0:
        return [(0, max(rows, 0))]
    per_block = max(1, -(-grain // max(row_size, 1)))  # rows needed to reach the grain
    count = max(1, min(threads, rows // per_block, rows))
    base, extra = divmod(rows, count)
    bounds, lo = [], 0
    for b in range(count):
        hi = lo + base + (1 if b < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def run_blocks(fn: Callable[[int, int], Any], blocks: Sequence[tuple[int, int]]) -> list[Any]:
    """``fn(lo, hi)`` on each block at once, the first on the calling thread; the results in block order.

    Every block runs, and then the first error raised is re-raised. Each runs in the caller's
    context (``np.errstate`` included). Blocks started from inside a block run inline in its
    thread, so calls nest without waiting on their own pool.
    ``glassnet.replicas`` runs its shares of a batch with it.
    """
    if len(blocks) == 1 or getattr(_inside, "active", False):
        return [fn(lo, hi) for lo, hi in blocks]
    pool = _workers(max(len(blocks), get_num_threads()))  # one size for every caller: no pool is swapped under another

    def in_worker(lo: int, hi: int) -> Any:
        _inside.active = True
        try:
            return fn(lo, hi)
        finally:
            _inside.active = False

    # each block runs in a copy of the caller's context: np.errstate and other context variables hold there too
    futures: list[Future[Any]] = [
        pool.submit(contextvars.copy_context().run, in_worker, lo, hi) for lo, hi in blocks[1:]
    ]
    try:
        first = in_worker(*blocks[0])
    finally:
        rest = [f.result() for f in futures]  # waits for every block, and raises the first error
    return [first, *rest]
