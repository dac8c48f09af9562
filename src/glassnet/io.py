"""Saving and loading models in files that can't run code.

A model file is one uncompressed zip archive holding

* ``model.json``: ``{"format": "glassnet-model", "version": 1,
  "architecture": {"class": "Sequential", "config": {"layers": [{"class": ..., "config": ...}, ...]}},
  "arrays": {name: {"dtype": "float32", "shape": [...]}}}``, where the names
  are those of ``model.state_dict()`` (parameters and buffers), plus an
  optional ``"metadata"`` object of the caller's own JSON values;
* ``arrays/<name>``, one per array: its values as raw little-endian bytes in C order.

Loading never unpickles and never imports anything named in the file: class
names are looked up in an explicit registry (``glassnet.registry``) of glassnet's own layers (and the
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

import glassnet.layers  # noqa: F401  (each layer family registers its classes)
import glassnet.models  # noqa: F401  (so do GPT and CharRNN)
from glassnet._archive import open_archive, write_archive
from glassnet._checks import short
from glassnet.layers._base import placeholder_arrays
from glassnet.module import Module
from glassnet.registry import build_architecture, describe_architecture, register_layer

__all__ = ["save", "load", "register_layer", "FORMAT", "VERSION", "JSON_ENTRY"]

FORMAT = "glassnet-model"
VERSION = 1
JSON_ENTRY = "model.json"


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
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "architecture": describe_architecture(model)}
    if metadata is not None:
        header["metadata"] = metadata
    write_archive(path, header, model.state_dict(), json_name=JSON_ENTRY)


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
    with open_archive(path, json_name=JSON_ENTRY, kind="glassnet model") as archive:
        where, header = archive.where, archive.header
        _check_header(header, where)
        with placeholder_arrays(archive.nbytes):
            model = build_architecture(header["architecture"], where)
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
