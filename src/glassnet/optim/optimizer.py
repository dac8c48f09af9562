"""The Optimizer base class: a list of parameters plus state lists that line up with it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet._checks import positive_float
from glassnet.module import Parameter

__all__ = ["Optimizer"]


class Optimizer:
    """Updates parameters in place from their ``grad``.

    Args:
        params: the parameters to update, usually ``model.parameters()``.
        lr: the learning rate, > 0.

    Subclasses implement ``_update(i, p)`` for the i-th parameter; their state
    lives in lists indexed like ``self.params`` and in ``self.steps``.
    """

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        if isinstance(params, Parameter):
            params = [params]
        try:
            self.params = list(params)
        except TypeError:
            raise TypeError(
                f"params must be an iterable of Parameters, such as model.parameters(). Received: params={params!r}"
            ) from None
        if not self.params:
            raise ValueError(
                "params is empty: the optimizer was given no parameters to update (did the model have any layers with weights?)"
            )
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"params must hold Parameters. Received: params[{i}] of type {type(p).__name__}")
        self.lr = positive_float(lr, "lr")
        self.initial_lr = self.lr
        self.steps = 0

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to zero, in place."""
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        """Apply one update to every parameter from its current gradient."""
        self.steps += 1
        for i, p in enumerate(self.params):
            self._update(i, p)

    def _update(self, i: int, p: Parameter) -> None:
        raise NotImplementedError

    def _state_lists(self) -> dict[str, list[Any]]:
        """Per-parameter state, by name; subclasses list theirs."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters, the step count and copies of the per-parameter state."""
        state: dict[str, Any] = {"lr": self.lr, "steps": self.steps}
        for name, values in self._state_lists().items():
            state[name] = [None if v is None else v.copy() for v in values]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr = positive_float(state["lr"], "lr")
        self.steps = int(state["steps"])
        for name, values in self._state_lists().items():
            loaded = state[name]
            if len(loaded) != len(values):
                raise ValueError(
                    f"state[{name!r}] has {len(loaded)} entries, but the optimizer has {len(values)} parameters"
                )
            for i, (v, p) in enumerate(zip(loaded, self.params)):
                if v is None and values[i] is not None:
                    raise ValueError(
                        f"state[{name!r}][{i}] is empty, but this optimizer keeps {name} (was it saved with other settings?)"
                    )
                if v is not None and np.shape(v) != p.data.shape:
                    raise ValueError(
                        f"state[{name!r}][{i}] has shape {np.shape(v)}, but the parameter has shape {p.data.shape}"
                    )
            values[:] = [None if v is None else np.array(v, dtype=p.data.dtype) for v, p in zip(loaded, self.params)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters)"
