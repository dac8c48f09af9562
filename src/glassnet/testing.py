"""Tools to test layers and losses, yours included: gradient checks by finite differences.

``gradcheck(layer, x)`` compares the analytic gradients of ``backward`` with
central differences of ``forward``, for the input and every parameter, in
float64. The scalar that is differentiated is ``f = sum(forward(x) * g)``
for a random upstream gradient ``g`` (not ones, which would hide transposed
or summed-over-the-wrong-axis mistakes), so ``backward(g)`` must give df/dx.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet.losses import Loss
from glassnet.module import Module

__all__ = ["GradcheckError", "GradcheckResult", "gradcheck", "check_layer"]


class GradcheckError(AssertionError):
    """Raised by gradcheck when an analytic gradient disagrees with finite differences."""


@dataclass
class GradcheckResult:
    """Per tensor ("x", "target" never; parameter names), the largest errors found.

    ``errors[name] = (max_abs_error, relative_error)`` where the relative error
    is ``max|analytic - numeric| / max(max|numeric|, atol)``.
    """

    errors: dict[str, tuple[float, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        lines = [f"{name}: max abs error {a:.3g}, relative error {r:.3g}" for name, (a, r) in self.errors.items()]
        return "\n".join(lines)


def _reseed(module: Module, seed: int) -> None:
    """Give stochastic layers (Dropout) the same random stream before each forward."""
    for m in module.modules():
        if m.stochastic:
            m.rng = np.random.default_rng(seed)  # type: ignore[attr-defined]


def _numeric_grad(f: Callable[[], float], array: np.ndarray, eps: float) -> np.ndarray:
    """Central differences (f(a + eps) - f(a - eps)) / (2 eps), one element at a time."""
    grad = np.zeros(array.shape, dtype=np.float64)
    for idx in np.ndindex(array.shape):  # works for any memory layout, unlike a flat view
        old = array[idx]
        array[idx] = old + eps
        up = f()
        array[idx] = old - eps
        down = f()
        array[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


def _compare(
    result: GradcheckResult, name: str, analytic: np.ndarray | None, numeric: np.ndarray, atol: float, rtol: float
) -> None:
    if analytic is None:
        result.errors[name] = (np.inf, np.inf)
        result.failures.append(f"{name}: backward returned no gradient (None), expected shape {numeric.shape}")
        return
    if analytic.shape != numeric.shape:
        result.errors[name] = (np.inf, np.inf)
        result.failures.append(f"{name}: gradient has shape {analytic.shape}, expected {numeric.shape}")
        return
    abs_err = float(np.max(np.abs(analytic - numeric))) if analytic.size else 0.0
    scale = max(float(np.max(np.abs(numeric))) if numeric.size else 0.0, atol)
    result.errors[name] = (abs_err, abs_err / scale)
    if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
        result.failures.append(f"{name}: max abs error {abs_err:.3g} (atol {atol}, rtol {rtol})")


def gradcheck(
    module: Module | Loss,
    x: np.ndarray,
    target: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_on_failure: bool = True,
) -> GradcheckResult:
    """Check ``module.backward`` against central differences of ``module.forward``.

    Args:
        module: a float64 layer or model (build it with ``dtype=np.float64``), or a Loss.
        x: a float64 input; keep it small (every element costs two forward passes)
            and away from kinks (ReLU at 0, max-pool ties).
        target: the target, for a Loss.
        eps, atol, rtol: finite-difference step and tolerances.
        seed: seeds the upstream gradient and any Dropout masks.
        raise_on_failure: raise GradcheckError (an AssertionError) when a check fails.

    Returns:
        GradcheckResult with the errors per tensor: "x" and each parameter name.
        An integer ``x`` (token ids) is passed as it is and has no "x" entry.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> from glassnet.testing import gradcheck
        >>> layer = gn.Linear(3, 2, rng=0, dtype=np.float64)
        >>> gradcheck(layer, np.random.default_rng(0).normal(size=(4, 3))).ok
        True
    """
    integer_input = _is_integer(x)
    # C order: _numeric_grad perturbs through a flat view. Integer inputs (token ids)
    # are kept as they are: they have no gradient, only the parameters are checked.
    x = np.array(x, dtype=None if integer_input else np.float64, order="C")
    result = GradcheckResult()
    if isinstance(module, Loss):
        loss = module

        def f_loss() -> float:
            return float(loss.forward(x, target))

        f_loss()
        _compare(result, "x", loss.backward(), _numeric_grad(f_loss, x, eps), atol, rtol)
    else:
        params = dict(module.named_parameters())
        for name, p in params.items():
            if p.data.dtype != np.float64:
                raise ValueError(
                    f"gradcheck needs a float64 module; parameter {name!r} is {p.data.dtype} (build it with dtype=np.float64)"
                )
        module.train()
        _reseed(module, seed)
        y = module.forward(x)
        g = np.random.default_rng(seed).normal(size=y.shape)
        module.zero_grad()
        dx = module.backward(g)
        analytic = {name: p.grad.copy() for name, p in params.items()}

        def f_module() -> float:
            _reseed(module, seed)
            return float(np.sum(module.forward(x) * g))

        if not integer_input:
            _compare(result, "x", dx, _numeric_grad(f_module, x, eps), atol, rtol)
        for name, p in params.items():
            _compare(result, name, analytic[name], _numeric_grad(f_module, p.data, eps), atol, rtol)
    if raise_on_failure and not result.ok:
        raise GradcheckError(
            f"{module!r} failed the gradient check:\n" + "\n".join(result.failures) + "\n" + str(result)
        )
    return result


def _is_integer(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype != bool and np.issubdtype(x.dtype, np.integer)


def check_layer(
    make: Callable[..., Module],
    input_shape: tuple[int, ...],
    *,
    seed: int = 0,
    input_fn: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray] | None = None,
) -> GradcheckResult:
    """The shared layer test: build, check dtypes, config round trip, state, and gradients.

    Args:
        make: builds the layer; called as ``make(dtype=np.float32)`` and
            ``make(dtype=np.float64)`` (use a lambda that ignores dtype for
            layers without parameters).
        input_shape: the input's shape, batch first.
        input_fn: ``(rng, shape) -> x`` to draw the input (default standard normal);
            one that returns integers (token ids for Embedding) keeps them integers,
            and then only the parameters' gradients are checked.

    Checks that a float32 layer maps float32 to float32, that backward before
    forward raises RuntimeError, that ``type(layer)(**layer.get_config())``
    rebuilds it and ``load_state_dict(state_dict())`` restores its outputs,
    that eval mode keeps no cache, and finally ``gradcheck`` in float64.
    """
    rng = np.random.default_rng(seed)
    draw = input_fn or (lambda r, s: r.normal(size=s))
    x_drawn = np.asarray(draw(rng, input_shape))
    # Integer inputs (Embedding's ids) stay integers: such layers don't cast their input.
    x64 = x_drawn if _is_integer(x_drawn) else x_drawn.astype(np.float64)
    x32 = x64 if _is_integer(x64) else x64.astype(np.float32)

    layer32 = make(dtype=np.float32)
    try:
        layer32.backward(np.ones(layer32.output_shape(input_shape), dtype=np.float32))
    except RuntimeError:
        pass
    else:
        raise GradcheckError(f"{layer32!r}: backward before forward did not raise RuntimeError")
    layer32.eval()
    y32 = layer32.forward(x32)
    if y32.dtype != np.float32:
        raise GradcheckError(f"{layer32!r} turned float32 input into {y32.dtype}")
    if tuple(y32.shape) != tuple(layer32.output_shape(input_shape)):
        raise GradcheckError(
            f"{layer32!r}: output_shape says {layer32.output_shape(input_shape)}, forward gave {y32.shape}"
        )
    try:
        layer32.backward(np.ones_like(y32))
    except RuntimeError:
        pass
    else:
        raise GradcheckError(f"{layer32!r}: eval-mode forward kept a cache for backward")

    clone = type(layer32)(**layer32.get_config())
    clone.load_state_dict(layer32.state_dict())
    clone.eval()
    if not np.array_equal(clone.forward(x32), y32):
        raise GradcheckError(f"{layer32!r}: rebuilt from get_config + state_dict, it computes something else")

    return gradcheck(make(dtype=np.float64), x64, seed=seed)
