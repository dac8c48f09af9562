"""The chain rule, printed: ``gn.explain(model, x, y, loss)`` and ``glassnet explain``.

The forward pass runs layer by layer and records each output; the loss gives
dL/dŷ; then each layer's backward runs in reverse, and the trace records the
gradient it passes down and the gradients of its parameters. Each step shows
the layer's formulas, taken from its docstring: the forward math of its first
line and its ``Backward`` section. The docstring is the one source, so what
``explain`` prints is what the layer documents (and a test fails when a public
layer documents no Backward formula).

On the tutorial's network the trace ends with the tutorial's own update,

    d_weights2 = layer1.T @ (2 (y - ŷ) ŷ (1 - ŷ))

which is glassnet's dW2 with the opposite sign: the tutorial adds it to the
weights, SGD subtracts the gradient.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet.layers import Linear, Sigmoid
from glassnet.losses import Loss, SSELoss
from glassnet.module import Module, Sequential

__all__ = ["explain", "backward_formula", "forward_formula", "Trace", "Step", "TutorialCheck", "draw"]

MAX_VALUES = 32  # arrays with more elements are shown as shape, norm, mean and std


# -- the formulas: read from the docstrings, the one source ----------------------------


def backward_formula(cls: type) -> list[str]:
    """The lines of ``cls``'s docstring ``Backward`` section: its header's remark (when it has one), then the formulas.

    Accepts the section form (a line starting ``Backward``, then more indented
    formula lines up to a blank line) and the one-line form ``Backward: ``dx = dy``.``.
    Returns ``[]`` when the docstring has none.
    """
    doc = cls.__doc__ or ""
    lines = doc.expandtabs().splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        inline = re.search(r"Backward:\s*``(.+?)``", text)
        if inline:
            return [inline.group(1)]
        if not text.startswith("Backward"):
            continue
        indent = len(line) - len(line.lstrip())
        body: list[str] = []
        for nxt in lines[i + 1 :]:
            if not nxt.strip() or len(nxt) - len(nxt.lstrip()) <= indent:
                break
            body.append(nxt.strip())
        if body:
            remark = text[len("Backward") :].strip().rstrip(":").replace("(dy = dL/dy)", "").strip(" ,:")
            return ([remark] if remark else []) + body
    return []


def forward_formula(cls: type) -> str:
    """The forward math of ``cls``: the first ````code```` span of its docstring's first line, else that line."""
    first = (cls.__doc__ or "").strip().splitlines()
    if not first:
        return ""
    spans = [span for span in re.findall(r"``(.+?)``", first[0]) if "=" in span]  # a formula, not a name
    return spans[0] if spans else first[0].replace("``", "").rstrip(":.")


# -- the trace -----------------------------------------------------------------------------


@dataclass
class Step:
    """One layer's share of the trace: what came in, what went out, and the gradients."""

    index: int
    name: str  # the layer's class
    forward: str  # the forward formula
    backward: list[str]  # the Backward formula, line by line
    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]
    meets: str  # the shapes that meet in the forward pass, e.g. "(4, 3) @ (3, 4) -> (4, 4)"
    y: np.ndarray
    dy_shape: tuple[int, ...] = ()
    dx: np.ndarray | None = None
    backward_meets: list[str] = field(default_factory=list)
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # parameter name -> gradient

    def record(self) -> dict[str, Any]:
        """The step as plain data (shapes, formulas, norms), ready for a table or JSON."""
        return {
            "index": self.index,
            "layer": self.name,
            "forward": self.forward,
            "backward": list(self.backward),
            "x_shape": list(self.x_shape),
            "y_shape": list(self.y_shape),
            "meets": self.meets,
            "y_norm": _norm(self.y),
            "dy_shape": list(self.dy_shape),
            "dx_norm": None if self.dx is None else _norm(self.dx),
            "backward_meets": list(self.backward_meets),
            "grad_norms": {k: _norm(g) for k, g in self.grads.items()},
        }


@dataclass
class TutorialCheck:
    """The tutorial's own gradient of weights2 beside glassnet's dW2."""

    d_weights2: np.ndarray  # layer1.T @ (2 (y - ŷ) ŷ (1 - ŷ)), the tutorial's sign
    dW2: np.ndarray  # noqa: N815 (the docstrings' name)  glassnet's gradient, model.layers[2].weight.grad
    max_error: float  # max |dW2 + d_weights2|


@dataclass
class Trace:
    """What ``explain`` returns: ``steps`` (one per layer, in forward order), the loss and its gradient."""

    steps: list[Step]
    loss_name: str
    loss_formula: str
    loss_backward: list[str]
    loss: float
    x: np.ndarray
    y: np.ndarray
    dloss: np.ndarray  # dL/dŷ
    tutorial: TutorialCheck | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        """One plain dict per layer (``Step.record``), for a notebook to render."""
        return [s.record() for s in self.steps]

    def text(self, max_values: int = MAX_VALUES) -> str:
        """The trace as the lines ``glassnet explain`` prints."""
        return "\n".join(_text(self, max_values))

    def __str__(self) -> str:
        return self.text()


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64).ravel()))


def _shape(t: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, t)) + ("," if len(t) == 1 else "") + ")"


def _rows(a: np.ndarray) -> tuple[int, ...]:
    """``a`` viewed as a matrix with one row per position, as Linear computes."""
    return (int(np.prod(a.shape[:-1])), a.shape[-1]) if a.ndim > 2 else tuple(a.shape)


def _forward_meets(layer: Module, x: np.ndarray, y: np.ndarray) -> str:
    if isinstance(layer, Linear):
        text = f"{_shape(x.shape)} @ {_shape(layer.weight.shape)}"
        if layer.bias is not None:
            text += f" + {_shape(layer.bias.shape)}"
        return f"{text} -> {_shape(y.shape)}"
    params = "".join(f", {name} {_shape(p.shape)}" for name, p in layer.named_parameters())
    return f"{_shape(x.shape)}{params} -> {_shape(y.shape)}"


def _backward_meets(layer: Module, x: np.ndarray, dy: np.ndarray, dx: np.ndarray | None) -> list[str]:
    if isinstance(layer, Linear):
        lines = [
            f"dx = dy @ W.T: {_shape(dy.shape)} @ {_shape(layer.weight.shape[::-1])} -> {_shape(dy.shape[:-1] + (layer.in_features,))}",
            f"dW = x.T @ dy: {_shape(_rows(x)[::-1])} @ {_shape(_rows(dy))} -> {_shape(layer.weight.shape)}",
        ]
        if layer.bias is not None:
            lines.append(f"db = dy.sum(axis=0): {_shape(_rows(dy))} -> {_shape(layer.bias.shape)}")
        return lines
    out = [f"dy {_shape(dy.shape)} -> dx {_shape(dx.shape) if dx is not None else '(none: ids get no gradient)'}"]
    out += [f"{_grad_name(name)} {_shape(p.shape)}" for name, p in layer.named_parameters()]
    return out


def _grad_name(name: str) -> str:
    """The gradient's name as the docstrings write it: dW for a weight, db for a bias."""
    return "d" + {"weight": "W", "bias": "b"}.get(name, name)


def _layers(model: Module) -> list[Module]:
    """The layers traced one by one: a Sequential's; any other model is one step."""
    return list(model.layers) if isinstance(model, Sequential) else [model]


def explain(model: Module | None = None, x: Any = None, y: Any = None, loss: Loss | None = None) -> Trace:
    """Run one forward and backward pass of ``model`` on ``(x, y)`` and record every step.

    Args:
        model: a Sequential (each layer is a step) or any Module (one step);
            default: the tutorial's 3-4-1 network with seed 1.
        x, y: a batch of inputs and targets (default: the tutorial's four rows).
        loss: the loss (default ``SSELoss``, the tutorial's).

    Returns:
        A ``Trace``: ``print(trace)`` shows it, ``trace.records`` gives it as data.
        The model's ``p.grad`` hold this batch's gradients afterwards, as after
        ``model.backward``; its weights are unchanged and its mode restored.

    Example:
        >>> import glassnet as gn
        >>> X, y = gn.datasets.tutorial()
        >>> from glassnet.models import tutorial_network
        >>> trace = gn.explain(tutorial_network(1), X, y)
        >>> [s.meets for s in trace.steps][:2]
        ['(4, 3) @ (3, 4) -> (4, 4)', '(4, 4) -> (4, 4)']
        >>> trace.tutorial.max_error < 1e-12
        True
    """
    if model is None:
        from glassnet.models.tutorial import tutorial_network

        model = tutorial_network()
    if x is None or y is None:
        if x is not None or y is not None:
            raise ValueError("explain needs both x and y, or neither (the tutorial's four rows)")
        from glassnet.datasets import tutorial

        x, y = tutorial()
    if not isinstance(model, Module):
        raise TypeError(f"model must be a glassnet Module. Received: model={type(model).__name__}")
    loss = SSELoss() if loss is None else loss
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a glassnet Loss, such as gn.SSELoss(). Received: loss={loss!r}")
    from glassnet.training import check_x, check_y  # the same input checks as fit

    xa = check_x(model, x, "x")
    ya = check_y(xa, y, "y", xa.dtype)
    was_training = model.training
    model.train()
    try:
        steps = []
        h = xa
        for i, layer in enumerate(_layers(model)):
            out = layer.forward(h)
            cls = type(layer)
            steps.append(
                Step(i, cls.__name__, forward_formula(cls), backward_formula(cls), tuple(np.shape(h)), out.shape,
                     _forward_meets(layer, h, out), out.copy())
            )  # fmt: skip
            steps[-1]._x = h  # type: ignore[attr-defined]  # kept for the backward shapes, dropped below
            h = out
        value = loss.forward(h, ya)
        dloss = loss.backward()
        model.zero_grad()
        dy: np.ndarray | None = dloss
        for step, layer in zip(reversed(steps), reversed(_layers(model))):
            if dy is None:  # the layer above takes token ids: no gradient reaches further down
                break
            dx = layer.backward(dy)
            step.dy_shape = tuple(dy.shape)
            step.dx = None if dx is None else np.array(dx, copy=True)
            step.backward_meets = _backward_meets(layer, step._x, dy, dx)  # type: ignore[attr-defined]
            step.grads = {name: p.grad.copy() for name, p in layer.named_parameters()}
            del step._x  # type: ignore[attr-defined]
            dy = dx
    finally:
        model.train(was_training)
    lcls = type(loss)
    trace = Trace(steps, lcls.__name__, forward_formula(lcls), backward_formula(lcls), value, xa, ya, dloss)
    trace.tutorial = _tutorial_check(model, trace, loss)
    return trace


def _is_tutorial(model: Module, loss: Loss) -> bool:
    layers = _layers(model)
    kinds = [type(m) for m in layers]
    return (
        isinstance(loss, SSELoss)
        and kinds == [Linear, Sigmoid, Linear, Sigmoid]
        and all(m.bias is None for m in layers if isinstance(m, Linear))  # type: ignore[attr-defined]
    )


def _tutorial_check(model: Module, trace: Trace, loss: Loss) -> TutorialCheck | None:
    if not _is_tutorial(model, loss):
        return None
    layer1, output = trace.steps[1].y, trace.steps[3].y
    y = trace.y.reshape(output.shape)
    # the tutorial's line, verbatim in NumPy: np.dot(self.layer1.T, 2*(self.y - self.output) * sigmoid_derivative(self.output))
    d_weights2 = layer1.T @ (2 * (y - output) * (output * (1 - output)))
    dW2 = trace.steps[2].grads["weight"]
    return TutorialCheck(d_weights2, dW2, float(np.max(np.abs(dW2 + d_weights2))))


# -- text ----------------------------------------------------------------------------------


def _values(a: np.ndarray, max_values: int, indent: str) -> str:
    if a.size <= max_values:
        body = np.array2string(np.asarray(a), precision=4, suppress_small=True, max_line_width=100)
        return "\n".join(indent + line for line in body.splitlines())
    af = np.asarray(a, dtype=np.float64)
    return f"{indent}shape {_shape(a.shape)}: norm {_norm(a):.4g}, mean {af.mean():.4g}, std {af.std():.4g}"


def _text(trace: Trace, max_values: int) -> list[str]:
    out = ["forward pass, layer by layer:"]
    out.append(f"  x {_shape(trace.x.shape)}")
    if np.issubdtype(trace.x.dtype, np.number):
        out.append(_values(trace.x, max_values, "      "))
    for s in trace.steps:
        out.append(f"  [{s.index}] {s.name}: {s.forward}    {s.meets}")
        out.append(_values(s.y, max_values, "      "))
    out.append(f"  loss {trace.loss_name}: {trace.loss_formula} = {trace.loss:.6g}")
    out.append("")
    out.append("backward pass, the chain rule from dL/dŷ down (dy = dL/d(layer output), dx = dL/d(layer input)):")
    out.append(f"  dL/dŷ ({trace.loss_name}): {'; '.join(trace.loss_backward)}    {_shape(trace.dloss.shape)}")
    out.append(_values(trace.dloss, max_values, "      "))
    for s in reversed(trace.steps):
        out.append(f"  [{s.index}] {s.name}, Backward:")
        out += [f"        {line}" for line in s.backward]
        out += [f"      shapes: {line}" for line in s.backward_meets]
        for name, g in s.grads.items():
            out.append(f"      {_grad_name(name)}:")
            out.append(_values(g, max_values, "        "))
        if s.dx is not None and s.index > 0:
            out.append(f"      dx, passed down to [{s.index - 1}]:")
            out.append(_values(s.dx, max_values, "        "))
    if trace.tutorial is not None:
        t = trace.tutorial
        out.append("")
        out.append("the tutorial's own gradient: d_weights2 = layer1.T @ (2(y - ŷ) * ŷ(1 - ŷ))")
        out.append(_values(t.d_weights2, max_values, "    "))
        out.append("glassnet's dW2 (layer [2]'s weight.grad), with the opposite sign:")
        out.append(_values(t.dW2, max_values, "    "))
        verdict = "equal" if t.max_error <= 1e-12 else "NOT equal"
        out.append(
            f"dW2 = -d_weights2: {verdict} to 1e-12 (max |dW2 + d_weights2| = {t.max_error:.2g}); "
            "the tutorial adds d_weights2 to the weights, SGD with lr 1 subtracts dW2: the same step"
        )
    return out


# -- the picture ---------------------------------------------------------------------------


def draw(trace: Trace, path: str, title: str = "") -> None:
    """Write the network as a PNG: one box per layer with its formula, the shapes on the arrows between them.

    Needs matplotlib (``pip install "glassnet[plot]"``). The picture is a
    diagram, not a chart: it has no axes; the shapes are in samples x features.
    """
    from glassnet.plot import pyplot

    plt = pyplot()
    n = len(trace.steps)
    fig, ax = plt.subplots(figsize=(9, 1.6 + 1.0 * (n + 2)), dpi=100)
    ax.set_xlim(0, 10)
    ax.set_ylim(-(n + 1) - 0.5, 0.5)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.4", "facecolor": "#e8f0fb", "edgecolor": "#3465a4"}
    ax.text(4, 0, f"input x  {_shape(trace.x.shape)}", ha="center", va="center", fontsize=10,
            bbox=dict(box, facecolor="#f3f3f3"))  # fmt: skip
    short = lambda text: textwrap.shorten(text, 56, placeholder=" ...")  # noqa: E731  # boxes stay clear of the norms
    rows: list[tuple[str, Step | None]] = [
        (f"[{s.index}] {s.name}:  {short(s.forward)}\n{s.meets}", s) for s in trace.steps
    ]
    rows.append((f"loss {trace.loss_name}:  {short(trace.loss_formula)} = {trace.loss:.4g}", None))
    for row, (label, step) in enumerate(rows, start=1):
        face = "#fbeee8" if step is None else box["facecolor"]
        ax.text(4, -row, label, ha="center", va="center", fontsize=9, bbox=dict(box, facecolor=face))
        ax.annotate("", xy=(4, -row + 0.3), xytext=(4, -row + 0.7), arrowprops={"arrowstyle": "->", "color": "#555"})
        shape_in = trace.x.shape if row == 1 else trace.steps[row - 2].y_shape
        ax.text(4.12, -row + 0.5, _shape(tuple(shape_in)), ha="left", va="center", fontsize=8, color="#555")
        if step is not None:
            norms = [f"|{_grad_name(k)}| = {_norm(g):.3g}" for k, g in step.grads.items()]
            if step.dx is not None:
                norms.append(f"|dx| = {_norm(step.dx):.3g}")
            ax.text(8.2, -row, "\n".join(norms), ha="left", va="center", fontsize=8, color="#a40000")
    ax.text(8.2, 0, "backward: gradient\nnorms (L2)", ha="left", va="center", fontsize=8, color="#a40000")
    ax.set_title(title or "glassnet explain: forward pass down, shapes (samples, features) on the arrows")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
