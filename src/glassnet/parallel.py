"""glassnet's own threads: how many cores it uses, and the helpers that split a pass over them.

One place decides the thread count: ``set_num_threads(n)``, else the environment
variable ``GLASSNET_NUM_THREADS``, else one thread with the BLAS pool left as NumPy
set it (the behaviour before this module existed). The threaded policy is opt-in
until it is measured on a quiet machine against the BLAS pool's own threads
(``python -m benchmarks.run --scaling``; ``available_cores()`` is the count to ask
for: the CPU affinity, so ``taskset -c 0`` means one). glassnet then runs a large pass as row
blocks over that many threads (NumPy releases the GIL inside its loops and
products, so Python threads are enough) and runs a small one inline: below
``GRAIN`` elements a block costs more to hand over than to compute.

The BLAS pool is set to one thread while glassnet runs its own: OpenBLAS's idle
workers spin for a while after every product, holding the core that glassnet's
second thread needs, so two pools at once are slower than either alone. glassnet
splits its products into row blocks itself (``matmul``). This needs threadpoolctl
(``pip install "glassnet[threads]"``); without it glassnet leaves the BLAS pool as
the environment set it and, unless told a count, runs its own work on one thread,
as before this module existed.

Numbers do not depend on the thread count where a pass is element-wise or a
product split by output rows: each output element is computed by the same
operations whichever block holds it. A reduction split over threads
(``parallel_sum``) adds its blocks' partial results in block order, so a given
thread count gives the same bits run after run, and another count differs only by
rounding.

Example:
    >>> import numpy as np
    >>> from glassnet import parallel
    >>> x = np.arange(100_000, dtype=np.float64)
    >>> y = np.empty_like(x)
    >>> parallel.parallel_for(lambda lo, hi: np.multiply(x[lo:hi], 2.0, out=y[lo:hi]), len(x))
    >>> bool((y == 2 * x).all())
    True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from glassnet._checks import short

__all__ = [
    "GRAIN",
    "MATMUL_GRAIN",
    "set_num_threads",
    "get_num_threads",
    "available_cores",
    "row_blocks",
    "parallel_for",
    "parallel_sum",
    "elementwise",
    "parallel_items",
    "matmul",
]

# Elements a block must hold before a pass is split. PyTorch's is 32,768 (at::internal::GRAIN_SIZE), for
# OpenMP threads that start a block in about a microsecond; handing a block to a Python thread and waiting
# for it costs tens of microseconds, and on 2 cores a split of Adam's update or GELU first paid at about
# 400,000 elements (0.64x at 100,000, 1.2-1.4x at 400,000; benchmarks/README.md).
GRAIN = 131_072
# Multiply-adds a block of a matrix product must hold before the product is split.
MATMUL_GRAIN = 1 << 22
ENV_VAR = "GLASSNET_NUM_THREADS"

_lock = threading.Lock()
_threads: int | None = None  # None until first asked for: then the environment or the affinity decides
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas_limit: Any = None  # threadpoolctl's limiter while glassnet holds BLAS at one thread
_inside = threading.local()  # set in a worker: a pass it starts runs inline, never waits on its own pool


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: start a pool afresh there when one is needed."""
    global _lock, _pool, _pool_size
    _lock = threading.Lock()
    _pool, _pool_size = None, 0


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


def _hold_blas_at_one_thread() -> bool:
    """Cap the BLAS pool at one thread (once); False when threadpoolctl is not installed."""
    global _blas_limit
    if _blas_limit is not None:
        return True
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    _blas_limit = threadpool_limits(limits=1, user_api="blas")
    return True


def _release_blas() -> None:
    global _blas_limit
    if _blas_limit is not None:
        _blas_limit.restore_original_limits()
        _blas_limit = None


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for glassnet's work, as ``torch.set_num_threads``.

    With more than one thread the BLAS pool is held at one thread and glassnet splits
    its own products and large passes over ``n`` threads; with one thread the BLAS
    pool is held at one too, so ``set_num_threads(1)`` means one core.

    Args:
        n: a positive integer; it may exceed the cores available (the threads then share them).

    Example:
        >>> import glassnet as gn
        >>> before = gn.get_num_threads()
        >>> gn.set_num_threads(1); gn.get_num_threads()
        1
        >>> gn.set_num_threads(before)
    """
    global _threads
    n = _check_count(n, "n")
    with _lock:
        _threads = n
        _hold_blas_at_one_thread()


def get_num_threads() -> int:
    """The number of threads glassnet runs its work on (see the module's docstring for the default)."""
    global _threads
    if _threads is None:
        with _lock:
            if _threads is None:
                chosen = _from_environment()
                if chosen is not None:
                    _hold_blas_at_one_thread()
                else:  # not asked: one thread of glassnet's own, and the BLAS pool as NumPy set it, as before
                    chosen = 1
                _threads = chosen
    return _threads


def _reset() -> None:
    """Forget the chosen count and give the BLAS pool back (tests use it to start afresh)."""
    global _threads, _pool, _pool_size
    with _lock:
        _threads = None
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool, _pool_size = None, 0
        _release_blas()


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


def _run(fn: Callable[[int, int], Any], blocks: Sequence[tuple[int, int]]) -> list[Any]:
    """fn on every block, the first in the calling thread; the results in block order."""
    if len(blocks) == 1 or getattr(_inside, "active", False):
        return [fn(lo, hi) for lo, hi in blocks]
    pool = _workers(len(blocks))

    def in_worker(lo: int, hi: int) -> Any:
        _inside.active = True
        try:
            return fn(lo, hi)
        finally:
            _inside.active = False

    futures: list[Future[Any]] = [pool.submit(in_worker, lo, hi) for lo, hi in blocks[1:]]
    try:
        first = in_worker(*blocks[0])
    finally:
        rest = [f.result() for f in futures]  # waits for every block, and raises the first error
    return [first, *rest]


def parallel_for(fn: Callable[[int, int], Any], rows: int, row_size: int = 1, grain: int | None = None) -> None:
    """Call ``fn(lo, hi)`` on row blocks that together cover ``range(rows)``, over glassnet's threads.

    ``fn`` must write only into its own rows: the blocks run at the same time.
    Below ``grain`` elements in all (``rows * row_size``) it is one call in this thread.
    """
    _run(fn, row_blocks(rows, row_size, grain))


def parallel_sum(fn: Callable[[int, int], Any], rows: int, row_size: int = 1, grain: int | None = None) -> Any:
    """``fn(lo, hi)`` over row blocks, and the blocks' results added in block order.

    The fixed order makes the sum the same, bit for bit, every time with the same
    thread count; another thread count changes only its rounding.

    Example:
        >>> import numpy as np
        >>> from glassnet.parallel import parallel_sum
        >>> x = np.ones((50_000, 2))
        >>> parallel_sum(lambda lo, hi: x[lo:hi].sum(axis=0), len(x), row_size=2).tolist()
        [50000.0, 50000.0]
    """
    parts = _run(fn, row_blocks(rows, row_size, grain))
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def elementwise(fn: Callable[..., Any], *arrays: np.ndarray, grain: int | None = None) -> None:
    """``fn(*blocks)`` over matching flat blocks of same-shaped arrays, over glassnet's threads.

    ``fn`` computes one block of its outputs from the same block of its inputs (which
    arrays it reads and which it writes is its own business). When the arrays are not
    all C-contiguous and of one shape, or smaller than the grain, it is one call on the
    whole arrays, so the small case is the plain NumPy code.

    Example:
        >>> import numpy as np
        >>> from glassnet.parallel import elementwise
        >>> x = np.linspace(-1, 1, 5); y = np.empty_like(x)
        >>> elementwise(lambda xb, yb: np.maximum(xb, 0, out=yb), x, y); y
        array([0. , 0. , 0. , 0.5, 1. ])
    """
    shape = arrays[0].shape
    size = arrays[0].size
    grain = GRAIN if grain is None else grain
    if size < 2 * grain or not all(a.shape == shape and a.flags.c_contiguous for a in arrays):
        fn(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]
    parallel_for(lambda lo, hi: fn(*(a[lo:hi] for a in flat)), size, grain=grain)


def parallel_items(fn: Callable[[int], Any], sizes: Sequence[int], grain: int | None = None) -> None:
    """``fn(i)`` for every item ``i``, the items dealt out in contiguous runs of about equal total size.

    For many arrays of different sizes (an optimizer's parameters): each thread takes a
    run of whole items, so no item is split and each is computed as on one thread.

    Example:
        >>> from glassnet.parallel import parallel_items
        >>> seen = []
        >>> parallel_items(seen.append, [10, 20, 30])
        >>> sorted(seen)
        [0, 1, 2]
    """
    total = sum(sizes)
    count = max(1, min(get_num_threads(), total // (GRAIN if grain is None else grain), len(sizes)))
    if count == 1 or getattr(_inside, "active", False):
        for i in range(len(sizes)):
            fn(i)
        return
    runs: list[tuple[int, int]] = []
    lo, acc = 0, 0
    for i, size in enumerate(sizes):  # close a run where the running total passes the next share
        acc += size
        if len(runs) < count - 1 and acc >= total * (len(runs) + 1) / count:
            runs.append((lo, i + 1))
            lo = i + 1
    runs.append((lo, len(sizes)))

    def run_items(a: int, b: int) -> None:
        for i in range(a, b):
            fn(i)

    _run(run_items, [r for r in runs if r[1] > r[0]] or [(0, 0)])


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for a 2-D ``a`` and ``b``, split by rows of ``a`` (and of the result) over glassnet's threads.

    Each output row is one product of a row of ``a`` with ``b``, so the split does not
    change which numbers are multiplied and added. A product smaller than
    ``MATMUL_GRAIN`` multiply-adds per thread is one call.

    Example:
        >>> import numpy as np
        >>> from glassnet.parallel import matmul
        >>> matmul(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
        array([[1., 2.],
               [3., 4.]])
    """
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    blocks = row_blocks(a.shape[0], a.shape[1] * b.shape[1], MATMUL_GRAIN)
    if len(blocks) == 1:
        return np.matmul(a, b, out=out)
    _run(lambda lo, hi: np.matmul(a[lo:hi], b, out=out[lo:hi]), blocks)
    return out
