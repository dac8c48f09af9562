"""PNG plots of training curves. Needs matplotlib: ``pip install "glassnet[plot]"``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot drawing to files (the Agg backend), or an ImportError naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plotting needs matplotlib, which is not installed: pip install "glassnet[plot]"') from None
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def y_axis(values: Sequence[float], ylabel: str) -> tuple[bool, str]:
    """Whether the curve goes on a log scale (it spans more than 100x) and the label that says so."""
    if len(values) and min(values) > 0 and max(values) / min(values) > 100:
        return True, f"{ylabel} (log scale)"  # equal steps on the axis are equal ratios, not differences
    return False, ylabel


def loss_curve(
    values: Sequence[float], path: str, *, title: str = "", xlabel: str = "epoch", ylabel: str = "loss"
) -> None:
    """Write one curve to ``path`` as a PNG, on a log scale (said in the axis label) when it spans decades."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(range(1, len(values) + 1), values)
    log, ylabel = y_axis(values, ylabel)
    if log:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def history_curves(history: Mapping[str, Sequence[float]], path: str, *, title: str = "") -> None:
    """Loss (left) and accuracy (right, if recorded) per epoch, train and validation, as a PNG."""
    plt = pyplot()
    has_acc = any("acc" in k for k in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 6, 4), dpi=100, squeeze=False)
    panels = [("loss", axes[0][0])] + ([("accuracy", axes[0][1])] if has_acc else [])
    for key, ax in panels:
        for name, values in history.items():
            if name in (key, f"val_{key}", "test_" + key):
                ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
        ax.set(xlabel="epoch", ylabel=key)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
