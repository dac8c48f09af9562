"""Data parallelism inside one process: each of glassnet's threads trains on its share of the batch.

NumPy runs each element-wise pass on one core, so a model's step, however its products
are split, leaves the second core idle for much of the time. ``Replicas`` gives every
thread a whole step's work instead, as ``fit(distributed=True)`` gives every MPI rank:

- thread k of T holds a replica of the model: a copy of its modules whose parameters
  share the model's ``data`` arrays (read-only during the step) and own their gradients,
  caches and losses;
- thread k takes the contiguous rows ``[k * B // T, (k + 1) * B // T)`` of the batch,
  runs forward, its loss, and backward with the loss gradient scaled by its share of the
  batch ``n_k / B``, so that the sum of the threads' gradients is the gradient of the
  whole batch's mean loss;
- the replicas' gradients are added into the model's, in thread order (the same bits
  run after run for a thread count, and within rounding of one thread);
- BatchNorm's batch statistics are the whole batch's: the threads add their per-channel
  sums through a barrier (``ThreadSum``), the ``sync`` hook SyncBatchNorm uses over MPI.
  So a model trains the same, up to the order of float sums, whatever the thread count;
- the optimizer then updates the shared weights once, on the calling thread.

Each thread's products and passes run with one BLAS thread (``glassnet.parallel`` holds
the pool at one while it runs more threads of its own), and glassnet's row-block helpers
run inline inside a shard. A stochastic layer (Dropout, augmentation) draws its random
numbers for the whole batch in every thread, from copies of one generator, and keeps its
rows (``Module.batch_rows``): the masks are those of one thread, and every copy's generator
stays in step with the model's. A layer that draws otherwise is not split (``can_split``).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from glassnet import parallel
from glassnet.losses import Loss
from glassnet.module import Module, pack_gradients

__all__ = ["Replicas", "ThreadSum", "can_split", "replica", "split_pays"]


class ThreadSum:
    """The element-wise sum of one array from each of ``parties`` threads, the same bits on every thread.

    Each thread calls ``sum(k, values)``; all of them get a new array holding
    ``values_0 + values_1 + ...`` in thread order. ``abort()`` (a thread failed) wakes the
    others with ``threading.BrokenBarrierError``; ``reset(parties)`` readies it for the next step.
    """

    def __init__(self, parties: int) -> None:
        self.reset(parties)

    def reset(self, parties: int) -> None:
        self.parties = parties
        self.slots: list[np.ndarray | None] = [None] * parties
        self.barrier = threading.Barrier(parties)

    def abort(self) -> None:
        self.barrier.abort()

    def sum(self, k: int, values: np.ndarray) -> np.ndarray:
        if self.parties == 1:
            return np.array(values)
        self.slots[k] = values
        self.barrier.wait()  # every share is in
        total = np.array(self.slots[0])
        for other in self.slots[1:]:
            total += other  # type: ignore[operator]
        self.barrier.wait()  # every thread has read the shares before any writes the next
        return total


def split_pays(model: Module) -> bool:
    """Whether splitting a batch of ``model`` over threads was measured to pay: not for a model of
    ``blas_bound`` layers alone (an MLP), whose step is a few large products that the BLAS pool's own
    threads split as well, without the copies (on the AMD EPYC: 1.30 -> 1.61 ms a step split, for the
    benchmark's MLP; 2.6 -> 3.9 ms for the recipe's, with BatchNorm and Dropout)."""
    return not all(m.blas_bound for m in model.modules() if not any(True for _ in m.children()))


def can_split(model: Module, loss: Loss | None = None) -> bool:
    """Whether a batch of ``model`` may be split over threads, with the numbers of one thread.

    Only for glassnet's own modules and losses, whose rows meet only where the module says so
    (BatchNorm's sums, which the threads share): a layer or loss of your own may mix the rows of
    a batch (``x - x.mean(0)``), which a share of the batch would compute differently. Not when a
    layer draws random numbers other than through ``Module.batch_rows`` (glassnet's Dropout and
    augmentation layers do), when a recurrent layer starts from a state given for the whole batch
    (``initial_state``, ``stateful``), or when a layer's ``forward`` is replaced on the object itself
    (the diagnostics' observers): a copy would share it.
    """
    if loss is not None and not _glassnet_class(loss):
        return False
    for m in model.modules():
        if not _glassnet_class(m) or (m.stochastic and not m.draws_whole_batch):
            return False
        if "forward" in vars(m) or "backward" in vars(m):
            return False
        if getattr(m, "initial_state", None) is not None or getattr(m, "stateful", False):
            return False
    return True


def _glassnet_class(obj: object) -> bool:
    return type(obj).__module__.split(".")[0] == "glassnet"


def replica(model: Module, gradients: bool = True) -> Module:
    """A copy of ``model``'s modules whose parameters share its ``data`` arrays.

    With ``gradients`` the copy owns fresh gradients (for training); without, it shares the
    model's too, which a forward pass in eval mode never writes (for predict). Raises TypeError
    (or what ``copy.deepcopy`` raises) for a model that cannot be copied.
    """
    memo: dict[int, Any] = {id(p.data): p.data for p in model.parameters()}
    if not gradients:
        memo.update({id(p.grad): p.grad for p in model.parameters()})
    twin = copy.deepcopy(model, memo)
    for p, q in zip(model.parameters(), twin.parameters()):
        if q.data is not p.data:  # pragma: no cover - deepcopy's memo shares them
            q.data = p.data
        if gradients:
            q.grad = np.zeros_like(p.grad)
    return twin


# One split step at a time in the process: two callers' shares waiting at their barriers on one pool of
# workers could each hold a worker the other needs. A second caller meanwhile trains on its own thread.
_one_split_at_a_time = threading.Lock()


class Replicas:
    """``threads`` views of ``model`` for a data-parallel step (see the module's docstring).

    Args:
        model: the model the optimizer updates; its gradients receive the sum.
        loss: the loss; each thread gets its own copy (a loss keeps its forward's cache).
        threads: how many threads share each batch (at most the batch's rows).
        grads: the model's packed gradient arrays (``pack_gradients``), made here if not given.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> from glassnet.replicas import Replicas
        >>> x = np.random.default_rng(0).normal(size=(8, 3))
        >>> y = (x[:, 0] > 0).astype(np.int64)
        >>> model = gn.Sequential(gn.Linear(3, 2, rng=0, dtype=np.float64))
        >>> one = gn.CrossEntropyLoss().forward(model(x), y)
        >>> value, outputs = Replicas(model, gn.CrossEntropyLoss(), threads=2).step(x, y)
        >>> abs(value - one) < 1e-12, [len(o) for o in outputs]
        (True, [4, 4])
    """

    def __init__(self, model: Module, loss: Loss, threads: int, grads: Sequence[np.ndarray] | None = None) -> None:
        self.threads = threads
        self.models = [model, *(replica(model) for _ in range(threads - 1))]
        self.losses = [loss, *(copy.deepcopy(loss) for _ in range(threads - 1))]
        self.grads = [list(grads) if grads is not None else pack_gradients(model.parameters())]
        self.grads += [pack_gradients(m.parameters()) for m in self.models[1:]]
        self.syncing = ThreadSum(threads)
        self._random = [[m for m in r.modules() if m.stochastic] for r in self.models]
        self._norms = [[m for m in r.modules() if m.batch_statistics] for r in self.models]
        self._pairs = list(zip(*(r.modules() for r in self.models)))  # each module with its copies
        self._min_rows = 2 if self._norms[0] else 1  # BatchNorm needs 2 values a channel in every share
        for k, norms in enumerate(self._norms):
            for m in norms:
                m.sync = self._sum_of(k)  # type: ignore[attr-defined]

    def _sum_of(self, k: int) -> Any:
        return lambda values: self.syncing.sum(k, values)

    def close(self) -> None:
        """Take the hooks off the model's BatchNorm layers (the replicas are dropped)."""
        for m in self._norms[0]:
            m.sync = None  # type: ignore[attr-defined]

    def step(self, x: np.ndarray, y: np.ndarray, share: float = 1.0) -> tuple[float, list[np.ndarray]]:
        """Forward, loss and backward of the batch over the threads; the summed gradients in the model's.

        The gradients are overwritten (not added to): the caller needs no ``zero_grad``.
        ``share`` scales the loss and its gradient (an MPI rank's part of a global batch).
        When the batch's loss is not finite, no thread runs backward and the gradients are zero.

        Returns:
            the batch's loss (the mean over its samples for a mean loss, times ``share``),
            and each thread's outputs, in batch order.
        """
        n = len(x)
        for master, *copies in self._pairs:  # a mode the model's modules were given since (a callback's)
            for twin in copies:
                twin.training, twin.input_grad = master.training, master.input_grad
        split = not parallel.inside_worker() and _one_split_at_a_time.acquire(blocking=False)
        try:
            threads = min(self.threads, max(1, n // self._min_rows)) if split else 1
            return self._step(x, y, share, n, parallel.row_blocks(n, grain=1, threads=threads))
        finally:
            if split:
                _one_split_at_a_time.release()

    def _step(
        self, x: np.ndarray, y: np.ndarray, share: float, n: int, blocks: list[tuple[int, int]]
    ) -> tuple[float, list[np.ndarray]]:
        self.syncing.reset(len(blocks))
        sum_loss = self.losses[0].reduction == "sum"
        index = {block: k for k, block in enumerate(blocks)}
        for copies in self._random[1:]:  # every copy draws as the model's layer will: from its generator's state
            for mine, master in zip(copies, self._random[0]):
                mine.rng.bit_generator.state = master.rng.bit_generator.state  # type: ignore[attr-defined]

        errors: list[BaseException] = []

        def shard(lo: int, hi: int) -> tuple[float, np.ndarray | None]:
            k = index[(lo, hi)]
            model, loss = self.models[k], self.losses[k]
            part = share if sum_loss else share * (hi - lo) / n  # of the whole batch's mean loss
            for m in self._random[k]:
                m.shard = (lo, hi, n)
            try:
                for g in self.grads[k]:
                    g.fill(0)
                out = model.forward(x[lo:hi])
                value = loss.forward(out, y[lo:hi])
                # the batch's loss, known to every thread: a non-finite one takes no backward (fit skips the step)
                if not np.isfinite(self.syncing.sum(k, np.array([value * part]))).all():
                    return value * part, out
                dout = loss.backward()
                if part != 1.0:
                    dout *= part
                model.backward(dout)
            except BaseException as err:  # noqa: BLE001 - every thread's error is kept, the cause raised below
                errors.append(err)
                self.syncing.abort()  # the others may be waiting for this thread's BatchNorm sums
                return 0.0, None
            finally:
                for m in self._random[k]:
                    m.shard = None
            return value * part, out

        with parallel.own_threads() if len(blocks) > 1 else contextlib.nullcontext():  # one BLAS thread each
            results = parallel.run_blocks(shard, blocks)
        if errors:  # the error that started it, not the others' broken barrier
            causes = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
            raise (causes or errors)[0]
        for k in range(1, len(blocks)):  # in thread order: the same bits every run
            for total, part_grads in zip(self.grads[0], self.grads[k]):
                total += part_grads
        return float(sum(value for value, _ in results)), [out for _, out in results if out is not None]

    def train(self, mode: bool = True) -> None:
        for m in self.models:
            m.train(mode)
