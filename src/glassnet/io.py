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
classes users add with ``register_layer``), and the constructors validate the
configuration (types and ranges). Loading costs memory and time in proportion
to the file, whatever the file says:

* the archive is checked first (``glassnet._archive``): a regular file, stored
  entries that don't overlap, a header of at most 16 MiB nesting at most 256
  levels, and arrays whose total size is at most the file's size;
* the layers are then built with placeholder arrays that hold no memory
  (``glassnet.layers._base.placeholder_arrays``), capped in total by the
  arrays the file holds, so a config asking for a huge layer fails before
  anything is allocated or drawn;
* only when every array of the built model matches the file's (name, dtype,
  shape) are the arrays read, each straight into its own new array.

Whatever is wrong with a file is reported as a ValueError naming it. Nothing
is extracted to disk.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import glassnet.layers
from glassnet._archive import open_archive, write_archive
from glassnet._checks import clip, short
from glassnet.layers._base import placeholder_arrays
from glassnet.module import Module, Sequential

__all__ = ["save", "load", "register_layer", "FORMAT", "VERSION"]

FORMAT = "glassnet-model"
VERSION = 1
_JSON_ENTRY = "model.json"
_MAX_DEPTH = 64  # nesting of Sequentials; deeper is a broken or hostile file


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
    value), because on loading they come from the file. Create the layer's
    arrays with ``glassnet.layers._base.new_array`` and ``initial_weight``
    (as Linear does), and ``load`` allocates nothing for it until the file's
    arrays are known to match. Registering a second,
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


def save(model: Module, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` (architecture, parameters and buffers) to the file ``path``.

    ``metadata``, a dict of JSON-safe values (class names, the training
    settings, a test score), is stored alongside; ``load`` gives it back as
    ``model.metadata``. The whole JSON header (architecture and metadata) may
    take at most 16 MiB and nest at most 256 levels deep, the limits ``load``
    enforces.

    The write is atomic: the file is written next to ``path`` under a
    temporary name (``.<name>.glassnet-XXXXXXXX.tmp``), flushed to disk, then
    renamed over ``path``, so a crash leaves either the old file or the new
    one, never half of one. Temporary files that killed saves left in the
    folder, unchanged for an hour, are removed.

    Raises:
        TypeError: ``model`` is not a Module, ``metadata`` not a dict, ``path`` not a path.
        ValueError: ``path`` is empty or a folder; a layer class is not
            registered (see ``register_layer``); the config or the metadata is
            not JSON-safe, too large or nested too deep; an array is not floating point.

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
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "architecture": _architecture(model)}
    if metadata is not None:
        header["metadata"] = metadata
    write_archive(path, header, model.state_dict(), json_name=_JSON_ENTRY)


# -- loading ----------------------------------------------------------------
def _check_header(header: dict[str, Any], where: str) -> None:
    if header.get("format") != FORMAT:
        raise ValueError(f"{where}: not a glassnet model (format {short(header.get('format'))}, expected {FORMAT!r})")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where}: invalid format version {short(version)}")
    if version > VERSION:
        raise ValueError(
            f"{where}: written in format version {version} by a newer glassnet; this one reads "
            f"version {VERSION}. Upgrade glassnet to load it"
        )
    required = {"format", "version", "architecture", "arrays"}
    if not required <= set(header) <= required | {"metadata"}:
        raise ValueError(
            f"{where}: model.json must have the keys {sorted(required)} and optionally 'metadata', "
            f"got {short(sorted(header))}"
        )
    if not isinstance(header.get("metadata", {}), dict):
        raise ValueError(f"{where}: 'metadata' must be a JSON object")


class _NestingError(ValueError):
    """The architecture nests more modules than load accepts."""


def _build(spec: Any, where: str, depth: int = 0) -> Module:
    """A model from ``{"class": name, "config": {...}}``, using registered classes only."""
    outer, _NESTING[0] = _NESTING[0], depth
    try:
        return _build_at(spec, where, depth)
    finally:
        _NESTING[0] = outer


def _build_at(spec: Any, where: str, depth: int) -> Module:
    if depth > _MAX_DEPTH:
        raise _NestingError(f"{where}: the architecture is nested more than {_MAX_DEPTH} levels deep")
    if not isinstance(spec, dict) or set(spec) != {"class", "config"}:
        raise ValueError(
            f"{where}: a layer must be described as {{'class': ..., 'config': {{...}}}}, got {short(spec)}"
        )
    name, config = spec["class"], spec["config"]
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{where}: unknown layer class {short(name)}; known classes are {sorted(_REGISTRY)} "
            "(register your own with glassnet.register_layer)"
        )
    if not isinstance(config, dict):
        raise ValueError(f"{where}: the config of {name} must be a JSON object, got {short(config)}")
    if cls is Sequential:
        layers = config.get("layers")
        if set(config) != {"layers"} or not isinstance(layers, list):
            raise ValueError(f"{where}: the config of Sequential must be {{'layers': [...]}}")
        return Sequential(*(_build(layer, where, depth + 1) for layer in layers))
    try:
        return cls(**config)
    except _NestingError:  # from a container's contents: say so plainly, not wrapped once per level
        raise
    except (TypeError, ValueError, OverflowError, MemoryError) as err:
        raise ValueError(f"{where}: cannot build {name} from config {short(config)}: {clip(str(err))}") from None


def _owners(module: Module, prefix: str = "") -> dict[str, Module]:
    """Every module by the prefix its arrays' names carry ("" for the model, "layers.0." ...)."""
    owners = {prefix: module}
    for name, child in module.children():
        owners.update(_owners(child, f"{prefix}{name}."))
    return owners


def load(path: str | os.PathLike[str]) -> Module:
    """Rebuild a model written by ``save``: same classes, configs, parameters and buffers.

    Only glassnet's own layers and those added with ``register_layer`` can be
    rebuilt; nothing in the file is imported, unpickled or executed. The model
    comes back in training mode, like a new one: call ``model.eval()`` before
    calling it directly for inference (``predict`` does this for you). The
    metadata given to ``save`` is in ``model.metadata`` (an empty dict if none).

    Loading costs memory in proportion to the file's size, whatever it says:
    only a regular file is read (a FIFO, folder or device is refused at once);
    the header may take at most 16 MiB and nest at most 256 levels; the
    arrays' total size is at most the file's; and nothing is allocated for a
    layer until its arrays' shapes are known to match the file's.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a glassnet model file, is damaged, was
            written by a newer version, or does not match the layers it names;
            the message names the file.

    Example:
        See ``save``.
    """
    with open_archive(path, json_name=_JSON_ENTRY, kind="glassnet model") as archive:
        where, header = archive.where, archive.header
        _check_header(header, where)
        with placeholder_arrays(archive.nbytes):
            model = _build(header["architecture"], where)
        params = dict(model.named_parameters())
        targets: dict[str, np.ndarray] = {n: p.data for n, p in params.items()}
        targets.update(model.named_buffers())
        missing, extra = sorted(set(targets) - set(archive.specs)), sorted(set(archive.specs) - set(targets))
        if missing or extra:
            raise ValueError(
                f"{where}: model.json lists arrays that do not match the model: "
                f"missing {short(missing)}, unexpected {short(extra)}"
            )
        for name, target in targets.items():
            dtype, shape = archive.specs[name]
            if shape != target.shape:
                raise ValueError(f"{where}: array {name!r} has shape {shape}, but the model expects {target.shape}")
            if dtype.name != target.dtype.name:
                raise ValueError(f"{where}: array {name!r} is {dtype.name}, but the model holds {target.dtype.name}")
        # Everything matches: now read each array straight into a new array of its own.
        owners = _owners(model)
        for name in targets:
            array = archive.read(name)
            if name in params:
                params[name].data = array
            else:
                prefix, _, attribute = name.rpartition(".")
                setattr(owners[prefix + "." if prefix else ""], attribute, array)
    model.metadata = header.get("metadata", {})  # type: ignore[attr-defined]
    return model
