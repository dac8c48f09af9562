"""Checkpoints: everything a training run needs to continue, bit for bit, after a crash.

A checkpoint file is a zip archive in the model files' safe format, written
and read by the same code (``glassnet._archive``): one JSON entry and raw
arrays, nothing that can run code.

* ``checkpoint.json``: ``{"format": "glassnet-checkpoint", "version": 1,
  "architecture": <as in a model file>, "arrays": {name: {"dtype", "shape"}},
  "optimizer": {"class", "lr", "steps", "slots": {slot: count}, "param_groups"},
  "schedules": [{"class", "state"}], "checkpoints": [ModelCheckpoint states],
  "early_stopping": [EarlyStopping states: best, best_epoch, wait, stopped_epoch],
  "rng": {"fit": <bit_generator.state>, "layers": {layer name: <bit_generator.state>}},
  "epoch": epochs completed, "step": optimizer steps, "run": {"samples", "batch_size"},
  "history": {"epoch": [...], "history": {...}}, "metadata": {...}}``, and for a
  language model's loop of steps (``glassnet.text_training.train_steps``) also
  ``"steps": {"total", "data", "eval_rng", "log": {"losses", "eval_steps", "eval_train", "eval_val"}}``
  (its ``epoch`` is 0, its ``run`` the number of training windows and the batch);
* ``arrays/model/<name>`` for each parameter and buffer and
  ``arrays/optimizer/<slot>/<i>`` for each optimizer slot (momentum, Adam's
  moments) that holds an array, and ``arrays/early_stopping/<k>/<name>`` for the best
  weights of the k-th EarlyStopping (with ``restore_best_weights``): raw little-endian bytes in C order.

The RNG states are NumPy's ``bit_generator.state`` dicts, which are plain
JSON. Floats that JSON can't write (an infinite "best" value, a NaN loss)
are stored as ``{"float": "inf"}``.
"""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from glassnet import io
from glassnet._archive import open_archive, write_archive
from glassnet._checks import all_finite, positive_int, real_or_inf, short
from glassnet.callbacks import Callback, EarlyStopping
from glassnet.history import History, TrainingRun
from glassnet.layers._base import placeholder_arrays
from glassnet.module import Module
from glassnet.optim.schedulers import LRScheduler
from glassnet.registry import describe_architecture

__all__ = [
    "finite_number",
    "ModelCheckpoint",
    "Checkpoint",
    "save_checkpoint",
    "read_checkpoint",
    "restore",
    "restore_steps",
    "check_settings",
    "FORMAT",
    "VERSION",
]

FORMAT = "glassnet-checkpoint"
VERSION = 1
_JSON_ENTRY = "checkpoint.json"
_HEADER_KEYS = {
    "format",
    "version",
    "architecture",
    "arrays",
    "optimizer",
    "schedules",
    "checkpoints",
    "rng",
    "epoch",
    "step",
    "run",
    "history",
    "metadata",
}
# A checkpoint's header is mostly lists of numbers: at most one object or array per 32 bytes
# (model files allow one per 8), so a 15 MiB header of small dicts costs ~100 MiB to parse, not 430.
_CONTAINER_BYTES = 32
# "early_stopping" is absent from files written before EarlyStopping was kept; "steps" from every file of fit's
_OPTIONAL_KEYS = {"early_stopping", "steps"}
_LOG_KEYS = ("losses", "eval_steps", "eval_train", "eval_val")


# -- JSON values ------------------------------------------------------------
def _to_json(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers and non-finite floats as ``{"float": "inf"}``."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"float"} and value["float"] in ("inf", "-inf", "nan"):
            return float(value["float"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _named_modules(module: Module, prefix: str = "") -> list[tuple[str, Module]]:
    found = [(prefix or "model", module)]
    for name, child in module.children():
        found += _named_modules(child, prefix + name if not prefix else f"{prefix}.{name}")
    return found


def _stochastic_layers(model: Module) -> dict[str, Any]:
    return {name: m for name, m in _named_modules(model) if m.stochastic}


# -- saving -----------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike[str],
    run: TrainingRun,
    metadata: dict[str, Any] | None = None,
    steps: dict[str, Any] | None = None,
) -> None:
    """Write the state of ``run`` (as ``fit`` shares it with callbacks) to ``path``, atomically.

    ``steps`` is the state of a language model's loop of steps, which ``train_steps`` passes
    (the planned steps, its data's digest, its evaluation generator's state, its log).

    The file is written next to ``path`` under a temporary name, flushed,
    then renamed over ``path``: a crash or a full disk leaves the previous
    checkpoint as it was.

    Raises:
        OSError (FileNotFoundError, PermissionError, ...): the folder is missing
            or not writable, or the disk is full; the message says which.
        ValueError: a layer class is not registered or the metadata is not JSON-safe.
    """
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of JSON-safe values. Received: {type(metadata).__name__}")
    model, optimizer = run.model, run.optimizer
    arrays = {f"model/{name}": a for name, a in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    slots = optimizer.state_lists()
    for slot in slots:
        for i, value in enumerate(opt_state[slot]):
            if value is not None:
                arrays[f"optimizer/{slot}/{i}"] = value
    stoppers = [cb for cb in run.callbacks if isinstance(cb, EarlyStopping)]
    for k, cb in enumerate(stoppers):
        for name, value in (cb.best_weights() or {}).items():
            arrays[f"early_stopping/{k}/{name}"] = value
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": describe_architecture(model),
        "optimizer": {
            "class": type(optimizer).__name__,
            "lr": float(opt_state["lr"]),
            "steps": int(opt_state["steps"]),
            "slots": {slot: len(values) for slot, values in slots.items()},
            "param_groups": _to_json(opt_state.get("param_groups")),  # each group's lr, weight decay, ...
        },
        "schedules": [
            {"class": type(cb).__name__, "state": _to_json(cb.state_dict())}
            for cb in run.callbacks
            if isinstance(cb, LRScheduler)
        ],
        "checkpoints": [_to_json(cb.state_dict()) for cb in run.callbacks if isinstance(cb, ModelCheckpoint)],
        "early_stopping": [_to_json(cb.state_dict()) for cb in stoppers],
        "rng": {
            "fit": _to_json(run.rng.bit_generator.state),
            "layers": {name: _to_json(m.rng.bit_generator.state) for name, m in _stochastic_layers(model).items()},
        },
        "epoch": run.epoch,
        "step": int(opt_state["steps"]),
        "run": {"samples": run.samples, "batch_size": run.batch_size},
        "history": {"epoch": list(run.history.epoch), "history": _to_json(run.history.history)},
        "metadata": metadata or {},
    }
    if steps is not None:
        header["steps"] = _to_json(steps)
    target = Path(os.fspath(path))
    try:
        write_archive(target, header, arrays, json_name=_JSON_ENTRY, container_bytes=_CONTAINER_BYTES)
    except OSError as err:  # write_archive has removed its temporary file; the old checkpoint is as it was
        kept = " (the previous checkpoint is unchanged)" if target.exists() else ""
        raise type(err)(err.errno, f"cannot write the checkpoint {target}: {_why(err, target.parent)}{kept}") from err


def _why(err: OSError, folder: Path) -> str:
    if isinstance(err, FileNotFoundError):
        return f"the folder {folder} does not exist"
    if isinstance(err, NotADirectoryError):
        return f"{folder} is not a folder"
    if isinstance(err, PermissionError):
        return f"no permission to write in {folder}"
    if err.errno == errno.ENOSPC:
        return "the disk is full"
    return err.strerror or str(err)


# -- reading ----------------------------------------------------------------
class Checkpoint:
    """A checkpoint file read and checked in memory: its JSON header and its arrays.

    Nothing is built or run; ``restore`` (which ``fit(resume_from=...)`` calls)
    compares it with the run it continues.
    """

    def __init__(self, where: str, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.where, self.header, self.arrays = where, header, arrays

    @property
    def epoch(self) -> int:
        """Epochs completed when it was written."""
        return int(self.header["epoch"])

    @property
    def step(self) -> int:
        """Optimizer steps taken when it was written."""
        return int(self.header["step"])

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.header["metadata"])

    @property
    def steps(self) -> dict[str, Any] | None:
        """A language model's loop state (``train_steps``): total, data, eval_rng, log; None for fit's checkpoints."""
        return self.header.get("steps")

    @property
    def history(self) -> History:
        """The History up to the checkpoint."""
        history = History()
        history.epoch = list(self.header["history"]["epoch"])
        history.history = {k: list(v) for k, v in self.header["history"]["history"].items()}
        return history

    def model(self) -> Module:
        """The model as the checkpoint holds it, built from its architecture and weights, with its metadata.

        For a finished run whose model file is missing (a kill while it was written): ``save`` it.
        Only registered layer classes are built, and their arrays are bounded by the file's, as in ``load``.
        """
        saved = {n[len("model/") :]: a for n, a in self.arrays.items() if n.startswith("model/")}
        try:
            with placeholder_arrays(sum(a.nbytes for a in saved.values())):
                model = io.build_architecture(self.header["architecture"])
        except ValueError as err:
            raise _bad(self.where, str(err)) from None
        owners = dict(_named_modules(model))
        params = dict(model.named_parameters())
        targets = {n: p.data for n, p in params.items()}
        targets.update(model.named_buffers())
        _check_arrays(self.where, saved, targets)
        for name, array in saved.items():
            if name in params:
                params[name].data = array.copy()
            else:
                owner, _, attribute = name.rpartition(".")
                setattr(owners[owner or "model"], attribute, array.copy())
        model.metadata = self.metadata  # type: ignore[attr-defined]
        return model

    def __repr__(self) -> str:
        return f"Checkpoint({self.where!r}, epoch={self.epoch}, step={self.step})"


def _bad(where: str, what: str) -> ValueError:
    return ValueError(f"{where}: {what}")


MAX_COUNT = 2**62  # epochs, steps and samples: far above any run, far below what would overflow


def _is_int(value: Any) -> bool:
    """An integer in [0, MAX_COUNT]: not a bool, a float (2.5, 1e300) or a string ("21")."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _is_number(value: Any) -> bool:
    """A finite JSON number, or a non-finite one as the checkpoint writes it (``{"float": "nan"}``)."""
    if isinstance(value, dict):
        return set(value) == {"float"} and value["float"] in ("inf", "-inf", "nan")
    return finite_number(value)


def finite_number(value: Any) -> bool:
    """A finite int or float, not a bool; an int too large for a float (10**400) is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) < 2**1023 if isinstance(value, int) else math.isfinite(value)


def _check_history(history: Any, where: str) -> None:
    """``{"epoch": [int, ...], "history": {name: [number, ...]}}``: numbers only, so reading costs what model.json's does."""
    if (
        not isinstance(history, dict)
        or set(history) != {"epoch", "history"}
        or not isinstance(history["epoch"], list)
        or not isinstance(history["history"], dict)
    ):
        raise _bad(where, "invalid 'history': it must be {'epoch': [...], 'history': {name: [...]}}")
    epochs = history["epoch"]
    if not all(_is_int(e) for e in epochs):
        raise _bad(where, f"invalid 'history': 'epoch' must list integers >= 0, got {short(epochs)}")
    for name, values in history["history"].items():
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise _bad(where, f"invalid 'history': {short(name)} must be a list of numbers, got {short(values)}")


def _check_pcg64(state: Any, what: str, where: str) -> None:
    """A PCG64 ``bit_generator.state``: 128-bit state and odd increment, as NumPy itself makes them.

    NumPy accepts an increment of 0 (then it draws only zeros) or values past 128 bits: refused here.
    """
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        return  # another kind: _set_rng compares it with the generator's own
    inner = state.get("state")
    ok = (
        set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and isinstance(inner, dict)
        and set(inner) == {"state", "inc"}
        and all(_is_int_below(inner[k], 2**128) for k in ("state", "inc"))
        and inner["inc"] % 2 == 1
        and state["has_uint32"] in (0, 1)
        and not isinstance(state["has_uint32"], bool)
        and _is_int_below(state["uinteger"], 2**32)
    )
    if not ok:
        raise _bad(
            where,
            f"invalid RNG state for {what}: a PCG64 state holds a 128-bit 'state', an odd 128-bit 'inc', "
            f"'has_uint32' 0 or 1 and a 32-bit 'uinteger'; got {short(state)}",
        )


def _is_int_below(value: Any, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < high


def _check_arrays_named(header: dict[str, Any], where: str) -> None:
    """Every described array is one a checkpoint writes: the model's, an optimizer slot's, a best weight's."""
    slots = header["optimizer"]["slots"]
    stoppers = len(header["early_stopping"] or ())
    for name in header["arrays"]:
        kind, _, rest = name.partition("/")
        if kind == "model" and rest:
            continue
        if kind == "optimizer":
            slot, _, index = rest.partition("/")
            if slot in slots and index.isdigit() and index == str(int(index)) and int(index) < slots[slot]:
                continue
        if kind == "early_stopping":
            k, _, weight = rest.partition("/")
            if k.isdigit() and k == str(int(k)) and int(k) < stoppers and weight:
                continue
        raise _bad(
            where, f"unknown array {short(name)}: a checkpoint holds model/, optimizer/ and early_stopping/ arrays"
        )


def _check_header(header: Any, where: str) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise _bad(where, f"{_JSON_ENTRY} must hold a JSON object, got {type(header).__name__}")
    if header.get("format") != FORMAT:
        hint = " (a model file: load it with glassnet.load)" if header.get("format") == io.FORMAT else ""
        raise _bad(where, f"not a glassnet checkpoint (format {short(header.get('format'))}){hint}")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad(where, f"invalid format version {short(version)}")
    if version > VERSION:
        raise _bad(where, f"written in checkpoint version {version} by a newer glassnet; this one reads {VERSION}")
    if not _HEADER_KEYS <= set(header) <= _HEADER_KEYS | _OPTIONAL_KEYS:
        raise _bad(
            where,
            f"{_JSON_ENTRY} must have the keys {sorted(_HEADER_KEYS)} and optionally {sorted(_OPTIONAL_KEYS)}, "
            f"got {short(sorted(header))}",
        )
    header.setdefault("early_stopping", None)  # None: a file from before EarlyStopping was kept
    kinds = {
        "arrays": dict,
        "optimizer": dict,
        "schedules": list,
        "checkpoints": list,
        "early_stopping": list,
        "rng": dict,
        "run": dict,
        "history": dict,
        "metadata": dict,
    }
    for key, kind in kinds.items():
        if not isinstance(header[key], kind) and not (key == "early_stopping" and header[key] is None):
            raise _bad(where, f"{key!r} must be a JSON {'object' if kind is dict else 'array'}")
    for key in ("epoch", "step"):
        if not _is_int(header[key]):
            raise _bad(where, f"{key!r} must be an integer >= 0, got {short(header[key])}")
    opt = header["optimizer"]
    if (
        set(opt) != {"class", "lr", "steps", "slots", "param_groups"}
        or not isinstance(opt["param_groups"], (list, type(None)))
        or not isinstance(opt["class"], str)
        or not isinstance(opt["slots"], dict)
        or not all(_is_int(v) for v in opt["slots"].values())
    ):
        raise _bad(where, f"invalid optimizer state {short(opt)}")
    if not _is_int(opt["steps"]):
        raise _bad(where, f"the optimizer's 'steps' must be an integer >= 0, got {short(opt['steps'])}")
    if opt["steps"] != header["step"]:
        raise _bad(where, f"the optimizer's 'steps' {opt['steps']} differs from 'step' {header['step']}")
    if not _is_number(opt["lr"]) or isinstance(opt["lr"], dict) or opt["lr"] < 0:
        raise _bad(where, f"the optimizer's 'lr' must be a number >= 0, got {short(opt['lr'])}")
    rng = header["rng"]
    if set(rng) != {"fit", "layers"} or not isinstance(rng["layers"], dict):
        raise _bad(where, "'rng' must be {'fit': ..., 'layers': {...}}")
    _check_pcg64(rng["fit"], "fit's generator", where)
    for name, state in rng["layers"].items():
        _check_pcg64(state, name, where)
    run = header["run"]
    if set(run) != {"samples", "batch_size"} or not all(_is_int(v) and v > 0 for v in run.values()):
        raise _bad(where, f"invalid 'run': 'samples' and 'batch_size' must be integers >= 1, got {short(run)}")
    if run["batch_size"] > run["samples"] and header.get("steps") is None:  # train_steps draws with replacement
        raise _bad(where, f"invalid 'run': 'batch_size' {run['batch_size']} is more than 'samples' {run['samples']}")
    _check_history(header["history"], where)
    for state in header["checkpoints"]:
        if not isinstance(state, dict) or set(state) != {"best"} or not _is_number(state["best"]):
            raise _bad(where, f"invalid ModelCheckpoint state {short(state)}")
        if _from_json(state["best"]) != _from_json(state["best"]):  # NaN would never be improved on
            raise _bad(where, f"invalid ModelCheckpoint state {short(state)}: 'best' is NaN")
    _check_arrays_named(header, where)
    header["history"] = _from_json(header["history"])
    header.setdefault("steps", None)
    if header["steps"] is not None:
        header["steps"] = _check_steps(header["steps"], where)
    return header


def _check_steps(steps: Any, where: str) -> dict[str, Any]:
    """A loop of steps' state: ``{"total", "data", "eval_rng", "log"}``, numbers only in the log."""
    if not isinstance(steps, dict) or set(steps) != {"total", "data", "eval_rng", "log"}:
        raise _bad(where, f"invalid 'steps': it must be {{'total', 'data', 'eval_rng', 'log'}}, got {short(steps)}")
    if not (_is_int(steps["total"]) and steps["total"] >= 1) or not isinstance(steps["data"], str):
        raise _bad(where, f"invalid 'steps': 'total' must be an integer >= 1 and 'data' a string, got {short(steps)}")
    _check_pcg64(steps["eval_rng"], "the evaluation's generator", where)
    log = steps["log"]
    if not isinstance(log, dict) or set(log) != set(_LOG_KEYS):
        raise _bad(where, f"invalid 'steps': 'log' must hold {list(_LOG_KEYS)}, got {short(log)}")
    for key in _LOG_KEYS:
        values = log[key]
        ok = _is_int if key == "eval_steps" else _is_number
        if not isinstance(values, list) or not all(ok(v) for v in values):
            raise _bad(where, f"invalid 'steps': {key!r} must be a list of numbers, got {short(values)}")
    if len(log["losses"]) > steps["total"] or not len(log["eval_steps"]) == len(log["eval_train"]) == len(
        log["eval_val"]
    ):
        raise _bad(where, f"invalid 'steps': the log's lengths do not fit {steps['total']} steps")
    return dict(_from_json(steps))


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and check the checkpoint file ``path`` in memory; nothing in it is imported, unpickled or run.

    The file is opened and bounded as model files are (``glassnet._archive``):
    reading it costs memory in proportion to its size, whatever it claims.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a glassnet checkpoint, is truncated or damaged,
            or was written by a newer version; the message names the file.
    """
    try:
        with open_archive(
            path, json_name=_JSON_ENTRY, kind="glassnet checkpoint", container_bytes=_CONTAINER_BYTES
        ) as archive:
            header = _check_header(archive.header, archive.where)
            arrays = {name: archive.read(name) for name in archive.specs}
            for name, array in arrays.items():
                if not all_finite(array):
                    raise _bad(archive.where, f"array {name!r} holds NaN or infinite values")
            return Checkpoint(archive.where, header, arrays)
    except ValueError as err:
        if f"has no {_JSON_ENTRY}" in str(err) and _is_model_file(path):
            raise ValueError(f"{err} (a model file: load it with glassnet.load)") from None
        raise


def _is_model_file(path: str | os.PathLike[str]) -> bool:
    try:
        with open_archive(path, json_name=io.JSON_ENTRY):
            return True
    except ValueError:
        return False


def check_settings(
    settings: Any, where: str, optimizers: tuple[str, ...] = ("sgd", "adam"), required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The training settings a program stored in a checkpoint's metadata, checked as its flags are.

    ``epochs`` and ``batch_size`` must be integers >= 1, ``lr`` a finite number > 0 and
    ``optimizer`` one of ``optimizers``; a name in ``required`` must be present. A resumed run
    should not trust a file more than its command line: the ValueError names the file and the setting.

    Example:
        >>> check_settings({"epochs": 3, "batch_size": 32, "optimizer": "adam", "lr": 1e-3}, "ck.gnet")["epochs"]
        3
    """
    if not isinstance(settings, dict):
        raise _bad(where, f"the stored settings must be a JSON object, got {short(settings)}")
    missing = [key for key in required if key not in settings]
    if missing:
        raise _bad(where, f"the stored settings lack {missing}")
    for key in ("epochs", "batch_size"):
        if key in settings and not (_is_int(settings[key]) and settings[key] >= 1):
            raise _bad(
                where, f"the stored setting {key} must be an integer >= 1. Received: {key}={short(settings[key])}"
            )
    if "lr" in settings:
        lr = settings["lr"]
        if not finite_number(lr) or lr <= 0:
            raise _bad(where, f"the stored setting lr must be a number > 0. Received: lr={short(lr)}")
    if "optimizer" in settings and settings["optimizer"] not in optimizers:
        raise _bad(
            where,
            f"the stored setting optimizer must be one of {list(optimizers)}. "
            f"Received: optimizer={short(settings['optimizer'])}",
        )
    return settings


# -- restoring --------------------------------------------------------------
def _set_rng(generator: np.random.Generator, state: Any, what: str, where: str) -> None:
    """Put a saved ``bit_generator.state`` back, checking it is one of the same kind."""
    bit_generator = generator.bit_generator
    expected = bit_generator.state["bit_generator"]
    if not isinstance(state, dict) or state.get("bit_generator") != expected:
        raise _bad(where, f"the RNG state of {what} is not a {expected} state: {short(state)}")
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise _bad(where, f"invalid RNG state for {what} ({short(str(err))})") from None


def _restore_model(ck: Checkpoint, model: Module) -> None:
    where = ck.where
    if ck.header["architecture"] != json.loads(json.dumps(describe_architecture(model))):  # tuples as lists
        raise _bad(
            where,
            "the checkpoint was written for another model: its architecture "
            f"{short(ck.header['architecture'])} differs from this model's",
        )
    targets: dict[str, np.ndarray] = {n: p.data for n, p in model.named_parameters()}
    targets.update(model.named_buffers())
    saved = {n[len("model/") :]: a for n, a in ck.arrays.items() if n.startswith("model/")}
    _check_arrays(where, saved, targets)
    model.load_state_dict(saved)


def _check_arrays(where: str, saved: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> None:
    """The checkpoint's model arrays have the names, shapes and dtypes of the model's."""
    if set(saved) != set(targets):
        raise _bad(
            where, f"the checkpoint's arrays {sorted(saved)[:10]} do not match the model's {sorted(targets)[:10]}"
        )
    for name, target in targets.items():
        if saved[name].shape != target.shape or saved[name].dtype.name != target.dtype.name:
            raise _bad(
                where,
                f"array {name!r} is {saved[name].dtype.name} {saved[name].shape}, "
                f"but the model holds {target.dtype.name} {target.shape}",
            )


def _restore_optimizer(ck: Checkpoint, optimizer: Any) -> None:
    where, saved = ck.where, ck.header["optimizer"]
    if saved["class"] != type(optimizer).__name__:
        raise _bad(where, f"the checkpoint holds {short(saved['class'])} state, but fit got {type(optimizer).__name__}")
    slots = optimizer.state_lists()
    if saved["slots"] != {slot: len(values) for slot, values in slots.items()}:
        raise _bad(where, f"the optimizer's slots {short(saved['slots'])} do not match this optimizer's")
    state: dict[str, Any] = {"lr": saved["lr"], "steps": saved["steps"], "param_groups": saved["param_groups"]}
    for slot, values in slots.items():
        state[slot] = [ck.arrays.get(f"optimizer/{slot}/{i}") for i in range(len(values))]
    try:
        optimizer.load_state_dict(state)
    except (TypeError, ValueError, AttributeError, KeyError) as err:  # a group that is not a dict, ...
        raise _bad(where, f"cannot restore the optimizer: {short(str(err))}") from None


def _restore_callbacks(ck: Checkpoint, callbacks: list[Callback]) -> None:
    where = ck.where
    schedules = [cb for cb in callbacks if isinstance(cb, LRScheduler)]
    saved = ck.header["schedules"]
    names = [s.get("class") if isinstance(s, dict) else None for s in saved]
    if names != [type(cb).__name__ for cb in schedules]:
        raise _bad(
            where,
            f"the checkpoint's run had the schedules {short(names)}; give fit the same ones "
            f"(it got {[type(cb).__name__ for cb in schedules]})",
        )
    for cb, entry in zip(schedules, saved):
        try:
            cb.load_state_dict(_from_json(entry.get("state")))
        except (TypeError, ValueError) as err:
            raise _bad(where, f"cannot restore {type(cb).__name__}: {err}") from None
    # A checkpoint callback's own state (its best value) is restored where there is one to take it.
    checkpoints = [cb for cb in callbacks if isinstance(cb, ModelCheckpoint)]
    for checkpoint, state in zip(checkpoints, ck.header["checkpoints"]):
        checkpoint.load_state_dict(_from_json(state), where)
    _restore_early_stopping(ck, [cb for cb in callbacks if isinstance(cb, EarlyStopping)])


def _restore_early_stopping(ck: Checkpoint, stoppers: list[EarlyStopping]) -> None:
    """EarlyStopping's counters and best weights, so a resumed run stops where it would have.

    The model is restored first: a stopper whose best weights the file lacks takes the
    checkpoint's weights, never the ones from before the resume.
    """
    where, saved = ck.where, ck.header["early_stopping"]
    if saved is None:  # a file from before EarlyStopping was kept: counters afresh, best weights the resumed ones
        for cb in stoppers:
            cb.load_state_dict(cb.state_dict())
        return
    if len(saved) != len(stoppers):
        raise _bad(
            where,
            f"the checkpoint's run had {len(saved)} EarlyStopping callback(s); give fit the same "
            f"(it got {len(stoppers)})",
        )
    model_arrays = {n[len("model/") :]: a for n, a in ck.arrays.items() if n.startswith("model/")}
    states = []
    for k, cb in enumerate(stoppers):  # every one checked on a scratch copy before any changes
        prefix = f"early_stopping/{k}/"
        weights = {n[len(prefix) :]: a.copy() for n, a in ck.arrays.items() if n.startswith(prefix)} or None
        if weights is not None:
            _check_arrays(where, weights, model_arrays)
        try:
            scratch = EarlyStopping(cb.monitor, cb.patience, cb.min_delta, cb.mode)
            scratch.load_state_dict(_from_json(saved[k]))
        except (TypeError, ValueError) as err:
            raise _bad(where, f"cannot restore EarlyStopping {k}: {err}") from None
        states.append((_from_json(saved[k]), weights))
    for cb, (state, weights) in zip(stoppers, states):
        cb.load_state_dict(state, weights)


def _put_back(optimizer: Any, state: dict[str, Any], groups: list[dict[str, Any]]) -> None:
    """Undo a partial ``load_state_dict`` (which refuses the empty slots of a fresh SGD)."""
    for group, saved in zip(optimizer.param_groups, groups):
        group.update(saved)  # the settings, lr included
    optimizer.steps = state["steps"]
    for slot, values in optimizer.state_lists().items():
        values[:] = state[slot]


def restore(path: str | os.PathLike[str], run: TrainingRun, epochs: int) -> bool:
    """Continue ``run`` from the checkpoint at ``path``: ``fit(resume_from=path)`` calls this.

    Restores the weights and buffers, the optimizer's slots and step count,
    the schedules, fit's RNG and every stochastic layer's, the History and
    the epoch count, after checking that the checkpoint belongs to this run.
    A checkpoint that doesn't fit raises ValueError and leaves the run as it was.

    Returns:
        True when the checkpoint's run is finished (it is at ``epochs``, or an EarlyStopping
        stopped it): ``fit`` then trains nothing and says so, and the model holds the run's final
        weights (before EarlyStopping restores its best ones, as at the end of any run).
    """
    ck = read_checkpoint(path)
    where = ck.where
    if ck.steps is not None:
        raise _bad(
            where,
            "a language model's checkpoint, written by a loop of steps: resume it with "
            "glassnet.text_training.train_steps(resume_from=...) or glassnet train --resume",
        )
    _check_same_run(ck, run)
    if ck.epoch > epochs:
        raise _bad(where, f"the checkpoint is at epoch {ck.epoch}, past epochs={epochs}")
    _restore_state(ck, run)
    history = ck.history
    run.history.epoch, run.history.history = history.epoch, history.history
    run.epoch = ck.epoch
    stopped = any(cb.stopped_epoch is not None for cb in run.callbacks if isinstance(cb, EarlyStopping))
    return stopped or run.epoch >= epochs


def restore_steps(path: str | os.PathLike[str], run: TrainingRun, total: int, data: str) -> dict[str, Any]:
    """Continue a language model's loop of steps from ``path``: ``train_steps(resume_from=path)`` calls this.

    ``run`` holds the loop's model, optimizer, training generator and schedule (its only callback);
    ``total`` is the steps the loop is asked for and ``data`` its training tokens' digest: both must be
    the checkpoint's, since the schedule's cosine and the batches depend on them. Restores what
    ``restore`` does and returns the loop's own state (``eval_rng``, ``log``); a checkpoint that
    doesn't fit raises ValueError and leaves the run as it was.
    """
    ck = read_checkpoint(path)
    where, steps = ck.where, ck.steps
    if steps is None:
        raise _bad(where, "a checkpoint of fit's epochs: resume it with fit(resume_from=...)")
    _check_same_run(ck, run)
    if steps["total"] != total:
        raise _bad(where, f"the checkpoint's run has {steps['total']} steps, not {total}: resume it with the same")
    if steps["data"] != data:
        raise _bad(where, "the checkpoint's run trained on other tokens (their digests differ): give it the same text")
    _set_rng(np.random.Generator(np.random.PCG64()), steps["eval_rng"], "the evaluation", where)  # always PCG64
    _restore_state(ck, run)
    return steps


def _check_same_run(ck: Checkpoint, run: TrainingRun) -> None:
    same_run = {"samples": run.samples, "batch_size": run.batch_size}
    if ck.header["run"] != same_run:
        raise _bad(
            ck.where,
            f"the checkpoint's run trained on {ck.header['run']['samples']} samples in batches of "
            f"{ck.header['run']['batch_size']}; this one has {run.samples} and {run.batch_size}",
        )


def _restore_state(ck: Checkpoint, run: TrainingRun) -> None:
    """The model, optimizer, schedules, callbacks and RNGs of ``run`` from ``ck``: all of them, or none."""
    where = ck.where
    layers = _stochastic_layers(run.model)
    if set(ck.header["rng"]["layers"]) != set(layers):
        raise _bad(
            where, f"the checkpoint's stochastic layers {sorted(ck.header['rng']['layers'])[:10]} are not this model's"
        )
    # The RNG states are checked on scratch generators of the same kind first.
    _set_rng(np.random.Generator(type(run.rng.bit_generator)()), ck.header["rng"]["fit"], "fit's generator", where)
    for name, layer in layers.items():
        _set_rng(np.random.Generator(type(layer.rng.bit_generator)()), ck.header["rng"]["layers"][name], name, where)
    stateful = [cb for cb in run.callbacks if isinstance(cb, (LRScheduler, ModelCheckpoint))]
    backup = (run.model.state_dict(), run.optimizer.state_dict(), [cb.state_dict() for cb in stateful])
    groups = [dict(g) for g in run.optimizer.param_groups]
    try:
        _restore_model(ck, run.model)
        _restore_optimizer(ck, run.optimizer)
        _restore_callbacks(ck, run.callbacks)
    except BaseException:  # put the run back as it was: no half-restored state
        run.model.load_state_dict(backup[0])
        _put_back(run.optimizer, backup[1], groups)
        for cb, state in zip(stateful, backup[2]):
            cb.load_state_dict(state)
        raise
    _set_rng(run.rng, ck.header["rng"]["fit"], "fit's generator", where)
    for name, layer in layers.items():
        _set_rng(layer.rng, ck.header["rng"]["layers"][name], name, where)


# -- the callback -----------------------------------------------------------
class ModelCheckpoint(Callback):
    """Save a resumable checkpoint during ``fit``: ``fit(..., resume_from=path)`` continues from it.

    A checkpoint holds the model, the optimizer's state (momentum buffers,
    Adam's moments, the step count), the schedules' state, the states of
    fit's shuffling generator and of every stochastic layer, the epoch count
    and the History. Resuming gives, bit for bit, the weights of a run that
    never stopped. It is written at the end of an epoch, after the other
    callbacks (so schedules have stepped), atomically: a crash while writing
    leaves the previous checkpoint intact. An epoch that a callback stops
    part-way is not saved (it could not be resumed exactly).

    Args:
        path: the file to write. It may name the epoch and the logs as in
            ``"ckpt-{epoch:03d}-{val_loss:.3f}.gnet"``; then each save is a new file.
        monitor: the value that ``save_best_only`` compares; "val_loss" falls
            back to "loss" without validation data.
        save_best_only: write only when ``monitor`` improves on the best so far.
        every: write every ``every`` epochs.
        mode: "min", "max" or "auto" (max for names containing "acc").
        metadata: a JSON-safe dict stored with each checkpoint.

    Example:
        >>> import os, tempfile, numpy as np, glassnet as gn
        >>> x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
        >>> y = (x.sum(axis=1) > 0).astype(np.int64)
        >>> def run(epochs, **kwargs):
        ...     model = gn.Sequential(gn.Linear(3, 8, rng=0), gn.ReLU(), gn.Dropout(0.2), gn.Linear(8, 2, rng=1))
        ...     opt = gn.Adam(model.parameters(), lr=0.01)
        ...     model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=opt, epochs=epochs,
        ...               batch_size=8, seed=0, verbose=0, **kwargs)
        ...     return model
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "checkpoint.gnet")
        ...     _ = run(2, callbacks=[gn.ModelCheckpoint(path)])  # stops after 2 of 4 epochs
        ...     resumed = run(4, resume_from=path)                # a new process could do this
        >>> bool(np.array_equal(resumed[0].weight.data, run(4)[0].weight.data))
        True
    """

    runs_last = True
    rank_zero_only = True  # distributed training: rank 0 alone writes the file (every rank holds the same state)

    def __init__(
        self,
        path: str | os.PathLike[str],
        monitor: str = "val_loss",
        save_best_only: bool = False,
        every: int = 1,
        mode: str = "auto",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        if not self.path:
            raise ValueError("path must name a file. Received: path=''")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a logged value. Received: monitor={short(monitor)}")
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.every = positive_int(every, "every")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'. Received: mode={short(mode)}")
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict of JSON-safe values. Received: {type(metadata).__name__}")
        self.metadata = metadata
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_saved: str | None = None  # the file written last, None before the first save

    def on_train_begin(self) -> None:
        # Fail before training, not after the first epoch.
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            reason = "is not a folder" if os.path.exists(folder) else "does not exist"
            raise FileNotFoundError(errno.ENOENT, f"cannot write checkpoints to {self.path}: {folder} {reason}")
        if "{" in self.path and self.run is not None:
            self._check_template(self.run.log_names)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_saved = None

    def _check_template(self, log_names: tuple[str, ...]) -> None:
        """Format the file name with stand-in values now, so a key the logs lack fails before training."""
        values = {"epoch": 1, **{name: 0.0 for name in log_names}}
        try:
            self.path.format(**values)
        except KeyError as err:
            hint = " (val_ values need validation_data)" if str(err.args[0]).startswith("val_") else ""
            raise ValueError(
                f"ModelCheckpoint's path {short(self.path)} names {{{err.args[0]}}}, but the epoch logs will hold "
                f"only {sorted(values)}{hint}"
            ) from None
        except (IndexError, ValueError, TypeError) as err:
            raise ValueError(
                f"ModelCheckpoint's path {short(self.path)} is not a valid file name template: {err}"
            ) from None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        run = self.run
        if run is None:
            raise RuntimeError("ModelCheckpoint saves the state of a fit run: pass it in fit(callbacks=[...])")
        if run.epoch != epoch + 1 or run.epoch % self.every:
            return
        if self.save_best_only:
            key = "loss" if self.monitor == "val_loss" and self.monitor not in logs else self.monitor
            if key not in logs:
                raise ValueError(
                    f"ModelCheckpoint monitors {self.monitor!r}, but the epoch logs hold only {sorted(logs)}"
                )
            value = float(logs[key])
            if not (value < self.best if self.mode == "min" else value > self.best):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs) if "{" in self.path else self.path
        save_checkpoint(path, run, metadata=self.metadata)
        self.last_saved = path

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: Any, where: str = "state") -> None:
        if not isinstance(state, dict) or set(state) != {"best"}:
            raise ValueError(f"{where}: invalid ModelCheckpoint state {short(state)}")
        try:
            self.best = real_or_inf(state["best"], "best")  # a NaN best would never be improved on
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: invalid ModelCheckpoint state: {err}") from None
