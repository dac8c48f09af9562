"""A training run of ``glassnet train``: what its model file records, and how Ctrl-C stops it.

``RunInfo`` is the metadata that ``glassnet train`` writes into the model
file, read back with every field checked, so that a hand-edited or foreign
file gives a note instead of a crash. ``StopOnInterrupt`` and
``interruptible`` turn Ctrl-C into a clean stop at the end of a batch.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from glassnet.callbacks import Callback
from glassnet.cli.recipes import PIXEL_MAX

__all__ = ["RunInfo", "read_run_info", "StopOnInterrupt", "interruptible"]


@dataclass
class RunInfo:
    """What the model file says about its training; None where it says nothing (or nothing usable)."""

    data: str | None = None
    model: str | None = None
    input_shape: tuple[int, ...] | None = None
    class_names: list[str] | None = None
    divide_by: float | None = None  # the inputs were raw values / divide_by
    seed: int | None = None
    epochs: int | None = None
    test_accuracy: float | None = None
    interrupted: dict[str, int] | None = None

    def describe(self) -> str:
        """One line for ``glassnet summary``: data set, model, and how the training ended."""
        if self.data is None:
            return ""
        parts = [f"trained on {self.data}" + (f" ({self.model})" if self.model else "")]
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        if self.interrupted is not None:
            of = f"/{self.epochs}" if self.epochs is not None else ""
            parts.append(f"interrupted in epoch {self.interrupted['epoch']}{of}, not tested")
        elif self.test_accuracy is not None:
            parts.append(f"test accuracy {self.test_accuracy:.4f}")
        return ", ".join(parts)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None


def read_run_info(metadata: Any) -> tuple[RunInfo, list[str]]:
    """The metadata as a RunInfo, and a sentence for each field that was there but unusable (and is ignored)."""
    info = RunInfo()
    problems: list[str] = []
    if not isinstance(metadata, dict):
        return info, ([] if metadata is None else ["its metadata is not a JSON object; ignored"])

    def bad(key: str, expected: str) -> None:
        value = repr(metadata[key])
        problems.append(
            f"ignoring metadata {key}={value[:40] + '…' if len(value) > 40 else value}: expected {expected}"
        )

    if "data" in metadata:
        if isinstance(metadata["data"], str) and metadata["data"]:
            info.data = metadata["data"]
        else:
            bad("data", "the name of a data set")
    if isinstance(metadata.get("model"), str):
        info.model = metadata["model"]
    if "input_shape" in metadata:
        shape = metadata["input_shape"]
        dims = [_int(d) for d in shape] if isinstance(shape, list) else []
        if dims and all(d is not None and d > 0 for d in dims):
            info.input_shape = tuple(d for d in dims if d is not None)
        else:
            bad("input_shape", "a list of positive sizes")
    if "class_names" in metadata:
        names = metadata["class_names"]
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            info.class_names = list(names)
        else:
            bad("class_names", "a list of strings")
    preprocessing = metadata.get("preprocessing")
    if preprocessing is not None:
        d = _number(preprocessing.get("divide_by")) if isinstance(preprocessing, dict) else None
        if isinstance(preprocessing, dict) and ("divide_by" not in preprocessing or (d is not None and d > 0)):
            info.divide_by = d
        else:
            bad("preprocessing", 'a dict such as {"divide_by": 255}')
    elif info.data in PIXEL_MAX:  # a file written before the preprocessing was recorded
        info.divide_by = float(PIXEL_MAX[info.data])
    for key in ("seed", "test_accuracy"):
        if key in metadata:
            value = _int(metadata[key]) if key == "seed" else _number(metadata[key])
            if value is None:
                bad(key, "a number")
            setattr(info, key, value)
    settings = metadata.get("settings")
    if isinstance(settings, dict):
        info.epochs = _int(settings.get("epochs"))
    interrupted = metadata.get("interrupted")
    if interrupted is not None:
        fields = (
            {k: _int(interrupted.get(k)) for k in ("epoch", "batch", "batches")}
            if isinstance(interrupted, dict)
            else {}
        )
        if fields and all(v is not None for v in fields.values()):
            info.interrupted = {k: v for k, v in fields.items() if v is not None}
        else:
            bad("interrupted", "a dict of epoch, batch and batches")
    return info, problems


class StopOnInterrupt(Callback):
    """Ends ``fit`` at the end of the batch during which ``requested`` was set (by Ctrl-C, see ``interruptible``).

    After ``fit``, ``stopped`` is ``(epoch, batches)``: the 1-based epoch it
    stopped in and how many of its ``batches`` ran; None if it ran to the end.
    """

    def __init__(self, batches: int) -> None:
        self.batches = batches
        self.requested = False
        self.stopped: tuple[int, int] | None = None
        self._epoch = 0  # epochs finished

    def on_batch_end(self, batch: int, loss: float) -> None:
        if self.requested and self.stopped is None:
            done = self._epoch if self.run is None else self.run.epoch  # a resumed run starts past epoch 0
            self.stopped = (done + 1, batch + 1)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self._epoch = epoch + 1
        if self.requested and self.stopped is None:  # Ctrl-C during the validation pass
            self.stopped = (self._epoch, self.batches)
            self.model.stop_training = True


@contextlib.contextmanager
def interruptible(stop: StopOnInterrupt) -> Iterator[StopOnInterrupt]:
    """While inside, the first Ctrl-C sets ``stop.requested``; a second one raises KeyboardInterrupt at once."""

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        # os.write, not print: a signal handler may run in the middle of a print
        os.write(2, b"\nCtrl-C: stopping at the end of this batch (press it again to quit without saving)\n")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: signals cannot be caught here
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
