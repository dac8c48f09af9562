"""Checks of fit's arguments, and how fit cuts the data into batches."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.callbacks import Callback
from glassnet.module import Module
from glassnet.optim.optimizer import Optimizer


def check_verbose(verbose: Any) -> int:
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if not isinstance(verbose, (int, np.integer)):
        raise TypeError(f"verbose must be 0, 1 or 2. Received: verbose={short(verbose)}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2. Received: verbose={verbose!r}")
    return int(verbose)


def check_callbacks(callbacks: Any) -> list[Callback]:
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


def check_optimizer(optimizer: Any, model: Module) -> Optimizer:
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


def batch_bounds(model: Module, n: int, bs: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a lone last sample joins the batch before it when the model has BatchNorm.

    A batch of one sample has no batch statistics, and BatchNorm refuses it in
    training mode; merging it (rather than dropping it, as PyTorch's
    ``drop_last=True`` does) trains on every sample, every epoch.
    """
    bounds = [(start, min(start + bs, n)) for start in range(0, n, bs)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1 and any(m.batch_statistics for m in model.modules()):
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds
