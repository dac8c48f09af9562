"""Saving and loading models in files that can't run code.

A model file is one uncompressed zip archive holding

* ``model.json``: ``{"format": "glassnet-model", "version": 1,
  "architecture": {"class": "Sequential", "config": {"layers": [{"class": ..., "config": ...}, ...]}},
  "arrays": {name: {"dtype": "float32", "shape": [...]}}}``, where the names
  are those of ``model.state_dict()`` (parameters and buffers), plus an
  optional ``"metadata"`` object of the caller's own JSON values;
* ``arrays/<name>``, one per array: its values as raw little-endian bytes in C order.

Loading never unpickles and never imports anything named in the file: class
names are looked up in an explicit registry of glassnet's own layers (and the
classes users add with ``register_layer``), the constructors validate the
configuration, and each array is checked against the rebuilt model (name,
dtype, shape, byte length) before ``load_state_dict``. Whatever is wrong with
a file is reported as ValueError. The archive is read in memory; nothing is
extracted to disk.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import reprlib
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

import glassnet.layers
from glassnet import init as initializers
from glassnet.module import Module, Sequential

__all__ = ["save", "load", "register_layer", "FORMAT", "VERSION"]

FORMAT = "glassnet-model"
VERSION = 1
_JSON_ENTRY = "model.json"
_ARRAY_PREFIX = "arrays/"
_ALLOWED_DTYPES = ("float16", "float32", "float64")
_MAX_JSON_BYTES = 64 * 2**20
_MAX_DEPTH = 64  # nesting of Sequentials; deeper is a broken or hostile file
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry times: the same model gives the same bytes


def _builtin_layers() -> dict[str, type[Module]]:
    """glassnet's own layers: every Module class that ``glassnet.layers`` exports, and Sequential."""
    registry: dict[str, type[Module]] = {"Sequential": Sequential}
    for name in glassnet.layers.__all__:
        obj = getattr(glassnet.layers, name)
        if isinstance(obj, type) and issubclass(obj, Module):
            registry[obj.__name__] = obj
    return registry


_REGISTRY: dict[str, type[Module]] = _builtin_layers()


def register_layer(cls: type[Module]) -> type[Module]:
    """Let ``load`` rebuild your own layer class; use it as a function or a class decorator.

    The class is registered under its ``__name__``. Its ``get_config()`` must
    return the constructor's arguments as JSON-safe values, and its
    constructor must validate them (raise ValueError or TypeError on a bad
    value), because on loading they come from the file. Registering a second,
    different class under a name already taken raises ValueError.

    Example:
        >>> import glassnet as gn
        >>> @gn.register_layer
        ... class Scale(gn.Module):
        ...     def __init__(self, factor: float = 2.0):
        ...         super().__init__()
        ...         self.factor = float(factor)
        ...     def forward(self, x):
        ...         return x * self.factor
        ...     def get_config(self):
        ...         return {"factor": self.factor}
    """
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_layer expects a subclass of glassnet.Module. Received: cls={cls!r}")
    known = _REGISTRY.get(cls.__name__)
    if known is not None and known is not cls:
        raise ValueError(
            f"a different layer class named {cls.__name__!r} is already registered ({known.__module__}); "
            "rename your class"
        )
    _REGISTRY[cls.__name__] = cls
    return cls


# -- saving -----------------------------------------------------------------
def _architecture(model: Module) -> dict[str, Any]:
    """``{"class", "config"}`` for the model, checking every class can be rebuilt on loading."""
    cls = type(model)
    if _REGISTRY.get(cls.__name__) is not cls:
        raise ValueError(
            f"cannot save a model containing {cls.__name__}: load could not rebuild it. "
            f"Register the class first: glassnet.register_layer({cls.__name__})"
        )
    if cls is Sequential and isinstance(model, Sequential):  # layers by class and config, not as objects
        return {"class": cls.__name__, "config": {"layers": [_architecture(layer) for layer in model.layers]}}
    return {"class": cls.__name__, "config": model.get_config()}


def describe_architecture(model: Module) -> dict[str, Any]:
    """``{"class": ..., "config": ...}`` for ``model``, as a model file stores it (containers such as Residual use it)."""
    return _architecture(model)


_NESTING = [0]  # the depth of the layer _build is building now, so a container's contents count on from it


def build_architecture(spec: dict[str, Any]) -> Module:
    """The module that ``spec`` (from ``describe_architecture``) describes, built from registered classes only.

    Containers (Residual) call it from their constructor; when a file is loaded,
    their contents count towards the nesting limit from the container's depth.
    """
    return _build(spec, "architecture", _NESTING[0] + 1)


def _check_arrays(state: dict[str, np.ndarray]) -> None:
    for name, array in state.items():
        if array.dtype.name not in _ALLOWED_DTYPES:
            raise ValueError(f"cannot save {name!r}: dtype {array.dtype} is not one of {list(_ALLOWED_DTYPES)}")


def _entry(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    info.external_attr = 0o644 << 16
    return info


def save(model: Module, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` (architecture, parameters and buffers) to the file ``path``.

    ``metadata``, a dict of JSON-safe values (class names, the training
    settings, a test score), is stored alongside; ``load`` gives it back as
    ``model.metadata``.

    The write is atomic: the file is written next to ``path`` under a
    temporary name, flushed to disk, then renamed over ``path``, so a crash
    leaves either the old file or the new one, never half of one.

    Raises:
        ValueError: if a layer class is not registered (see ``register_layer``),
            a config or the metadata is not JSON-safe, or an array is not floating point.

    Example:
        >>> import os, tempfile, numpy as np, glassnet as gn
        >>> model = gn.Sequential(gn.Linear(3, 2, rng=0), gn.Tanh())
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "model.gnet")
        ...     model.save(path)
        ...     same = gn.load(path)
        >>> x = np.ones((1, 3), dtype=np.float32)
        >>> bool((same.predict(x) == model.predict(x)).all())
        True
    """
    if not isinstance(model, Module):
        raise TypeError(f"save expects a glassnet Module. Received: {type(model).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of JSON-safe values. Received: {type(metadata).__name__}")
    state = model.state_dict()
    _check_arrays(state)
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": _architecture(model),
        "arrays": {name: {"dtype": a.dtype.name, "shape": list(a.shape)} for name, a in state.items()},
    }
    if metadata is not None:
        header["metadata"] = metadata
    try:
        text = json.dumps(header, allow_nan=False, indent=1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot save: the model's config or the metadata is not JSON-safe ({err})") from err

    target = Path(os.fspath(path))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
                data = text.encode("utf-8")
                zf.writestr(_entry(_JSON_ENTRY, len(data)), data)
                for name, array in state.items():
                    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
                    zf.writestr(_entry(_ARRAY_PREFIX + name, len(raw)), raw)
            f.flush()
            os.fsync(f.fileno())
        _copy_mode(target, tmp_name)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_folder(target.parent)


def _copy_mode(target: Path, tmp_name: str) -> None:
    """Give the new file the old one's permissions, or the usual 0o644 (mkstemp makes it 0o600)."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o644
    with contextlib.suppress(OSError):
        os.chmod(tmp_name, mode)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (POSIX)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- loading ----------------------------------------------------------------
class _Archive:
    """The entries of a zip archive, checked and read in memory, never extracted."""

    def __init__(self, zf: zipfile.ZipFile, file_size: int, where: str) -> None:
        self.zf = zf
        self.where = where
        self.entries: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            if info.filename in self.entries:
                raise ValueError(f"{where}: the archive holds two entries named {info.filename!r}")
            if info.flag_bits & 0x1:
                raise ValueError(f"{where}: entry {info.filename!r} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise ValueError(f"{where}: entry {info.filename!r} is compressed; model files are stored uncompressed")
            if info.file_size > file_size:
                raise ValueError(
                    f"{where}: entry {info.filename!r} claims {info.file_size} bytes, more than the file holds"
                )
            self.entries[info.filename] = info

    def read(self, name: str, size: int) -> bytes:
        """Entry ``name``, which must hold exactly ``size`` bytes; reads no more than that."""
        info = self.entries[name]
        if info.file_size != size:
            raise ValueError(f"{self.where}: entry {name!r} holds {info.file_size} bytes, expected {size}")
        with self.zf.open(info) as f:
            data = f.read(size + 1)  # the CRC is checked when the entry is read to its end
        if len(data) != size:
            raise ValueError(f"{self.where}: entry {name!r} holds {len(data)} bytes, expected {size}")
        return data


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80


def _short(value: Any) -> str:
    """A bounded repr of a value read from the file, for error messages (depth and length capped)."""
    return _REPR.repr(value)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_header(data: bytes, where: str) -> dict[str, Any]:
    try:
        header = json.loads(data.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{where}: model.json is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: model.json must hold a JSON object, got {type(header).__name__}")
    if header.get("format") != FORMAT:
        raise ValueError(f"{where}: not a glassnet model (format {header.get('format')!r}, expected {FORMAT!r})")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where}: invalid format version {version!r}")
    if version > VERSION:
        raise ValueError(
            f"{where}: written in format version {version} by a newer glassnet; this one reads "
            f"version {VERSION}. Upgrade glassnet to load it"
        )
    required = {"format", "version", "architecture", "arrays"}
    if not required <= set(header) <= required | {"metadata"}:
        raise ValueError(
            f"{where}: model.json must have the keys {sorted(required)} and optionally 'metadata', got {sorted(header)}"
        )
    if not isinstance(header["arrays"], dict):
        raise ValueError(f"{where}: 'arrays' must be a JSON object")
    if not isinstance(header.get("metadata", {}), dict):
        raise ValueError(f"{where}: 'metadata' must be a JSON object")
    return header


def _build(spec: Any, where: str, depth: int = 0) -> Module:
    """A model from ``{"class": name, "config": {...}}``, using registered classes only."""
    outer, _NESTING[0] = _NESTING[0], depth
    try:
        return _build_at(spec, where, depth)
    finally:
        _NESTING[0] = outer


def _build_at(spec: Any, where: str, depth: int) -> Module:
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where}: the architecture is nested more than {_MAX_DEPTH} levels deep")
    if not isinstance(spec, dict) or set(spec) != {"class", "config"}:
        raise ValueError(
            f"{where}: a layer must be described as {{'class': ..., 'config': {{...}}}}, got {_short(spec)}"
        )
    name, config = spec["class"], spec["config"]
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{where}: unknown layer class {_short(name)}; known classes are {sorted(_REGISTRY)} "
            "(register your own with glassnet.register_layer)"
        )
    if not isinstance(config, dict):
        raise ValueError(f"{where}: the config of {name} must be a JSON object, got {_short(config)}")
    if cls is Sequential:
        layers = config.get("layers")
        if set(config) != {"layers"} or not isinstance(layers, list):
            raise ValueError(f"{where}: the config of Sequential must be {{'layers': [...]}}")
        return Sequential(*(_build(layer, where, depth + 1) for layer in layers))
    try:
        if "init" not in config:
            return cls(**config)
        # The weights come from the file: build with zeros, which NumPy allocates
        # lazily, so a config asking for a huge layer fails at the shape check
        # below instead of filling gigabytes with random numbers first.
        initializers.get(config["init"])  # still reject an unknown initialiser name
        layer = cls(**{**config, "init": "zeros"})
        layer.init = config["init"]  # type: ignore[attr-defined]  # get_config reports the original
        return layer
    except (TypeError, ValueError, OverflowError, MemoryError) as err:
        raise ValueError(f"{where}: cannot build {name} from config {_short(config)}: {err}") from None


def _expected_nbytes(name: str, meta: Any, target: np.ndarray, where: str) -> tuple[np.dtype, int]:
    """Check the file's description of array ``name`` against the rebuilt model's array."""
    if not isinstance(meta, dict) or set(meta) != {"dtype", "shape"}:
        raise ValueError(f"{where}: array {name!r} must be described as {{'dtype': ..., 'shape': [...]}}")
    dtype_name, shape = meta["dtype"], meta["shape"]
    if dtype_name not in _ALLOWED_DTYPES:
        raise ValueError(
            f"{where}: array {name!r} has dtype {_short(dtype_name)}; only {list(_ALLOWED_DTYPES)} are allowed"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > 32
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise ValueError(f"{where}: array {name!r} has an invalid shape {_short(shape)}")
    if tuple(shape) != target.shape:
        raise ValueError(f"{where}: array {name!r} has shape {tuple(shape)}, but the model expects {target.shape}")
    if dtype_name != target.dtype.name:
        raise ValueError(f"{where}: array {name!r} is {dtype_name}, but the model holds {target.dtype.name}")
    dtype = np.dtype(dtype_name).newbyteorder("<")
    return dtype, math.prod(shape) * dtype.itemsize


def _load_from(zf: zipfile.ZipFile, file_size: int, where: str) -> Module:
    archive = _Archive(zf, file_size, where)
    info = archive.entries.get(_JSON_ENTRY)
    if info is None:
        raise ValueError(f"{where}: the archive has no {_JSON_ENTRY}, so it is not a glassnet model file")
    if info.file_size > _MAX_JSON_BYTES:
        raise ValueError(f"{where}: {_JSON_ENTRY} is {info.file_size} bytes, more than the {_MAX_JSON_BYTES} allowed")
    header = _parse_header(archive.read(_JSON_ENTRY, info.file_size), where)
    model = _build(header["architecture"], where)

    targets: dict[str, np.ndarray] = {n: p.data for n, p in model.named_parameters()}
    targets.update(model.named_buffers())
    described: dict[str, Any] = header["arrays"]
    stored = {n[len(_ARRAY_PREFIX) :] for n in archive.entries if n.startswith(_ARRAY_PREFIX)}
    others = sorted(set(archive.entries) - {_JSON_ENTRY} - {_ARRAY_PREFIX + n for n in stored})
    if others:
        raise ValueError(f"{where}: unexpected entries in the archive: {others[:10]}")
    for what, names in (("model.json lists", set(described)), ("the archive stores", stored)):
        missing, extra = sorted(set(targets) - names), sorted(names - set(targets))
        if missing or extra:
            raise ValueError(
                f"{where}: {what} arrays that do not match the model: missing {missing[:10]}, unexpected {extra[:10]}"
            )
    state = {}
    for name, target in targets.items():
        dtype, nbytes = _expected_nbytes(name, described[name], target, where)
        data = archive.read(_ARRAY_PREFIX + name, nbytes)
        state[name] = np.frombuffer(data, dtype=dtype).reshape(target.shape)
    model.load_state_dict(state)
    model.metadata = header.get("metadata", {})  # type: ignore[attr-defined]
    return model


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild a model written by ``save``: same classes, configs, parameters and buffers.

    Only glassnet's own layers and those added with ``register_layer`` can be
    rebuilt; nothing in the file is imported, unpickled or executed. The model
    comes back in training mode, like a new one: call ``model.eval()`` before
    calling it directly for inference (``predict`` does this for you). The
    metadata given to ``save`` is in ``model.metadata`` (an empty dict if none).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a glassnet model file, is damaged, was
            written by a newer version, or does not match the layers it names.

    Example:
        See ``save``.
    """
    where = os.fspath(path)
    with open(path, "rb") as f:
        start = f.read(4)
        if start[:1] == b"\x80":
            raise ValueError(f"{where}: this looks like a pickle file; glassnet never loads pickles")
        if start != b"PK\x03\x04":
            raise ValueError(f"{where}: not a glassnet model file (a model file is a zip archive)")
        file_size = os.fstat(f.fileno()).st_size
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as zf:
                return _load_from(zf, file_size, where)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            struct.error,
            zlib.error,
            NotImplementedError,
        ) as err:
            raise ValueError(f"{where}: damaged or unsupported zip archive ({err})") from None
