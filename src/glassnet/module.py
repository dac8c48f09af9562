"""The contract every layer follows: Parameter, Module and Sequential.

A Module computes ``y = forward(x)`` and, given ``dy = dL/dy``, returns
``dx = backward(dy)`` while adding ``dL/dp`` into each of its parameters'
``grad``. Parameters are found by walking ``vars(self)``: an attribute that is
a Parameter, a Module, or a list/tuple of Modules is picked up, so a weight
can never be forgotten in a hand-kept list.

The dtype rule, one for every layer: a module computes in its own dtype
whatever it is given. Calling it, ``module(x)``, casts ``x`` to
``input_dtype(x.dtype)`` first:
- a module with parameters (or a ``dtype`` attribute) has that dtype, so a
  float32 Linear given float64 or integer input computes and returns float32;
- a module without either (activations, Flatten, pooling, Dropout) has no
  dtype of its own and, like PyTorch's, computes float32 or float64 input as
  given; anything else (integers, bool, float16) becomes float32, the default;
- a ``Sequential`` has its parameters' dtype: a float32 model computes in
  float32 end to end, whatever its first layer is;
- a layer whose input is not cast (``Embedding``, which takes integer ids)
  sets the class attribute ``casts_input = False``; a ``Sequential`` that
  starts with it does not cast either.
``fit``, ``predict`` and ``evaluate`` apply the same rule to the data, and
``forward`` casts nothing: inside a model each layer receives the previous
layer's output, already in the model's dtype.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from glassnet._checks import short

if TYPE_CHECKING:
    from glassnet.callbacks import Callback
    from glassnet.losses import Loss
    from glassnet.optim.optimizer import Optimizer
    from glassnet.training import History

__all__ = ["Parameter", "Module", "Sequential", "pack_gradients"]


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Args:
        data: the values; kept as given (no copy), so build it in the dtype you want.

    ``grad`` has the shape and dtype of ``data``; backward passes add into it
    and ``Module.zero_grad`` (or ``Optimizer.zero_grad``) resets it in place.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        if not isinstance(data, np.ndarray):
            raise TypeError(f"Parameter expected a numpy array. Received: {type(data).__name__}")
        self.data = data
        self.grad = np.zeros(data.shape, dtype=data.dtype)  # calloc: pages are touched on first use

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def pack_gradients(params: Sequence[Parameter]) -> list[np.ndarray]:
    """Make every ``p.grad`` a view into one contiguous array per dtype, and return those arrays.

    The gradients keep their values, shapes and dtypes, and backward passes add
    into them in place as before, so they fill the shared arrays: zeroing every
    gradient, checking all of them for NaN/inf and summing them over MPI ranks
    are then one operation per array instead of one per parameter. ``fit`` packs
    its model's gradients when it starts.
    """
    groups: dict[np.dtype, list[Parameter]] = {}
    seen: set[int] = set()
    for p in params:
        if id(p) not in seen:  # a parameter listed twice gets one place
            seen.add(id(p))
            groups.setdefault(p.grad.dtype, []).append(p)
    flats = []
    for dtype, group in groups.items():
        flat = np.empty(sum(p.grad.size for p in group), dtype=dtype)
        offset = 0
        for p in group:
            view = flat[offset : offset + p.grad.size].reshape(p.grad.shape)
            view[...] = p.grad
            p.grad = view
            offset += view.size
        flats.append(flat)
    return flats


class Module:
    """Base class of layers and models.

    Subclasses implement ``forward(x)`` and ``backward(dy)`` and list their
    constructor arguments in ``get_config()``. Buffers (state saved with the
    model but never trained, such as BatchNorm's running statistics) are the
    array attributes named in the class attribute ``buffer_names``.

    Stochastic layers (Dropout) set ``stochastic = True`` and own an ``rng``
    attribute that ``fit(seed=...)`` reseeds, so a seed fixes a whole run.
    Those that draw their numbers for the whole batch through ``batch_rows``
    say so with ``draws_whole_batch = True``: a batch split over threads
    (``glassnet.replicas``) then gets the draws of one thread.
    """

    buffer_names: tuple[str, ...] = ()
    stochastic: bool = False
    stop_training: bool = False  # set by callbacks to end fit early
    input_grad: bool = True  # whether backward must compute dx (see set_input_grad)
    casts_input: bool = True  # False for layers whose input is not cast (Embedding's integer ids)
    batch_statistics: bool = False  # True for layers (BatchNorm) that can't train on a batch of one sample
    draws_whole_batch: bool = False  # a stochastic layer that draws through batch_rows (see the docstring)
    # True where the layer's time is one matrix product or a light element-wise pass (Linear, activations,
    # Dropout, BatchNorm1d): a model of such layers alone trains on the BLAS pool's threads (glassnet.replicas)
    blas_bound: bool = False
    # (lo, hi, n) while this copy of the layer runs rows lo:hi of an n-row batch (glassnet.replicas); else None
    shard: tuple[int, int, int] | None = None
    # True where, in eval mode, each sample's output depends on that sample alone: glassnet's
    # layers say so (unless they carry state between calls); a layer of your own is not assumed to
    per_sample: bool = False

    def __init__(self) -> None:
        self.training = True

    def batch_rows(self, rows: int) -> tuple[slice, int]:
        """The rows of the whole batch this forward computes, and the batch's size.

        ``(slice(0, rows), rows)`` unless the batch is split over threads (``shard`` is set):
        a stochastic layer draws its random numbers for all ``n`` rows from its generator and
        keeps its slice, so every thread's generator stays in step with one thread's.
        """
        if self.shard is None:
            return slice(0, rows), rows
        lo, hi, n = self.shard
        return slice(lo, hi), n

    # -- computation -------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute ``y`` from the batch ``x``; in training mode, keep what ``backward`` needs.

        Subclasses implement it. In eval mode (``model.eval()``) nothing is
        cached. ``model(x)`` calls it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Given ``dy = dL/dy`` for the last ``forward``, return ``dx = dL/dx`` and add ``dL/dp`` into each ``p.grad``.

        Subclasses implement it, without recomputing the forward pass. It
        accumulates (``+=``): call ``zero_grad`` between steps. Raises
        RuntimeError when no training-mode ``forward`` came before. Returns
        None where no gradient flows to the input: after ``set_input_grad(False)``,
        and for integer token ids (Embedding, GPT).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``forward(x)`` after casting ``x`` to ``input_dtype(x.dtype)`` (the dtype rule above)."""
        if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":  # other kinds: forward says what it expects
            dtype = self.input_dtype(x.dtype)
            if dtype != x.dtype:
                x = x.astype(dtype)
        return self.forward(x)

    def input_dtype(self, given: np.dtype) -> np.dtype:
        """The dtype in which this module computes an input of dtype ``given`` (see the dtype rule)."""
        if not self.casts_input:
            return np.dtype(given)
        for _, p in self.named_parameters():
            return p.data.dtype
        own = getattr(self, "dtype", None)
        if own is not None:
            return np.dtype(own)
        return np.dtype(given) if given in (np.float32, np.float64) else np.dtype(np.float32)

    def set_input_grad(self, flag: bool) -> None:
        """Say whether ``backward`` must return dx.

        ``fit`` turns it off for the model: nothing consumes the gradient with
        respect to the data, and for a first Linear or Conv2d it costs as much
        as the weight gradient. With it off, ``backward`` may return None.
        """
        self.input_grad = bool(flag)

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        """Raise ValueError if ``x`` cannot be this module's input (cheap; shape only)."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of ``forward``'s output for an input of ``input_shape``.

        The default runs a float64 forward pass on zeros in eval mode; layers
        with a closed form override it.
        """
        was_training = self.training
        self.eval()
        try:
            return tuple(self.forward(np.zeros(input_shape, dtype=self._dtype())).shape)
        finally:
            self.train(was_training)

    def _dtype(self) -> np.dtype:
        for _, p in self.named_parameters():
            return p.data.dtype
        return np.dtype(getattr(self, "dtype", np.float32))

    # -- structure ---------------------------------------------------------
    def children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules as (name, module); list items are named ``name.i``."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def samples_independent(self) -> bool:
        """Whether, in eval mode, each sample's output depends on that sample alone, here and in every child.

        ``predict`` and ``evaluate`` then run a large batch through the model in
        slices that stay in cache, with the same outputs.
        """
        return self.per_sample and all(child.samples_independent() for _, child in self.children())

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first."""
        yield self
        for _, child in self.children():
            yield from child.modules()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name in self.buffer_names:
            yield prefix + name, getattr(self, name)
        for name, child in self.children():
            yield from child.named_buffers(prefix + name + ".")

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> Module:
        """Set training mode (forward caches for backward; Dropout and BatchNorm train)."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode: forward caches nothing, Dropout is the identity."""
        return self.train(False)

    # -- state -------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update((name, np.array(b, copy=True)) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters and buffers, in place.

        Raises ValueError on a missing or unexpected name, or a shape mismatch.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays. Received: {type(state).__name__}")
        targets: dict[str, np.ndarray] = {n: p.data for n, p in self.named_parameters()}
        targets.update(self.named_buffers())
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        if missing or unexpected:
            raise ValueError(f"state does not match the model: missing {missing}, unexpected {unexpected}")
        for name, target in targets.items():
            value = np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(f"state[{name!r}] has shape {value.shape}, but the model expects {target.shape}")
            if not np.issubdtype(value.dtype, np.number):
                raise TypeError(f"state[{name!r}] must be numeric. Received dtype {value.dtype}")
            target[...] = value

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-safe, so ``type(m)(**m.get_config())`` rebuilds it."""
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "layers")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # -- training, files and summaries (implemented in their own modules) --
    def fit(
        self,
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
        """Train the model by mini-batch gradient descent; see ``glassnet.training.fit`` for every argument.

        ``batch_size`` is 32 by default (None: the whole set in one batch).
        Returns a History: ``history.history["loss"]`` per epoch, and each
        metric and "val_" value.

        ``preprocessing``: how ``x`` was made from raw data (``from_csv(...).preprocessing``
        and the like); its ``to_json()`` record is kept in ``self.metadata["preprocessing"]``;
        ``self.save(path)`` writes it into the model file.
        """
        from glassnet.training import fit

        return fit(
            self,
            x,
            y,
            loss=loss,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            validation_data=validation_data,
            seed=seed,
            callbacks=callbacks,
            metrics=metrics,
            verbose=verbose,
            resume_from=resume_from,
            distributed=distributed,
            preprocessing=preprocessing,
        )

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Outputs for the batch ``x`` (N, ...) in eval mode; see ``glassnet.training.predict``.

        One sample needs its batch axis: ``model.predict(x[None])[0]``.
        """
        from glassnet.training import predict

        return predict(self, x, batch_size=batch_size)

    def evaluate(
        self, x: Any, y: Any, *, loss: Loss | None = None, metrics: Sequence[Any] = (), batch_size: int | None = None
    ) -> dict[str, float]:
        """Loss and metrics on ``(x, y)`` in eval mode, e.g. ``{"loss": 0.31, "accuracy": 0.9}``; see ``glassnet.training.evaluate``."""
        from glassnet.training import evaluate

        return evaluate(self, x, y, loss=loss, metrics=metrics, batch_size=batch_size)

    def summary(self, input_shape: Sequence[int], print_fn: Callable[[str], Any] = print) -> None:
        """Print a table of layers, output shapes and parameter counts for ``input_shape``.

        ``input_shape`` excludes the batch axis, e.g. ``(1, 28, 28)`` for images.
        The table goes to ``print_fn`` (``print`` by default); for the text
        itself, use ``glassnet.summary.summary(model, input_shape)``.
        """
        from glassnet.summary import summary

        print_fn(summary(self, input_shape))

    def save(self, path: Any, metadata: dict[str, Any] | None = None) -> None:
        """Write the model and its metadata to ``path``; see ``glassnet.io.save``.

        The file keeps ``self.metadata`` (what ``load`` read, or the preprocessing
        ``fit(..., preprocessing=prep)`` recorded) with ``metadata``'s keys on top,
        so a model trained on a CSV file or an image folder is saved with the
        record ``predict`` needs for raw files. ``glassnet.io.save(model, path,
        metadata)`` writes exactly the metadata it is given (``model.metadata`` when None).
        """
        from glassnet.io import save

        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict of JSON-safe values. Received: {type(metadata).__name__}")
        own = getattr(self, "metadata", None)
        merged = {**own, **(metadata or {})} if isinstance(own, dict) and own else metadata
        save(self, path, metadata=merged)


class Sequential(Module):
    """Layers applied one after another: ``y = layers[-1](... layers[0](x))``.

    Args:
        *layers: the Modules, in order.

    Backward:
        dx = layers[0].backward(... layers[-1].backward(dy))

    Example:
        >>> import glassnet as gn
        >>> model = gn.Sequential(gn.Linear(3, 4, rng=0), gn.Sigmoid(), gn.Linear(4, 1, rng=0))
        >>> model.predict([[0.0, 1.0, 1.0]]).shape
        (1, 1)
    """

    per_sample = True  # when every layer is (samples_independent asks them)

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential expects Module instances. Received: layers[{i}]={short(layer)}")
        self.layers = list(layers)
        if self.layers:  # a model that starts with Embedding takes its integer ids uncast, as Embedding does
            self.casts_input = self.layers[0].casts_input
        self._first_needed = 0  # backward runs layers[_first_needed:], see set_input_grad

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dx: np.ndarray | None = dy
        for layer in reversed(self.layers[self._first_needed :]):
            if dx is None:  # the layer above takes no gradient-carrying input (see set_input_grad)
                break
            dx = layer.backward(dx)
        return dx

    def set_input_grad(self, flag: bool) -> None:
        """With ``flag`` False, backward stops at the first layer with parameters.

        Layers before it have nothing to learn, so their backward would only
        compute the unused dx; that first layer itself skips its dx.
        """
        self.input_grad = bool(flag)
        first = next((i for i, layer in enumerate(self.layers) if layer.parameters()), len(self.layers))
        self._first_needed = 0 if flag else first
        for i, layer in enumerate(self.layers):
            layer.set_input_grad(flag or i > first)

    def check_input(self, x: np.ndarray, name: str = "x") -> None:
        if self.layers:
            self.layers[0].check_input(x, name)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return input_shape

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def get_config(self) -> dict[str, Any]:
        return {"layers": [{"class": type(m).__name__, "config": m.get_config()} for m in self.layers]}

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
