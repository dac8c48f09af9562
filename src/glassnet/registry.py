"""The layer classes a model file may name, and the architecture as JSON: ``{"class": ..., "config": {...}}``.

The registry sits below the layers: each layer family registers its classes
(``@register_layer``) when it is imported, and so do the models (GPT, CharRNN)
and the classes users add. Loading a file looks class names up here and nowhere
else: nothing named in a file is imported. Registering the same class again is
harmless; a second, different class under a name already taken is refused.

Containers build their contents from the registry too: a class whose config
holds a module (``Residual``'s ``module``) lists that key in ``config_modules``,
and ``build_architecture`` builds it one level deeper before calling the
constructor, so the nesting limit counts every level with no state kept between
calls.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from glassnet._checks import clip, short
from glassnet.module import Module, Sequential

__all__ = ["register_layer", "layer_class", "describe_architecture", "build_architecture", "NestingError", "MAX_DEPTH"]

MAX_DEPTH = 64  # nesting of modules in an architecture; deeper is a broken or hostile file

_REGISTRY: dict[str, type[Module]] = {"Sequential": Sequential}

M = TypeVar("M", bound=type[Module])


def _defined_in(cls: type) -> tuple[str | None, str]:
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None), cls.__qualname__


def register_layer(cls: M) -> M:
    """Let ``load`` rebuild your own layer class; use it as a function or a class decorator.

    The class is registered under its ``__name__``. Its ``get_config()`` must
    return the constructor's arguments as JSON-safe values, and its
    constructor must validate them (raise ValueError or TypeError on a bad
    value), because on loading they come from the file. Create the layer's
    arrays with ``glassnet.layers.new_array`` and ``initial_weight``
    (as Linear does), and ``load`` allocates nothing for it until the file's
    arrays are known to match. Registering the same class again is harmless
    (also when its file is imported a second time, as doctest collection does);
    registering a second, different class under a name already taken raises ValueError.

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
        raise TypeError(f"register_layer expects a subclass of glassnet.Module. Received: cls={short(cls)}")
    known = _REGISTRY.get(cls.__name__)
    if known is None:
        _REGISTRY[cls.__name__] = cls
    elif known is not cls and _defined_in(known) != _defined_in(cls):
        raise ValueError(
            f"a different layer class named {cls.__name__!r} is already registered ({known.__module__}); "
            "rename your class"
        )
    return cls


def layer_class(name: str) -> type[Module] | None:
    """The registered class called ``name``, or None."""
    return _REGISTRY.get(name)


def describe_architecture(model: Module) -> dict[str, Any]:
    """``{"class", "config"}`` for ``model``, as a model file stores it, checking every class can be rebuilt."""
    cls = type(model)
    if _REGISTRY.get(cls.__name__) is not cls:
        raise ValueError(
            f"cannot save a model containing {cls.__name__}: load could not rebuild it. "
            f"Register the class first: glassnet.register_layer({cls.__name__})"
        )
    if cls is Sequential and isinstance(model, Sequential):  # layers by class and config, not as objects
        return {"class": cls.__name__, "config": {"layers": [describe_architecture(layer) for layer in model.layers]}}
    return {"class": cls.__name__, "config": model.get_config()}


class NestingError(ValueError):
    """The architecture nests more modules than load accepts."""


def build_architecture(spec: Any, where: str = "architecture", depth: int = 0) -> Module:
    """The module that ``spec`` (from ``describe_architecture``) describes, built from registered classes only.

    ``depth`` is how deep ``spec`` sits in the whole architecture; beyond ``MAX_DEPTH``
    levels it raises ``NestingError`` (a ValueError). Errors name ``where`` (the file).
    """
    if depth > MAX_DEPTH:
        raise NestingError(f"{where}: the architecture is nested more than {MAX_DEPTH} levels deep")
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
        return Sequential(*(build_architecture(layer, where, depth + 1) for layer in layers))
    given, config = config, dict(config)
    for key in getattr(cls, "config_modules", ()):  # a container's contents, one level deeper
        if isinstance(config.get(key), dict):
            config[key] = build_architecture(config[key], where, depth + 1)
    try:
        return cls(**config)
    except (TypeError, ValueError, OverflowError, MemoryError) as err:
        raise ValueError(f"{where}: cannot build {name} from config {short(given)}: {clip(str(err))}") from None
