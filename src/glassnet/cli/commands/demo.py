"""The tutorial's network, reproduced exactly: ``glassnet demo``.

A 3 → 4 → 1 network with sigmoid activations and no biases, weights uniform on
[0, 1), sum-of-squares loss, full-batch gradient descent with learning rate 1,
1,500 iterations on four rows. The tutorial's update,

    d_weights2 = layer1.T @ (2 (y - ŷ) ŷ (1 - ŷ))
    weights2 += d_weights2

is SGD with lr = 1 on the SSE gradient dL/dŷ = 2 (ŷ - y): the same numbers.
``--seeds N`` trains it from N seeds instead (glassnet.cli.seeds).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glassnet.cli.args import integer, non_negative_int, positive_float, positive_int
from glassnet.cli.common import prepare_folder
from glassnet.datasets import tutorial
from glassnet.losses import SSELoss
from glassnet.models.tutorial import DEFAULT_SEED, tutorial_network
from glassnet.module import Sequential
from glassnet.optim import SGD


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=integer, default=1, help="seed of the initial weights (default 1)")
    p.add_argument(
        "--iterations", type=non_negative_int, default=1500, help="gradient-descent iterations (default 1500)"
    )
    p.add_argument("--lr", type=positive_float, default=1.0, help="learning rate (default 1.0, the tutorial's)")
    p.add_argument("--out", default=".", help="folder for the loss-curve PNG, created if missing (default: .)")
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        metavar="N",
        help="train from seeds 0..N-1 across processes instead",
    )
    p.add_argument(
        "--tutorial-rng",
        action="store_true",
        help="draw the weights as the tutorial does: np.random.seed(s); np.random.rand(3, 4); np.random.rand(4, 1)",
    )
    p.add_argument("--workers", type=positive_int, default=None, help="processes for --seeds (default: one per core)")


def run(args: argparse.Namespace) -> int:
    prepare_folder(args.out, "--out")
    if args.seeds is not None:
        from glassnet.cli.seeds import main as seeds_main

        return seeds_main(args.seeds, args.iterations, args.lr, args.tutorial_rng, args.out, args.workers)
    return main(seed=args.seed, iterations=args.iterations, lr=args.lr, out=args.out, tutorial_rng=args.tutorial_rng)


@dataclass
class DemoResult:
    model: Sequential
    losses: list[float]
    predictions: np.ndarray


def train_tutorial(
    seed: int = DEFAULT_SEED, iterations: int = 1500, lr: float = 1.0, tutorial_rng: bool = False
) -> DemoResult:
    """Train the tutorial network and return the model, the SSE per iteration and the predictions.

    ``tutorial_rng``: draw the weights as the tutorial, ``np.random.seed(seed); np.random.rand``.
    """
    x, y = tutorial()
    model = tutorial_network(seed, tutorial_rng=tutorial_rng)
    history = model.fit(x, y, loss=SSELoss(), optimizer=SGD(model.parameters(), lr=lr), epochs=iterations, verbose=0)
    return DemoResult(model, history.history.get("loss", []), model.predict(x))


def text_curve(values: Sequence[float], width: int = 60, height: int = 12) -> str:
    """A loss curve as rows of text, for terminals without matplotlib."""
    if not values:
        return "(no iterations)"
    v = np.asarray(values, dtype=np.float64)
    cols = np.array_split(v, min(width, len(v)))
    points = np.array([c.mean() for c in cols])
    lo, hi = float(points.min()), float(points.max())
    span = hi - lo or 1.0
    rows = np.round((points - lo) / span * (height - 1)).astype(int)
    lines = []
    for level in range(height - 1, -1, -1):
        label = f"{lo + span * level / (height - 1):9.4f} |"
        lines.append(label + "".join("*" if r == level else " " for r in rows))
    lines.append(" " * 10 + "+" + "-" * len(rows))
    lines.append(" " * 11 + f"iteration 0 … {len(v)}")
    return "\n".join(lines)


def plot_curve(losses: Sequence[float], path: str) -> None:
    """Write the loss curve as a PNG (needs matplotlib: pip install "glassnet[plot]")."""
    from glassnet.plot import loss_curve

    loss_curve(losses, path, title="Tutorial network: sum of squared errors", ylabel="SSE", xlabel="iteration")


def main(
    seed: int = DEFAULT_SEED, iterations: int = 1500, lr: float = 1.0, out: str = ".", tutorial_rng: bool = False
) -> int:
    """Run the demo and print what it did; returns the process exit code."""
    x, y = tutorial()
    steps = f"{iterations:,} iteration" + ("" if iterations == 1 else "s")
    print(f"glassnet demo: the tutorial's 3-4-1 sigmoid network, seed {seed}, {steps}, lr {lr}")
    result = train_tutorial(seed, iterations, lr, tutorial_rng)
    losses = result.losses
    marks = sorted({i for i in (0, 1, 10, 100, 500, 1000, iterations - 1) if 0 <= i < iterations})
    for i in marks:
        print(f"  iteration {i + 1:>5}: SSE = {losses[i]:.6f}")
    final = float(np.sum((y - result.predictions) ** 2))
    print(f"  after training:  SSE = {final:.6f}")
    print()
    print("  input       target  prediction")
    for xi, yi, pi in zip(x, y, result.predictions):
        print(f"  {xi.astype(int)!s:<10}  {yi[0]:6.0f}  {pi[0]:10.4f}")
    print()
    path = os.path.join(out, "glassnet-demo-loss.png")
    try:
        plot_curve(losses, path)
    except ImportError:
        print(text_curve(losses))
        print('\nmatplotlib is not installed; for a PNG of the curve: pip install "glassnet[plot]"')
    else:
        print(f"loss curve written to {os.path.abspath(path)}")
    return 0
