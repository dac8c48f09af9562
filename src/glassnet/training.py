"""fit / evaluate / predict: the Keras-like loop around forward, backward and step.

One training step is exactly the manual loop:

    out = model(xb); L = loss(out, yb)
    zero the gradients; model.backward(loss.backward()); optimizer.step()

Inputs are checked once, up front, not on every batch.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
import time
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from glassnet._checks import all_finite, as_bool, as_data, cast_data, positive_int, short
from glassnet.callbacks import Callback
from glassnet.checkpoint import restore
from glassnet.datasets.preprocessing import record_preprocessing
from glassnet.distributed import DataParallel, SingleProcess
from glassnet.history import History, TrainingRun
from glassnet.layers.activations import Softmax
from glassnet.losses import CrossEntropyLoss, Loss
from glassnet.memory import keep_freed_memory
from glassnet.metrics import get as get_metric
from glassnet.module import Module, Sequential, pack_gradients
from glassnet.optim.clip import clip_grad_norm
from glassnet.optim.optimizer import Optimizer
from glassnet.parallel import can_hold_blas, get_num_threads, own_threads, run_blocks
from glassnet.replicas import Replicas, can_split, replica, split_pays

__all__ = ["History", "TrainingRun", "fit", "predict", "evaluate", "train_step", "check_x", "check_y"]

PREDICT_BATCH = 1024
# In eval mode glassnet's layers map each sample on its own (Module.samples_independent), so
# predict and evaluate may run a batch through the model in slices. A slice whose largest
# activation takes at most this many bytes stays in cache from one layer to the next: the
# benchmark's CNN predicts 1.8x as fast in slices of 40 images as in one pass of 1,000.
PREDICT_SLICE_BYTES = 2 * 2**20


def _model_dtype(model: Module) -> np.dtype:
    for p in model.parameters():
        return p.data.dtype
    return np.dtype(np.float32)


def check_x(model: Module, x: Any, name: str) -> np.ndarray:
    """``x`` checked and cast as calling the model casts it (see the dtype rule in glassnet.module)."""
    x = as_data(x, name)
    x = cast_data(x, model.input_dtype(x.dtype), name)
    model.check_input(x, name)
    return x


def _check_single_sample(model: Module, x: Any) -> np.ndarray:
    """``check_x``, with a hint when ``x`` is one sample without its batch axis."""
    try:
        return check_x(model, x, "x")
    except ValueError as err:
        arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if arr.ndim == 0 or not np.issubdtype(arr.dtype, np.number):
            raise
        try:
            model.check_input(arr[None], "x")
        except ValueError:
            raise err from None
        raise ValueError(
            f"{err}. It looks like one sample without the batch axis: "
            f"pass x[None] (shape (1, {', '.join(map(str, arr.shape))})) and take [0] of the result"
        ) from None


def check_y(x: np.ndarray, y: Any, name: str, dtype: np.dtype) -> np.ndarray:
    y = as_data(y, name)
    if len(y) != len(x):
        raise ValueError(f"x and {name} must have the same number of samples. Received: {len(x)} and {len(y)}")
    if np.issubdtype(y.dtype, np.floating):
        y = cast_data(y, dtype, name)
    return y


def record_metadata(model: Module, x: np.ndarray, y: np.ndarray, loss: Loss) -> dict[str, Any]:
    """What ``fit`` knows about its data, put into ``model.metadata`` (which ``save`` writes by default).

    ``input_shape``: one sample's shape, ``x.shape[1:]``. For a classifier (``CrossEntropyLoss``
    on integer labels, one per sample): ``num_classes``, the model's outputs, and ``class_names``
    (the labels as text, "0", "1", ...) unless the metadata already names that many classes.
    ``glassnet summary``, ``predict`` and ``evaluate`` read these keys (docs/file-format.md).
    """
    meta = getattr(model, "metadata", None)
    if not isinstance(meta, dict):
        meta = {}
        model.metadata = meta  # type: ignore[attr-defined]
    meta["input_shape"] = [int(d) for d in x.shape[1:]]
    if isinstance(loss, CrossEntropyLoss) and y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and len(y):
        try:
            classes = int(model.output_shape((1, *x.shape[1:]))[-1])
        except (ValueError, TypeError, NotImplementedError):  # a layer that cannot tell: the labels can
            classes = int(y.max()) + 1
        meta["num_classes"] = classes
        names = meta.get("class_names")
        if not (isinstance(names, list) and len(names) == classes):
            meta["class_names"] = [str(k) for k in range(classes)]
    return meta


def _check_batch_size(batch_size: Any) -> int | None:
    return None if batch_size is None else positive_int(batch_size, "batch_size")


def _slice_size(model: Module, x: np.ndarray, batch_size: int) -> int:
    """Samples per forward pass in eval mode: ``batch_size``, or fewer for a model whose samples are
    independent and whose largest activation (between its top-level layers) would not fit in
    PREDICT_SLICE_BYTES; a model with a layer of your own runs ``batch_size`` at a time."""
    if batch_size == 1 or not model.samples_independent():
        return batch_size
    shape = (1, *x.shape[1:])
    largest = math.prod(shape)
    try:
        for layer in model.layers if isinstance(model, Sequential) else [model]:
            shape = layer.output_shape(shape)
            largest = max(largest, math.prod(shape))
    except (ValueError, TypeError):  # a shape the layers can't tell ahead: forward will say what is wrong
        return batch_size
    return max(1, min(batch_size, PREDICT_SLICE_BYTES // (largest * _model_dtype(model).itemsize)))


def _twins(model: Module, slices: int) -> list[Module]:
    """The model, and copies for glassnet's other threads when ``slices`` slices can go through at once.

    Copies (``glassnet.replicas``) only where each sample's output is its own (``samples_independent``),
    more than one slice is to come, and glassnet may run more than one thread with the BLAS pool held.
    """
    threads = min(get_num_threads(), slices)
    if threads < 2 or not model.samples_independent() or not can_split(model) or not split_pays(model):
        return [model]
    if not can_hold_blas():
        return [model]
    try:
        return [model, *(replica(model, gradients=False) for _ in range(threads - 1))]
    except (TypeError, ValueError, copy.Error):  # a module that cannot be copied: one thread
        return [model]


def _batches(model: Module, x: np.ndarray, batch_size: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, stop, output) over ``x`` in eval mode, in slices of at most ``batch_size``; restores the mode.

    With more than one glassnet thread, consecutive slices go through at once, one per thread.
    """
    keep_freed_memory()  # each slice's arrays reuse the last one's pages
    was_training = model.training
    model.eval()
    try:
        step = _slice_size(model, x, batch_size)
        slices = [(start, min(start + step, len(x))) for start in range(0, len(x), step)]
        twins = _twins(model, len(slices))
        for first in range(0, len(slices), len(twins)):
            group = slices[first : first + len(twins)]
            which = {block: twins[k] for k, block in enumerate(group)}

            def slice_out(lo: int, hi: int, which: dict[tuple[int, int], Module] = which) -> np.ndarray:
                return which[(lo, hi)].forward(x[lo:hi])

            with own_threads() if len(group) > 1 else contextlib.nullcontext():
                outs = run_blocks(slice_out, group)
            for (start, stop), out in zip(group, outs):
                yield start, stop, out
    finally:
        model.train(was_training)


def predict(model: Module, x: Any, batch_size: int | None = None) -> np.ndarray:
    """The model's outputs for ``x``, in eval mode, at most ``batch_size`` samples at a time.

    ``batch_size=None`` uses batches of 1024 to bound memory. A model of glassnet's
    layers, whose samples are independent in eval mode, goes through in slices
    whose largest activation fits in cache (``PREDICT_SLICE_BYTES``, 2 MiB): the
    outputs of one pass (up to float rounding in the matrix products), sooner. ``x`` is a batch,
    (N, ...): one sample needs its batch axis, ``predict(x[None])[0]``; without
    it the ValueError says so (an array is never guessed to be one sample).
    """
    x = _check_single_sample(model, x)
    bs = _check_batch_size(batch_size) or PREDICT_BATCH
    out: np.ndarray | None = None
    for start, stop, yb in _batches(model, x, bs):
        if out is None:
            if stop == len(x):  # one batch: its output, unless that is (a view of) the caller's x
                return yb.copy() if np.may_share_memory(yb, x) else yb
            out = np.empty((len(x), *yb.shape[1:]), dtype=yb.dtype)
        out[start:stop] = yb
    if out is None:  # pragma: no cover - x is never empty here
        raise ValueError("x is empty")
    return out


def _metric_list(metrics: Iterable[Any]) -> list[tuple[str, Any]]:
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    return [get_metric(m) for m in metrics]


def _last_layer(model: Module) -> Module:
    while isinstance(model, Sequential) and model.layers:
        model = model.layers[-1]
    return model


def _warn_double_softmax(model: Module, loss: Loss) -> None:
    """CrossEntropyLoss takes logits and applies its own softmax: a final Softmax layer would apply it twice."""
    if isinstance(loss, CrossEntropyLoss) and isinstance(_last_layer(model), Softmax):
        warnings.warn(
            "the model ends in Softmax, and CrossEntropyLoss applies its own softmax to the model's outputs "
            "(it takes logits), so the softmax is applied twice and training slows or stalls: remove the final "
            "Softmax, and apply gn.Softmax() to the outputs of predict when you want probabilities",
            UserWarning,
            stacklevel=_caller_level(),
        )


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside glassnet (model.fit or fit alike)."""
    package = os.path.dirname(os.path.abspath(__file__))
    level = 2  # the caller of the function that warns
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        level, frame = level + 1, frame.f_back
    return level


def _check_loss(loss: Any) -> Loss:
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a glassnet Loss, such as gn.MSELoss(). Received: loss={short(loss)}")
    return loss


def _evaluate(
    model: Module,
    x: np.ndarray,
    y: np.ndarray,
    loss: Loss | None,
    metrics: list[tuple[str, Any]],
    bs: int,
    prefix: str = "",
) -> dict[str, float]:
    sums: dict[str, float] = {}
    for start, stop, out in _batches(model, x, bs):
        yb = y[start:stop]
        weight = 1.0 if loss is not None and loss.reduction == "sum" else stop - start
        if loss is not None:
            sums["loss"] = sums.get("loss", 0.0) + loss.forward(out, yb) * weight
            loss._grad = None  # evaluation never backpropagates
        for name, fn in metrics:
            sums[name] = sums.get(name, 0.0) + fn(out, yb) * (stop - start)
    n = len(x)
    return {
        prefix + name: (total if name == "loss" and loss is not None and loss.reduction == "sum" else total / n)
        for name, total in sums.items()
    }


def evaluate(
    model: Module,
    x: Any,
    y: Any,
    *,
    loss: Loss | None = None,
    metrics: Sequence[Any] = (),
    batch_size: int | None = None,
) -> dict[str, float]:
    """Loss and metrics of the model on ``(x, y)``, in eval mode.

    Returns a dict such as ``{"loss": 0.31, "accuracy": 0.9}``; the loss is
    a mean over samples (or a sum, for SSELoss), like during ``fit``.
    """
    x = check_x(model, x, "x")
    y = check_y(x, y, "y", _model_dtype(model))
    if loss is not None:
        _check_loss(loss)
    metric_list = _metric_list(metrics)
    if loss is None and not metric_list:
        raise ValueError("evaluate needs a loss or at least one metric. Received: loss=None, metrics=()")
    bs = _check_batch_size(batch_size) or PREDICT_BATCH
    return _evaluate(model, x, y, loss, metric_list, bs)


class _Progress:
    """One line per epoch; a live bar over the batches when tqdm is installed and stderr is a terminal."""

    def __init__(self, verbose: int, epochs: int, batches: int) -> None:
        self.verbose, self.epochs, self.batches = verbose, epochs, batches
        self.bar: Any = None
        self._tqdm: Any = None
        if verbose == 1 and batches > 1 and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self._tqdm = tqdm

    def start_epoch(self, epoch: int) -> None:
        if self._tqdm is not None:
            self.bar = self._tqdm(
                total=self.batches, desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=False
            )

    def batch(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def end_epoch(self, epoch: int, logs: dict[str, float], seconds: float, batches_done: int | None = None) -> None:
        """The epoch's line; one stopped part-way (a callback, Ctrl-C) says after how many batches."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.verbose:
            values = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            where = f"epoch {epoch + 1}/{self.epochs}"
            if batches_done is not None and batches_done < self.batches:
                where += f" cut short after {batches_done}/{self.batches} batches"
            print(f"{where} - {values} - {seconds:.2f}s", flush=True)


def _check_verbose(verbose: Any) -> int:
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if not isinstance(verbose, (int, np.integer)):
        raise TypeError(f"verbose must be 0, 1 or 2. Received: verbose={short(verbose)}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2. Received: verbose={short(verbose)}")
    return int(verbose)


def _check_callbacks(callbacks: Any) -> list[Callback]:
    """A list of Callbacks from one Callback, None, or an iterable of them."""
    if isinstance(callbacks, Callback):
        return [callbacks]
    if callbacks is None:
        return []
    try:
        found = list(callbacks)
    except TypeError:
        raise TypeError(
            f"callbacks must be a Callback or a list of Callbacks. Received: callbacks={short(callbacks)}"
        ) from None
    for i, cb in enumerate(found):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be glassnet Callbacks. Received: callbacks[{i}]={short(cb)}")
    return found


def _check_optimizer(optimizer: Any, model: Module) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            "optimizer must be a glassnet Optimizer, such as gn.SGD(model.parameters(), lr=0.1). "
            f"Received: optimizer={short(optimizer)}"
        )
    mine = {id(p) for p in model.parameters()}
    if mine and not any(id(p) in mine for p in optimizer.params):
        raise ValueError(
            "optimizer updates none of this model's parameters (was it built on another model's?), so "
            "training would change nothing: build it with optimizer=gn.SGD(model.parameters(), ...). "
            f"Received: optimizer={short(optimizer)} over {len(optimizer.params)} other parameter(s)"
        )
    return optimizer


def replicas_for(model: Module, loss: Loss, grads: list[np.ndarray] | None = None) -> Replicas | None:
    """The threads' replicas for a data-parallel step, or None where one thread trains (``glassnet.replicas``).

    Used when glassnet runs more than one thread (``gn.set_num_threads``) on a model that
    ``can_split`` and where a split pays (``split_pays``: not an MLP's few large products), and not
    over a BatchNorm whose statistics MPI already synchronises.
    """
    threads = get_num_threads()
    if threads < 2 or not can_split(model, loss) or not split_pays(model) or not can_hold_blas():
        return None
    if any(m.batch_statistics and getattr(m, "sync", None) is not None for m in model.modules()):
        return None
    try:
        return Replicas(model, loss, threads, grads)
    except (TypeError, ValueError, copy.Error):  # a module that cannot be copied (a lock, a file): one thread
        return None


def train_step(
    model: Module,
    loss: Loss,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    clip: float | None = None,
    replicas: Replicas | None = None,
) -> float:
    """One step of gradient descent on the batch ``(x, y)``, the design's loop by hand; returns the loss.

        out = model(x); L = loss(out, y)
        zero the gradients; model.backward(loss.backward()); [clip_grad_norm]; optimizer.step()

    ``lr_find``, the language-model loop and ``glassnet demo --seeds`` train with it; ``fit`` adds to the
    same steps what only it needs (skipping a non-finite step, the ranks' Allreduce, callbacks).
    ``replicas`` (``replicas_for``) splits the batch over glassnet's threads, each with its copy of the model.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> model = gn.Sequential(gn.Linear(2, 1, rng=0))
        >>> opt = gn.SGD(model.parameters(), lr=0.1)
        >>> x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
        >>> first = train_step(model, gn.MSELoss(), opt, x, y)
        >>> train_step(model, gn.MSELoss(), opt, x, y) < first
        True
    """
    keep_freed_memory()  # each step's arrays reuse the last one's pages (glassnet.memory)
    if replicas is not None:  # the batch split over glassnet's threads, the gradients summed into model's
        value, _ = replicas.step(x, y)
    else:
        value = loss.forward(model(x), y)
        optimizer.zero_grad()
        model.backward(loss.backward())
    if clip is not None:
        clip_grad_norm(model.parameters(), clip)
    optimizer.step()
    return value


def _batch_bounds(model: Module, n: int, bs: int, ranks: int = 1) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a lone last sample joins the batch before it when the model has BatchNorm.

    A batch of one sample has no batch statistics, and BatchNorm refuses it in
    training mode; merging it (rather than dropping it, as PyTorch's
    ``drop_last=True`` does) trains on every sample, every epoch. In
    distributed training, a last batch with fewer samples than ranks joins the
    batch before it too, so that every rank has a part of every batch.
    """
    bounds = [(start, min(start + bs, n)) for start in range(0, n, bs)]
    last = bounds[-1][1] - bounds[-1][0] if bounds else 0
    if len(bounds) > 1 and (last < ranks or (last == 1 and any(m.batch_statistics for m in model.modules()))):
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _warn_skipped(loss: float, epoch: int, batch: int) -> None:
    what = f"the loss is {loss}" if not math.isfinite(loss) else f"the gradient is not finite (the loss is {loss:.4g})"
    warnings.warn(
        f"fit: {what} at epoch {epoch + 1}, batch {batch + 1}. That step was skipped, so the weights "
        "stay finite; later such batches are skipped without another warning. Lower the learning rate "
        "or scale the data, and pass callbacks=[gn.TerminateOnNaN()] to stop at a non-finite loss",
        RuntimeWarning,
        stacklevel=_caller_level(),
    )


def _check_distributed(distributed: Any) -> DataParallel | SingleProcess:
    """The strategy: ``SingleProcess()`` without MPI, else the DataParallel (``True``: over MPI's world)."""
    if distributed is False or distributed is None:
        return SingleProcess()
    if distributed is True:
        return DataParallel()
    if not isinstance(distributed, DataParallel):
        raise TypeError(
            f"distributed must be True, False or a glassnet.distributed.DataParallel. Received: distributed={short(distributed)}"
        )
    return distributed


def _validate(
    model: Module,
    val: tuple[np.ndarray, np.ndarray],
    loss: Loss,
    metrics: list[tuple[str, Any]],
    bs: int,
    comm: DataParallel | SingleProcess,
) -> dict[str, float]:
    """Validation logs; distributed, each rank scores its shard and the sums are reduced."""
    xv, yv = val
    if comm.size == 1:
        return _evaluate(model, xv, yv, loss, metrics, bs, prefix="val_")
    lo, hi = comm.shard(0, len(xv))
    local = _evaluate(model, xv[lo:hi], yv[lo:hi], loss, metrics, bs, prefix="val_") if hi > lo else {}
    names = ["val_loss"] + ["val_" + name for name, _ in metrics]
    weight = {name: 1.0 if name == "val_loss" and loss.reduction == "sum" else hi - lo for name in names}
    sums = comm.sum_floats([local.get(name, 0.0) * weight[name] for name in names])
    return {name: s if name == "val_loss" and loss.reduction == "sum" else s / len(xv) for name, s in zip(names, sums)}


def _settings_to_agree(
    epochs: int,
    batch_size: int | None,
    shuffle: bool,
    seed: Any,
    rng_state: Mapping[str, Any],
    optimizer: Optimizer,
    loss: Loss,
    metrics: list[tuple[str, Any]],
    callbacks: list[Callback],
    x: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    start_epoch: int,
) -> dict[str, Any]:
    """What every rank of a distributed fit must have been given alike, by the name a mismatch is reported under.

    Values are JSON-safe descriptions (the data by ``data_digest``). Callbacks are compared by type
    and, for glassnet's own, by their plain settings (numbers, strings); those that run on rank 0
    alone (those that write files) are left out.
    """
    from glassnet.distributed import data_digest

    def described(cb: Callback) -> list[Any]:
        if not type(cb).__module__.startswith("glassnet."):  # one of your own may hold its rank: its type is compared
            return [type(cb).__name__]
        plain = (str, int, float, bool, type(None))
        own = {k: v for k, v in sorted(vars(cb).items()) if not k.startswith("_") and isinstance(v, plain)}
        return [type(cb).__name__, own]

    groups = [
        {k: v for k, v in g.items() if k != "params"} | {"params": len(g["params"])} for g in optimizer.param_groups
    ]
    return {
        "epochs": epochs,
        "batch_size (as given)": batch_size,
        "shuffle": shuffle,
        # an int seed (or None: rank 0's draw, sent to all) fixes the state; a Generator is compared by its state
        "seed": rng_state if isinstance(seed, np.random.Generator) else seed if seed is None else int(seed),
        "the optimizer (type and settings)": [type(optimizer).__name__, groups, optimizer.steps],
        "the loss": [type(loss).__name__, loss.get_config(), loss.reduction],
        "metrics": [name for name, _ in metrics],
        "callbacks (other than those only rank 0 runs)": [described(cb) for cb in callbacks if not cb.rank_zero_only],
        "the training data x": data_digest(x),
        "the training data y": data_digest(y),
        "validation_data[0]": data_digest(None if val is None else val[0]),
        "validation_data[1]": data_digest(None if val is None else val[1]),
        "the epoch it starts from (resume_from)": start_epoch,
    }


def fit(
    model: Module,
    x: Any,
    y: Any,
    *,
    loss: Loss,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int | None = 32,
    shuffle: bool = True,
    validation_data: tuple[Any, Any] | None = None,
    seed: int | np.random.Generator | None = None,
    callbacks: Callback | Iterable[Callback] = (),
    metrics: Sequence[Any] = (),
    verbose: int = 1,
    resume_from: str | os.PathLike[str] | None = None,
    distributed: Any = False,
    preprocessing: Any = None,
) -> History:
    """Train ``model`` on ``(x, y)`` by mini-batch gradient descent.

    Args:
        x, y: inputs (N, ...) and targets (N, ...) or class labels (N,). ``x`` is
            cast to the model's dtype; a value too large for it (1e300 for a
            float32 model) is a ValueError.
        loss: a Loss, e.g. ``gn.CrossEntropyLoss()``.
        optimizer: an Optimizer over ``model.parameters()``.
        epochs: passes over the data (>= 0).
        batch_size: samples per step (32 by default, as in Keras); None = the whole set
            in one batch. A set of at most 32 rows, such as the tutorial's four, is one
            full batch either way. In a model with BatchNorm, a last batch of one sample
            (which has no batch statistics) joins the batch before it.
        shuffle: draw a new sample order every epoch (from ``seed``).
        validation_data: ``(x_val, y_val)`` evaluated after each epoch.
        seed: int or Generator for shuffling and Dropout; the same seed gives the
            same run, bit for bit.
        callbacks: a Callback, or a list of them, such as ``EarlyStopping`` or an LR schedule.
        metrics: names ("accuracy", "mse") or callables, reported per epoch.
        verbose: 0 silent, 1 a line per epoch (and a live bar with tqdm), 2 a line per epoch, no bar.
        resume_from: a checkpoint written by ``ModelCheckpoint`` during an earlier call with the
            same arguments: the model, optimizer, schedules, RNGs and History continue from it, so
            the run ends with exactly the weights it would have had without stopping.
        distributed: True (or a ``glassnet.distributed.DataParallel``) to train data-parallel
            over MPI under ``mpirun``: each rank takes its shard of every global batch of
            ``batch_size``, gradients are summed over the ranks, and every rank ends with the
            weights one process would reach with the same global batch. Only rank 0 prints.
        preprocessing: how ``x`` was made from raw files (``from_csv(...).preprocessing`` and the
            like): its record is kept in ``model.metadata["preprocessing"]`` (save it with
            ``model.save(path)``).

    Returns:
        History with per-epoch "loss", metrics, and "val_" values.

    Faults: a batch whose loss or gradient holds a NaN or an infinity gets no
    optimizer step, so the weights stay finite; the first one raises a
    RuntimeWarning naming the epoch and batch, unless a callback stops training
    there (``TerminateOnNaN`` does, at a non-finite loss).
    However fit ends (normally, by a callback, an exception or Ctrl-C), the
    callbacks' ``on_train_end`` runs (``EarlyStopping`` restores its best
    weights) and the model is back in the mode, train or eval, it was in.
    Distributed, the ranks must agree on the model, the data and every setting
    above (checked at the start: a ``glassnet.distributed.CollectiveError``
    naming what differs), and an exception on one rank alone prints it and ends
    every rank (``MPI_Abort``) rather than leave the others waiting for it.
    """
    comm = _check_distributed(distributed)
    with comm.guard():  # distributed: an error on one rank ends every rank instead of hanging them
        return _fit(
            model, x, y, loss, optimizer, epochs, batch_size, shuffle, validation_data, seed, callbacks, metrics,
            verbose, resume_from, comm, preprocessing,
        )  # fmt: skip


def _fit(
    model: Module,
    x: Any,
    y: Any,
    loss: Loss,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int | None,
    shuffle: bool,
    validation_data: tuple[Any, Any] | None,
    seed: int | np.random.Generator | None,
    callbacks: Callback | Iterable[Callback],
    metrics: Sequence[Any],
    verbose: int,
    resume_from: str | os.PathLike[str] | None,
    comm: DataParallel | SingleProcess,
    preprocessing: Any,
) -> History:
    """``fit``'s body, on its checked strategy."""
    keep_freed_memory()  # each step's arrays reuse the last one's pages (glassnet.memory)
    loss = _check_loss(loss)
    _warn_double_softmax(model, loss)
    optimizer = _check_optimizer(optimizer, model)
    epochs = positive_int(epochs, "epochs", allow_zero=True)
    bs_arg = _check_batch_size(batch_size)
    shuffle = as_bool(shuffle, "shuffle")
    verbose = _check_verbose(verbose)
    callbacks = _check_callbacks(callbacks)
    if comm.rank != 0:  # one rank prints and writes files
        verbose = 0
        callbacks = [cb for cb in callbacks if not cb.rank_zero_only]
    dtype = _model_dtype(model)
    x = check_x(model, x, "x")
    y = check_y(x, y, "y", dtype)
    metric_list = _metric_list(metrics)
    record_metadata(model, x, y, loss)
    val: tuple[np.ndarray, np.ndarray] | None = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(
                f"validation_data must be a pair (x_val, y_val). Received: validation_data={short(validation_data)}"
            )
        xv = check_x(model, validation_data[0], "validation_data[0]")
        val = (xv, check_y(xv, validation_data[1], "validation_data[1]", dtype))
    if preprocessing is not None:
        record_preprocessing(model, preprocessing)

    rng = comm.rng(seed)  # distributed, seed=None: rank 0's draw, so that every rank shuffles alike
    agreed_rng = rng.bit_generator.state  # before any draw
    for m in model.modules():
        if m.stochastic:
            stream = rng.integers(2**63)  # drawn on every rank, so shuffling stays the same everywhere
            m.rng = comm.layer_rng(stream)  # type: ignore[attr-defined]

    n = len(x)
    bs = n if bs_arg is None else min(bs_arg, n)
    bounds = _batch_bounds(model, n, bs, comm.size)
    n_batches = len(bounds)
    reshuffle = shuffle and n_batches > 1  # one full batch: the order changes nothing
    if reshuffle:
        largest = max(stop - start for start, stop in bounds)
        xbuf = np.empty((largest, *x.shape[1:]), dtype=x.dtype)
        ybuf = np.empty((largest, *y.shape[1:]), dtype=y.dtype)
    params = model.parameters()
    batch_callbacks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    step_callbacks = [
        cb for cb in callbacks if type(cb).on_before_optimizer_step is not Callback.on_before_optimizer_step
    ]
    sum_loss = loss.reduction == "sum"
    progress = _Progress(verbose, epochs, n_batches)
    history = History()
    run = TrainingRun(model, optimizer, rng, history, callbacks, n, bs)
    names = ["loss", *(name for name, _ in metric_list)]
    run.log_names = (*names, *(("val_" + name for name in names) if val is not None else ()))
    callbacks.sort(key=lambda cb: cb.runs_last)  # stable: checkpoints save after schedules have stepped
    warned = False  # about a non-finite loss: once per fit

    was_training = model.training
    model.stop_training = False
    for cb in callbacks:
        cb.model = model
        cb.run = run
        cb.on_train_begin()
    if resume_from is not None and restore(resume_from, run, epochs):
        model.stop_training = True  # an EarlyStopping may have ended it before `epochs`
        if verbose:
            print(f"the checkpoint's run is finished (epoch {run.epoch} of {epochs}): nothing left to train")
    if comm.size > 1:
        settings = _settings_to_agree(
            epochs, bs_arg, shuffle, seed, agreed_rng, optimizer, loss, metric_list, callbacks, x, y, val, run.epoch
        )
        comm.setup(model, n, bs, settings)
    else:
        comm.setup(model, n, bs)
    grads = pack_gradients(params)  # one array per dtype: one fill, one finiteness check, one Allreduce
    replicas: Replicas | None = None
    try:
        model.train()
        model.set_input_grad(False)  # nothing consumes dL/dx: the first layer skips computing it
        replicas = replicas_for(model, loss, grads)  # more than one glassnet thread: each takes a share of a batch
        show = verbose > 0
        for epoch in range(run.epoch, epochs if not model.stop_training else run.epoch):
            start_time = time.perf_counter()
            if show:
                progress.start_epoch(epoch)
            order = rng.permutation(n) if reshuffle else None
            total = 0.0
            seen = 0  # samples trained on this epoch: a callback may stop mid-epoch
            done = 0  # and its batches
            metric_sums = [0.0] * len(metric_list)
            for b, (start, stop) in enumerate(bounds):
                lo, hi = comm.shard(start, stop)  # this rank's samples
                if order is not None:
                    idx = order[lo:hi]
                    xb = np.take(x, idx, axis=0, out=xbuf[: hi - lo])
                    yb = np.take(y, idx, axis=0, out=ybuf[: hi - lo])
                elif n_batches == 1 and comm.size == 1:
                    xb, yb = x, y
                else:
                    xb, yb = x[lo:hi], y[lo:hi]
                share = 1.0 if sum_loss else (hi - lo) / (stop - start)  # of the global batch's mean loss
                if replicas is not None:  # forward and backward on the threads' shares: grads hold their sum
                    batch_loss, outs = replicas.step(xb, yb, share)
                    out = outs[0] if len(outs) == 1 or not metric_list else np.concatenate(outs)
                else:
                    out = model.forward(xb)
                    batch_loss = loss.forward(out, yb) * share
                (batch_loss,) = comm.sum_floats([batch_loss])  # the same on every rank
                # a NaN or inf in the loss or a gradient would spread to every weight: that step is skipped
                finite = math.isfinite(batch_loss)
                if finite:
                    if replicas is None:
                        for g in grads:
                            g.fill(0)
                        dout = loss.backward()
                        if share != 1.0:
                            dout *= share
                        model.backward(dout)
                    comm.allreduce_gradients(grads)  # the sum: the global batch's gradient
                    finite = all_finite(*grads)
                    if finite:
                        for cb in step_callbacks:
                            cb.on_before_optimizer_step()
                        optimizer.step()
                total += batch_loss if sum_loss else batch_loss * (stop - start)
                seen += stop - start
                done += 1
                if metric_list:
                    for i, (_, fn) in enumerate(metric_list):
                        metric_sums[i] += fn(out, yb) * (hi - lo)
                if batch_callbacks:
                    for cb in batch_callbacks:
                        cb.on_batch_end(b, batch_loss)
                    if model.stop_training:
                        break
                if not finite and not warned:
                    _warn_skipped(batch_loss, epoch, b)
                    warned = True
                if show:
                    progress.batch(batch_loss)
            if seen == n:
                run.epoch = epoch + 1
            logs = {"loss": total if sum_loss else total / seen}
            if metric_list:
                metric_sums = comm.sum_floats(metric_sums)
            for (name, _), s in zip(metric_list, metric_sums):
                logs[name] = s / seen
            if val is not None:
                logs.update(_validate(model, val, loss, metric_list, max(bs, PREDICT_BATCH), comm))
            history.append(epoch, logs)
            if show:
                progress.end_epoch(epoch, logs, time.perf_counter() - start_time, done)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    finally:  # however fit ends: an EarlyStopping restores its best weights even after Ctrl-C
        if replicas is not None:
            replicas.close()
        comm.teardown(model)
        model.set_input_grad(True)
        model.train(was_training)
        for cb in callbacks:
            cb.on_train_end()
    return history
