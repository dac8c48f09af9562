"""Many seeds: ``glassnet demo --seeds N`` and ``glassnet train ... --seeds K``.

One seed's result hides its spread. ``demo --seeds N`` trains the tutorial's
network from N initial weights, spread over processes (one per core), and
says how many converge (rounded predictions equal y), the median and spread
of the predictions and of the final loss, and which seeds stall.

``tutorial_rng=True`` draws the weights exactly as the tutorial does,
``np.random.seed(s); np.random.rand(3, 4); np.random.rand(4, 1)`` (through
``np.random.RandomState(s)``, the same stream, without touching NumPy's
global state), so the tutorial's own runs are reproduced seed for seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from glassnet.datasets import tutorial
from glassnet.losses import SSELoss
from glassnet.models.tutorial import tutorial_network, tutorial_weights
from glassnet.optim import SGD
from glassnet.training import train_step

__all__ = ["SeedResult", "run_seed", "run_seeds", "tutorial_weights", "summarise"]


@dataclass
class SeedResult:
    seed: int
    predictions: np.ndarray  # (4,): the final ŷ of the four rows
    loss: float  # the final SSE
    converged: bool  # rounded predictions equal y


def run_seed(seed: int, iterations: int = 1500, lr: float = 1.0, tutorial_rng: bool = False) -> SeedResult:
    """Train the tutorial's network from ``seed`` by hand, every step visible (the same numbers as ``fit``)."""
    x, y = tutorial()
    model = tutorial_network(seed, tutorial_rng=tutorial_rng)
    loss, opt = SSELoss(), SGD(model.parameters(), lr=lr)
    model.train()
    model.set_input_grad(False)  # nothing reads dL/dx of the first layer
    for _ in range(iterations):
        train_step(model, loss, opt, x, y)
    pred = model.predict(x)
    return SeedResult(seed, pred.ravel(), float(np.sum((y - pred) ** 2)), bool(np.array_equal(np.round(pred), y)))


def _run_chunk(args: tuple[Sequence[int], int, float, bool]) -> list[SeedResult]:
    seeds, iterations, lr, tutorial_rng = args
    return [run_seed(s, iterations, lr, tutorial_rng) for s in seeds]


def run_seeds(
    seeds: Sequence[int],
    iterations: int = 1500,
    lr: float = 1.0,
    tutorial_rng: bool = False,
    workers: int | None = None,
) -> list[SeedResult]:
    """``run_seed`` for every seed, in ``workers`` processes (default: one per core); results in seed order."""
    seeds = [int(s) for s in seeds]
    workers = min(workers or os.cpu_count() or 1, len(seeds)) if seeds else 1
    if workers <= 1:
        return _run_chunk((seeds, iterations, lr, tutorial_rng))
    chunks = [seeds[i::workers] for i in range(workers)]  # interleaved: every process gets a like share
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_run_chunk, [(c, iterations, lr, tutorial_rng) for c in chunks]))
    by_seed = {r.seed: r for part in parts for r in part}
    return [by_seed[s] for s in seeds]


def summarise(results: Sequence[SeedResult]) -> list[str]:
    """The lines ``glassnet demo --seeds`` prints."""
    preds = np.array([r.predictions for r in results])
    losses = np.array([r.loss for r in results])
    stalled = [r for r in results if not r.converged]
    n = len(results)

    def fmt(row: np.ndarray) -> str:
        return " / ".join(f"{v:.3f}" for v in row)

    lines = [f"  converged: {n - len(stalled):,} of {n:,} seeds (rounded predictions equal y = 0 / 1 / 1 / 0)"]
    lines.append(f"  median predictions:        {fmt(np.median(preds, axis=0))}")
    lines.append(f"  5th-95th percentile, low:  {fmt(np.percentile(preds, 5, axis=0))}")
    lines.append(f"  5th-95th percentile, high: {fmt(np.percentile(preds, 95, axis=0))}")
    lo, hi = np.percentile(losses, [5, 95])
    lines.append(
        f"  final SSE: median {np.median(losses):.4g}, 5th-95th percentile {lo:.4g} to {hi:.4g}, max {losses.max():.4g}"
    )
    if stalled:
        lines.append(f"  stalled seeds ({len(stalled)}):")
        for r in stalled[:20]:
            lines.append(f"    seed {r.seed}: predictions {fmt(r.predictions)}, SSE {r.loss:.4g}")
        if len(stalled) > 20:
            lines.append(f"    ... and {len(stalled) - 20} more")
    else:
        lines.append("  no seed stalled")
    return lines


def plot(results: Sequence[SeedResult], path: str, title: str) -> None:
    """Histograms of the final SSE (log bins) and of each row's prediction, as a PNG (needs matplotlib)."""
    from glassnet.plot import pyplot

    plt = pyplot()
    losses = np.array([r.loss for r in results])
    preds = np.array([r.predictions for r in results])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    bins = np.logspace(np.log10(max(losses.min(), 1e-12)), np.log10(max(losses.max(), 1e-12)) + 1e-9, 40)
    left.hist(losses, bins=bins, color="#3465a4")
    left.set_xscale("log")
    left.set(title="final loss", xlabel="SSE after training (log scale)", ylabel="seeds")
    stalled = [r for r in results if not r.converged]
    if stalled:
        names = ", ".join(str(r.seed) for r in stalled[:6]) + (" ..." if len(stalled) > 6 else "")
        left.annotate(f"stalled: seed {names}", xy=(stalled[0].loss, 1), xytext=(0.5, 0.6), textcoords="axes fraction",
                      arrowprops={"arrowstyle": "->"}, fontsize=9)  # fmt: skip
    for i, label in enumerate(["[0,0,1] → 0", "[0,1,1] → 1", "[1,0,1] → 1", "[1,1,1] → 0"]):
        # outlines, not filled bars: the two rows that share a target overlap bin for bin
        right.hist(preds[:, i], bins=np.linspace(0, 1, 51), histtype="step", linewidth=1.8, label=label)
    right.set_yscale("log")
    right.set_ylim(bottom=0.8)  # a bin with one seed (a stalled run) stays visible on the log axis
    right.set(title="final predictions", xlabel="prediction ŷ (0 to 1)", ylabel="seeds (log scale)")
    right.legend(fontsize=8, title="input → target", title_fontsize=8)
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(seeds: int, iterations: int, lr: float, tutorial_rng: bool, out: str, workers: int | None = None) -> int:
    """``glassnet demo --seeds N``: run, print the summary, draw the histograms."""
    import time

    how = "np.random.seed(s); np.random.rand, as the tutorial" if tutorial_rng else "glassnet's generator"
    used = min(workers or os.cpu_count() or 1, seeds)
    print(
        f"glassnet demo: the tutorial's 3-4-1 sigmoid network over seeds 0 to {seeds - 1} "
        f"({iterations:,} iterations, lr {lr}, weights from {how}; {used} process{'es' if used > 1 else ''})",
        flush=True,
    )
    started = time.perf_counter()
    results = run_seeds(range(seeds), iterations, lr, tutorial_rng, workers)
    for line in summarise(results):
        print(line)
    print(f"  ({time.perf_counter() - started:.1f}s)")
    path = os.path.join(out, "glassnet-demo-seeds.png")
    try:
        plot(results, path, f"Tutorial network over {seeds:,} seeds ({'tutorial' if tutorial_rng else 'glassnet'} RNG)")
    except ImportError:
        print('matplotlib is not installed; for a histogram PNG: pip install "glassnet[plot]"')
    else:
        print(f"histograms written to {os.path.abspath(path)}")
    return 0
