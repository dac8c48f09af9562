"""The Optimizer base class: a list of parameters plus state lists that line up with it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from glassnet._checks import all_finite, in_range, real, short
from glassnet.module import Parameter

__all__ = ["Optimizer"]


class Optimizer:
    """Updates parameters in place from their ``grad``.

    Args:
        params: the parameters to update, usually ``model.parameters()``; or, as
            in PyTorch, a list of parameter groups, dicts with a "params" list
            and any of the optimizer's hyper-parameters, which then hold for
            that group only (``[{"params": decay, "weight_decay": 0.1},
            {"params": no_decay, "weight_decay": 0.0}]``). Values a group does
            not give are the constructor's.
        lr: the learning rate, >= 0 (as in PyTorch, 0 is allowed: a schedule may end there, and
            a checkpoint written then must resume).

    Subclasses implement ``_update(i, p)`` for the i-th parameter; their state
    lives in lists indexed like ``self.params`` (every group's parameters, in
    order) and in ``self.steps``; ``self.group(i)`` is the i-th parameter's group.
    Setting ``lr`` (as the schedules do) sets it for every group.
    """

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict[str, Any]],
        lr: float,
        defaults: dict[str, Any] | None = None,
        checks: Mapping[str, Callable[[Any, str], Any]] | None = None,
    ) -> None:
        if isinstance(params, Parameter):
            params = [params]
        try:
            items = list(params)
        except TypeError:
            raise TypeError(
                f"params must be an iterable of Parameters, such as model.parameters(). Received: params={short(params)}"
            ) from None
        lr = non_negative(lr, "lr")
        self.defaults: dict[str, Any] = {"lr": lr, **(defaults or {})}
        self._checks: dict[str, Callable[[Any, str], Any]] = {"lr": non_negative, **(checks or {})}
        grouped = bool(items) and all(isinstance(g, dict) for g in items)
        raw_groups = items if grouped else [{"params": items}]
        self.param_groups: list[dict[str, Any]] = [self._make_group(g, k, grouped) for k, g in enumerate(raw_groups)]
        self.params: list[Parameter] = [p for g in self.param_groups for p in g["params"]]
        self._groups: list[dict[str, Any]] = [g for g in self.param_groups for _ in g["params"]]
        if not self.params:
            raise ValueError(
                "params is empty: the optimizer was given no parameters to update (did the model have any layers with weights?)"
            )
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(
                "params holds a parameter more than once (in one group or in two): it would be updated twice"
            )
        self.initial_lr = lr
        self.steps = 0

    def _make_group(self, group: Any, k: int, grouped: bool) -> dict[str, Any]:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(
                f"a parameter group must be a dict with a 'params' list. Received: group {k}={short(group)}"
            )
        unknown = sorted(set(group) - {"params"} - set(self.defaults))
        if unknown:
            raise ValueError(
                f"parameter group {k} has unknown settings {unknown}; this optimizer takes {sorted(self.defaults)}"
            )
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                where = f"group {k} params[{i}]" if grouped else f"params[{i}]"
                raise TypeError(f"params must hold Parameters. Received: {where} of type {type(p).__name__}")
        made = {"params": params, **self.defaults}
        for name, value in group.items():
            if name != "params":
                check = self._checks.get(name)
                made[name] = check(value, name) if check is not None else value
        return made

    def group(self, i: int) -> dict[str, Any]:
        """The parameter group (its hyper-parameters) of the i-th parameter."""
        return self._groups[i]

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return float(self.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        value = non_negative(value, "lr")  # a schedule may end at 0
        for g in self.param_groups:
            g["lr"] = value

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

    _non_negative_slots: tuple[str, ...] = ()  # slots that are means of squares: never negative

    def state_lists(self) -> dict[str, list[Any]]:
        """Per-parameter state, by name; subclasses list theirs."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Every slot: the step count, each group's hyper-parameters and copies of the per-parameter state.

        "param_groups" lists, per group, its settings and "params" as indices
        into the flat parameter list, as PyTorch's state_dict does.
        """
        state: dict[str, Any] = {"lr": self.lr, "steps": self.steps}
        start = 0
        groups = []
        for g in self.param_groups:
            n = len(g["params"])
            settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k != "params"}
            groups.append({**settings, "params": list(range(start, start + n))})
            start += n
        state["param_groups"] = groups
        for name, values in self.state_lists().items():
            state[name] = [None if v is None else v.copy() for v in values]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s values, all checked before any is set.

        Refused (ValueError naming the entry): groups of other sizes, unknown or invalid settings,
        a step count that is not an integer >= 0, slots of other shapes, non-finite slot values,
        and negative values in a slot that is a mean of squares (Adam's ``v``).
        """
        groups = state.get("param_groups")
        settings: list[dict[str, Any]] = []
        if groups is not None:
            if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != [
                len(g["params"]) for g in self.param_groups
            ]:
                raise ValueError(
                    "state['param_groups'] does not match this optimizer's groups "
                    f"(sizes {[len(g['params']) for g in self.param_groups]})"
                )
            for saved in groups:
                checked = {}
                for name, value in saved.items():
                    if name == "params":
                        continue
                    if name not in self.defaults:
                        raise ValueError(f"state['param_groups'] has an unknown setting {name!r}")
                    check = self._checks.get(name)
                    value = tuple(value) if isinstance(self.defaults[name], tuple) else value
                    checked[name] = check(value, name) if check is not None else value
                settings.append(checked)
        else:
            lr = non_negative(state["lr"], "lr")
            settings = [{"lr": lr} for _ in self.param_groups]
        steps = state["steps"]
        if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) or not 0 <= steps <= 2**62:
            raise ValueError(f"state['steps'] must be an integer >= 0. Received: steps={short(steps)}")
        slots: dict[str, list[np.ndarray | None]] = {}
        for name, values in self.state_lists().items():
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
            slots[name] = [None if v is None else np.array(v, dtype=p.data.dtype) for v, p in zip(loaded, self.params)]
            for i, v in enumerate(slots[name]):
                if v is not None and not all_finite(v):
                    raise ValueError(f"state[{name!r}][{i}] holds NaN or infinite values")
                if v is not None and name in self._non_negative_slots and (v < 0).any():
                    raise ValueError(f"state[{name!r}][{i}] holds negative values, but it is a mean of squares")
        # everything checked: now set it
        for target, checked in zip(self.param_groups, settings):
            target.update(checked)
        self.steps = int(steps)
        for name, values in self.state_lists().items():
            values[:] = slots[name]

    def __repr__(self) -> str:
        groups = f", {len(self.param_groups)} groups" if len(self.param_groups) > 1 else ""
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters{groups})"


def non_negative(value: Any, name: str) -> float:
    """A finite float >= 0 (weight decay, momentum)."""
    value = real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0. Received: {name}={short(value)}")
    return value


def beta_pair(value: Any, name: str) -> tuple[float, float]:
    """Adam's (beta1, beta2), each in [0, 1)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (beta1, beta2). Received: {name}={short(value)}")
    return (in_range(value[0], f"{name}[0]", 0.0, 1.0), in_range(value[1], f"{name}[1]", 0.0, 1.0))
