"""What ``glassnet train``, ``evaluate``, ``predict``, ``summary`` and ``export`` do (cli.py parses the arguments)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from glassnet import recipes
from glassnet.io import load, save
from glassnet.losses import CrossEntropyLoss
from glassnet.module import Module
from glassnet.optim import SGD, Adam, CosineAnnealingLR, Optimizer


def _optimizer(name: str, model: Module, lr: float) -> Optimizer:
    if name == "sgd":
        return SGD(model.parameters(), lr=lr, momentum=0.9)
    return Adam(model.parameters(), lr=lr)


def train(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    data = recipes.load_data(args.data, seed=args.seed, data_path=args.data_path, download=args.download)
    input_shape = tuple(data.x_train.shape[1:])
    model = recipes.build_model(args.data, args.model, input_shape, data.classes, seed=args.seed)
    s = recipes.settings_for(
        args.data, args.model, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr
    )
    n_params = sum(p.data.size for p in model.parameters())
    print(
        f"glassnet train: {args.data}, {args.model} ({n_params:,} parameters); "
        f"{len(data.x_train)} training, {len(data.x_val)} validation, {len(data.x_test)} test samples"
    )
    print(f"  {s.epochs} epochs, batch {s.batch_size}, {s.optimizer} lr {s.lr:g} with cosine decay, seed {args.seed}")
    optimizer = _optimizer(s.optimizer, model, s.lr)
    loss = CrossEntropyLoss()
    history = model.fit(
        data.x_train,
        data.y_train,
        loss=loss,
        optimizer=optimizer,
        epochs=s.epochs,
        batch_size=s.batch_size,
        validation_data=(data.x_val, data.y_val),
        metrics=["accuracy"],
        callbacks=[CosineAnnealingLR(optimizer, T_max=s.epochs)],
        seed=args.seed,
        verbose=1,
    )
    test = model.evaluate(data.x_test, data.y_test, loss=loss, metrics=["accuracy"])
    seconds = time.perf_counter() - started
    out = args.out or os.path.join("runs", f"{args.data}-{args.model}")
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "model.gnet")
    metadata = {
        "data": args.data,
        "model": args.model,
        "input_shape": list(input_shape),
        "class_names": data.class_names,
        "seed": args.seed,
        "test_accuracy": test["accuracy"],
    }
    save(model, model_path, metadata=metadata)
    print(f"model saved to {model_path}")
    plot_path = os.path.join(out, "curves.png")
    try:
        from glassnet.plot import history_curves

        history_curves(history.history, plot_path, title=f"{args.data}, {args.model}")
    except ImportError as err:
        print(f"no plot: {err}")
    else:
        print(f"curves saved to {plot_path}")
    print(f"total time: {seconds:.1f}s")
    print(f"test accuracy: {test['accuracy']:.4f}")
    return 0


def _load_model(path: str) -> tuple[Module, dict[str, Any]]:
    model = load(path)
    return model, dict(getattr(model, "metadata", {}) or {})


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of class i predicted as class j."""
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def format_confusion(matrix: np.ndarray, names: list[str]) -> str:
    width = max(5, len(str(matrix.max())) + 1)
    short = [n[:width] for n in names]
    label_width = max(len(n) for n in names)
    lines = [" " * (label_width + 2) + "".join(f"{s:>{width}}" for s in short) + "   <- predicted"]
    for name, row in zip(names, matrix):
        lines.append(f"{name:>{label_width}}  " + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def evaluate(args: argparse.Namespace) -> int:
    model, meta = _load_model(args.model_file)
    seed = args.seed if args.seed is not None else int(meta.get("seed", 0))
    data = recipes.load_data(args.data, seed=seed, data_path=args.data_path, download=args.download)
    logits = model.predict(data.x_test)
    if logits.ndim != 2 or logits.shape[1] != data.classes:
        raise ValueError(f"the model outputs shape {logits.shape[1:]}, but {args.data} has {data.classes} classes")
    predicted = logits.argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_test))
    print(f"{args.data} test split: {len(data.y_test)} samples")
    print(f"accuracy: {accuracy:.4f}")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(format_confusion(confusion_matrix(data.y_test, predicted, data.classes), data.class_names))
    return 0


def _fit_input(x: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """Reshape ``x`` to (N, *shape) when only the layout differs (e.g. (N, 28, 28) for (N, 1, 28, 28))."""
    if shape is None or x.shape[1:] == shape:
        return x
    if x.ndim >= 1 and int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return x.reshape((len(x), *shape))
    if int(np.prod(x.shape)) == int(np.prod(shape)):  # a single sample without the batch axis
        return x.reshape((1, *shape))
    raise ValueError(f"the input has shape {x.shape}, but the model expects (N, {', '.join(map(str, shape))})")


def predict(args: argparse.Namespace) -> int:
    model, meta = _load_model(args.model_file)
    try:
        x = np.load(args.input, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{args.input} is not a plain numeric .npy array ({err})") from None
    shape = tuple(meta["input_shape"]) if "input_shape" in meta else None
    x = _fit_input(np.asarray(x), shape)
    if x.dtype == np.uint8 and meta.get("data") in recipes.IMAGE_DATASETS:
        x = x.astype(np.float32) / 255  # raw pixels: the model was trained on [0, 1]
    logits = model.predict(x)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    names = meta.get("class_names") or [str(i) for i in range(probs.shape[1])]
    top = min(args.top, probs.shape[1])
    print(f"sample  class  probabilities (top {top})")
    for i, row in enumerate(probs):
        best = np.argsort(row)[::-1][:top]
        shown = ", ".join(f"{names[j]}: {row[j]:.3f}" for j in best)
        print(f"{i:>6}  {best[0]:>5}  {shown}")
    return 0


def summary(args: argparse.Namespace) -> int:
    model, meta = _load_model(args.model_file)
    shape = args.input_shape or (tuple(meta["input_shape"]) if "input_shape" in meta else None)
    if shape is None:
        raise ValueError("the model file does not record its input shape: pass --input-shape, e.g. 1,28,28")
    if meta:
        print(f"trained on {meta.get('data', '?')}, test accuracy {meta.get('test_accuracy', float('nan')):.4f}")
    model.summary(shape)
    return 0


def export(args: argparse.Namespace) -> int:
    from glassnet.onnx import IR_VERSION, OPSET
    from glassnet.onnx import export as export_onnx

    model, meta = _load_model(args.model_file)
    shape = args.input_shape or (tuple(meta["input_shape"]) if "input_shape" in meta else None)
    if shape is None:
        raise ValueError("the model file does not record its input shape: pass --input-shape, e.g. 1,28,28")
    try:
        proto = export_onnx(model, args.output, shape)
    except OSError as err:  # a read-only folder or a full disk: one line, the old file is intact
        print(f"glassnet export: error: {err}", file=sys.stderr)
        return 1
    out_dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    print(
        f"{args.output}: ONNX opset {OPSET}, IR version {IR_VERSION}, {len(proto.graph.node)} nodes; "
        f"input 'input' (N, {', '.join(map(str, shape))}) -> output 'output' ({', '.join(map(str, out_dims))})"
    )
    return 0
