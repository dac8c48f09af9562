"""glassnet's default MLP on one's own data files against scikit-learn's MLP with default settings.

scikit-learn's bundled data sets are written as CSV files (iris, wine, breast
cancer, diabetes, digits) and digits also as a folder of PNG images; each is
loaded with ``from_csv``/``from_image_folder`` (seeded split, statistics from
the training rows), then both models train on the same arrays:

- glassnet: the model and training scikit-learn's defaults describe, written with
  glassnet's layers and trained with ``model.fit``: Linear(F, 100), ReLU,
  Linear(100, K), Adam(lr=1e-3), batches of min(200, N), 200 epochs, seed 0;
- scikit-learn: ``MLPClassifier()`` / ``MLPRegressor()`` with default settings
  (which adds an L2 penalty of 1e-4 and stops early when the training loss
  stalls), random_state=0, on the same arrays (the regression target
  standardised for both, R² measured in the target's units).

The small sets are scored on four seeded splits (a quarter of the rows each
for testing) and averaged, since one test row of iris is 2.6 points;
digits on one split. Run: ``python benchmarks/own_data_vs_sklearn.py``;
it prints a Markdown table.
"""

from __future__ import annotations

import csv
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import glassnet as gn
from glassnet.datasets import from_csv, from_image_folder

EPOCHS = 200
HIDDEN = 100
SEEDS = (0, 1, 2, 3)


def write_csv(path: Path, x: np.ndarray, y: np.ndarray, names: list[str], target: list[str] | np.ndarray) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names, "target"])
        for row, label in zip(x.tolist(), list(target)):
            writer.writerow([*[repr(v) for v in row], label])
    return path


def write_pngs(folder: Path, images: np.ndarray, y: np.ndarray) -> Path:
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, y)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.uint8(np.round(image * 255 / 16)), mode="L").save(folder / str(label) / f"{i:04d}.png")
    return folder


def glassnet_mlp(features: int, outputs: int) -> gn.Sequential:
    rng = np.random.default_rng(0)
    return gn.Sequential(
        gn.Flatten(),
        gn.Linear(features, HIDDEN, init="xavier_uniform", rng=rng),
        gn.ReLU(),
        gn.Linear(HIDDEN, outputs, rng=rng),
    )


def compare(data, regression: bool) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from threadpoolctl import threadpool_limits

    prep = data.preprocessing
    xtr, xte = data.x_train.reshape(len(data.x_train), -1), data.x_test.reshape(len(data.x_test), -1)
    model = glassnet_mlp(xtr.shape[1], prep.n_outputs)
    loss = gn.MSELoss() if regression else gn.CrossEntropyLoss()
    optimizer = gn.Adam(model.parameters(), lr=1e-3)
    with threadpool_limits(1):  # one BLAS thread for both: more only contend on a small shared machine
        model.fit(xtr, data.y_train, loss=loss, optimizer=optimizer, epochs=EPOCHS, batch_size=min(200, len(xtr)),
                  seed=0, verbose=0, preprocessing=prep)  # fmt: skip
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        if regression:
            y_test = prep.inverse_target(data.y_test[:, 0])
            ours = r2_score(y_test, prep.inverse_target(model.predict(xte)[:, 0]))
            theirs = r2_score(
                y_test, prep.inverse_target(MLPRegressor(random_state=0).fit(xtr, data.y_train[:, 0]).predict(xte))
            )
        else:
            ours = float((model.predict(xte).argmax(axis=1) == data.y_test).mean())
            theirs = float(MLPClassifier(random_state=0).fit(xtr, data.y_train).score(xte, data.y_test))
    return ours, theirs


def main() -> None:
    from sklearn import datasets

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, loader, regression in [
            ("iris", datasets.load_iris, False),
            ("wine", datasets.load_wine, False),
            ("breast_cancer", datasets.load_breast_cancer, False),
            ("diabetes", datasets.load_diabetes, True),
            ("digits", datasets.load_digits, False),
        ]:
            bunch = loader()
            target = (
                bunch.target
                if regression
                else np.asarray(bunch.target_names)[bunch.target]
                if name != "digits"
                else bunch.target
            )
            names = [f"f{i}" for i in range(bunch.data.shape[1])] if name == "digits" else list(bunch.feature_names)
            path = write_csv(root / f"{name}.csv", bunch.data, bunch.target, names, target)
            start = time.perf_counter()
            scores = []
            for seed in SEEDS[:1] if name == "digits" else SEEDS:
                data = from_csv(
                    path, val_size=0.0, test_size=0.25, seed=seed, task="regression" if regression else None
                )
                scores.append(compare(data, regression))
            ours, theirs = np.mean(scores, axis=0)
            rows.append(
                (
                    f"{name} (CSV)",
                    f"{len(data.y_test)} x {len(scores)}",
                    "R²" if regression else "accuracy",
                    ours,
                    theirs,
                    time.perf_counter() - start,
                )
            )
        bunch = datasets.load_digits()
        folder_path = write_pngs(root / "digits_png", bunch.images, bunch.target)
        start = time.perf_counter()
        data = from_image_folder(folder_path, size=8, val_size=0.0, test_size=0.25, seed=0)
        ours, theirs = compare(data, False)
        rows.append(
            ("digits (PNG folder)", f"{len(data.y_test)} x 1", "accuracy", ours, theirs, time.perf_counter() - start)
        )
    print("| data | test rows x splits | metric | glassnet MLP | scikit-learn MLP | difference | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, n, metric, ours, theirs, seconds in rows:
        print(f"| {name} | {n} | {metric} | {ours:.4f} | {theirs:.4f} | {ours - theirs:+.4f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
