"""Pictures of what a network learned: decision boundaries, confusion matrices, its worst mistakes, filters,
feature maps and attention. Each function writes one PNG; they need matplotlib (``pip install "glassnet[plot]"``).

Every picture has a title, labelled axes (with units where there are any) and a colour bar where colour
carries a number, and is legible at its default size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from glassnet.layers.activations import softmax
from glassnet.module import Module, Sequential
from glassnet.plot import pyplot

__all__ = ["decision_boundary", "confusion_matrix_png", "confident_errors", "filters", "feature_maps", "attention"]


def decision_boundary(
    model: Module, x: np.ndarray, y: np.ndarray, path: str, *, title: str = "decision boundary", steps: int = 300
) -> None:
    """The class the model predicts at every point of the plane, with the samples on top (2-D inputs only)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision_boundary needs 2-D points, shape (N, 2). Received: x of shape {x.shape}")
    plt = pyplot()
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = 0.1 * (hi - lo) + 1e-3
    g0, g1 = np.meshgrid(
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps), np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps)
    )
    out = model.predict(np.column_stack([g0.ravel(), g1.ravel()]))
    classes = out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > (0.0 if out.min() < 0 else 0.5)).astype(int)
    k = int(max(classes.max(), np.max(y)) + 1)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    cmap = plt.get_cmap("tab10", k)
    ax.contourf(g0, g1, classes.reshape(g0.shape), levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
    scatter = ax.scatter(
        x[:, 0], x[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=k - 0.5, s=12, edgecolors="k", linewidths=0.3
    )
    ax.legend(*scatter.legend_elements(), title="class", loc="best", fontsize=8)
    ax.set(title=title, xlabel="x[0]", ylabel="x[1]")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def confusion_matrix_png(
    matrix: np.ndarray, names: Sequence[str], path: str, *, title: str = "confusion matrix"
) -> None:
    """Counts of true class (rows) against predicted class (columns); the diagonal is right."""
    plt = pyplot()
    matrix = np.asarray(matrix)
    k = len(matrix)
    size = max(5.0, 0.55 * k + 3)
    fig, ax = plt.subplots(figsize=(size + 1.5, size), dpi=100)
    shown = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(shown, ax=ax, label="test samples")
    labels = [n if n == str(i) else f"{i} {n}" for i, n in enumerate(names)]
    ax.set_xticks(range(k), [str(i) for i in range(k)])
    ax.set_yticks(range(k), labels)
    limit = matrix.max() / 2 if matrix.size else 0
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if matrix[i, j] > limit else "black",
                )
    ax.set(title=title, xlabel="predicted class (number)", ylabel="true class")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _image(sample: np.ndarray) -> np.ndarray:
    """A (C, H, W) or (H, W) sample as something imshow draws: (H, W) grey or (H, W, 3)."""
    if sample.ndim == 3:
        return sample[0] if sample.shape[0] == 1 else np.moveaxis(sample[:3], 0, -1)
    return sample


def confident_errors(
    images: np.ndarray,
    y_true: np.ndarray,
    logits: np.ndarray,
    names: Sequence[str],
    path: str,
    *,
    count: int = 16,
    title: str = "the most confidently wrong test images",
) -> int:
    """A grid of the wrong predictions made with the highest probability; returns how many are shown."""
    probs = softmax(np.asarray(logits, dtype=np.float64))
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    wrong = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:count]
    plt = pyplot()
    cols = max(1, min(4, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.9 * rows), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(_image(images[i]), cmap="gray")
        ax.set_title(
            f"#{i}: true {names[y_true[i]]}\npredicted {names[predicted[i]]} ({probs[i, predicted[i]]:.0%})", fontsize=8
        )
    if not len(wrong):
        axes[0][0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return len(wrong)


def _layers(model: Module) -> list[Module]:
    return list(model.layers) if isinstance(model, Sequential) else [model]


def filters(model: Module, path: str, *, title: str = "first-layer filters") -> None:
    """The weights of the model's first Conv2d, one small image per (output, input) channel pair."""
    from glassnet.layers import Conv2d

    conv = next((m for m in model.modules() if isinstance(m, Conv2d)), None)
    if conv is None:
        raise ValueError(f"filters needs a model with a Conv2d layer. Received: {type(model).__name__} without one")
    w = conv.weight.data  # (out, in, kH, kW)
    out_c, in_c = w.shape[:2]
    plt = pyplot()
    cols = min(8, out_c)
    rows = math.ceil(out_c / cols) * in_c
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 1.2, 1.3 * rows + 0.8), dpi=100, squeeze=False)
    bound = float(np.abs(w).max()) or 1.0
    shown = None
    for ax in axes.ravel():
        ax.axis("off")
    for o in range(out_c):
        for c in range(in_c):
            ax = axes[(o // cols) * in_c + c][o % cols]
            shown = ax.imshow(w[o, c], cmap="RdBu_r", vmin=-bound, vmax=bound)
            ax.set_title(f"filter {o}" + (f", in {c}" if in_c > 1 else ""), fontsize=7)
    if shown is not None:
        fig.colorbar(shown, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(f"{title}: {out_c} filters of {w.shape[2]}x{w.shape[3]} pixels")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def feature_maps(model: Module, image: np.ndarray, path: str, *, title: str = "feature maps") -> None:
    """One image, then the channels each image-shaped layer of the model turns it into (up to 8 per layer)."""
    layers = _layers(model)
    x = np.asarray(image, dtype=model._dtype())[None]
    stages: list[tuple[str, np.ndarray]] = [("input", x[0])]
    was_training = model.training
    model.eval()
    try:
        for i, layer in enumerate(layers):
            x = layer.forward(x)
            if x.ndim != 4:
                break
            stages.append((f"layer {i}: {type(layer).__name__}", x[0]))
    finally:
        model.train(was_training)
    plt = pyplot()
    cols = 8
    fig, axes = plt.subplots(len(stages), cols, figsize=(1.5 * cols, 1.6 * len(stages) + 0.6), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for row, (name, maps) in enumerate(stages):
        for c in range(min(cols, maps.shape[0])):
            axes[row][c].imshow(maps[c], cmap="gray" if row == 0 else "viridis")
        axes[row][0].set_title(f"{name} ({maps.shape[0]} ch, {maps.shape[1]}x{maps.shape[2]})", fontsize=8, loc="left")
    fig.suptitle(f"{title} (brighter: larger activation)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def attention(model: Module, ids: np.ndarray, tokens: Sequence[str], path: str, *, title: str = "attention") -> None:
    """The attention weights of every head of every MultiHeadAttention layer for one prompt (rows: queries)."""
    from glassnet.layers import MultiHeadAttention

    heads = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    if not heads:
        raise ValueError(f"attention needs a model with MultiHeadAttention. Received: {type(model).__name__}")
    was_training = model.training
    model.train()  # a training-mode forward keeps each layer's weights p for backward: they are what we draw
    try:
        model.forward(np.asarray(ids)[None])
        weights = [layer._cache[3][0] for layer in heads]  # type: ignore[index]  # (H, T, T) each
    finally:
        model.train(was_training)
        for layer in heads:
            layer._cache = None
    plt = pyplot()
    n_heads = weights[0].shape[0]
    t = len(tokens)
    size = max(2.2, 0.22 * t + 1)
    fig, axes = plt.subplots(
        len(weights), n_heads, figsize=(size * n_heads + 1, size * len(weights) + 0.6), dpi=100, squeeze=False
    )
    labels = [repr(c)[1:-1] or " " for c in tokens]
    shown = None
    for li, w in enumerate(weights):
        for h in range(n_heads):
            ax = axes[li][h]
            shown = ax.imshow(w[h], cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(t), labels, fontsize=6)
            ax.set_yticks(range(t), labels, fontsize=6)
            ax.set_title(f"layer {li}, head {h}", fontsize=8)
            if h == 0:
                ax.set_ylabel("query position")
            if li == len(weights) - 1:
                ax.set_xlabel("key position")
    if shown is not None:
        fig.colorbar(shown, ax=axes, shrink=0.8, label="attention weight")
    fig.suptitle(f"{title}: where each character looks")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
