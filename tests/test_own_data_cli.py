"""``glassnet train --data FILE``, then ``predict`` and ``evaluate`` on raw files: CSV tables, image folders, text.

Each data set is made here (small, seeded, learnable), trained for a few epochs
through ``glassnet.cli.main``, and its model given raw rows and images. The
round trips check that the raw files the model is given at predict time come
out as the very arrays training saw.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.datasets import from_csv, from_image_folder
from glassnet.datasets._prep import split_indices
from glassnet.layers.activations import softmax


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_results(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """120 rows: two numbers and a colour; the class is the quadrant of (width, height); the price a linear mix."""
    root = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    width, height = rng.normal(size=120), rng.normal(size=120)
    colour = rng.choice(["red", "green", "blue"], size=120)
    kind = np.where(width > 0, np.where(height > 0, "big", "wide"), "small")
    price = 3.0 * width - 2.0 * height + (colour == "red") * 1.5 + 100.0
    header = ["width", "height", "colour", "kind", "price"]
    rows = [[f"{w:.4f}", f"{h:.4f}", c, k, f"{p:.4f}"] for w, h, c, k, p in zip(width, height, colour, kind, price)]
    write_csv(root / "shapes.csv", header, rows)
    write_csv(root / "kinds.csv", header[:4], [r[:4] for r in rows])
    write_csv(root / "prices.csv", [*header[:3], "price"], [[*r[:3], r[4]] for r in rows])
    return {"root": root, "rows": rows}


@pytest.fixture(scope="module")
def kinds_model(table: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kinds-run")
    root = table["root"]
    assert isinstance(root, Path)
    code = cli.main(
        ["train", "--data", str(root / "kinds.csv"), "--target", "kind", "--epochs", "3", "--out", str(out)]
    )
    assert code == 0
    return out


def test_csv_classification_trains_and_its_model_keeps_the_preprocessing(kinds_model, table, capsys):
    model = gn.load(kinds_model / "model.gnet")
    prep = model.metadata["preprocessing"]
    assert prep["kind"] == "tabular" and prep["target"] == "kind" and prep["classes"] == ["big", "small", "wide"]
    assert [c["name"] for c in prep["columns"]] == ["width", "height", "colour"]
    assert model.metadata["class_names"] == ["big", "small", "wide"] and 0 <= model.metadata["test_accuracy"] <= 1
    assert (kinds_model / "report.html").is_file()


def test_csv_classification_prints_warnings_and_the_test_accuracy(table, tmp_path, capsys):
    rows = table["rows"]
    assert isinstance(rows, list)
    data = write_csv(tmp_path / "batch.csv", ["width", "batch", "kind"], [[r[0], 7, r[3]] for r in rows[:40]])
    code, out, _ = run(["train", "--data", data, "--epochs", "2", "--out", tmp_path / "run"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("warning: only 28 training rows")  # data_warnings, before training
    assert lines[1] == "warning: 1 input column(s) constant over the training rows: ['batch']"
    assert "3 classes of 'kind'" in out and "epoch 2/2" in out and "28 training, 4 validation, 8 test" in out
    assert lines[-1].startswith("test accuracy: ")


def test_predict_on_raw_rows_equals_predict_on_the_training_arrays(kinds_model, table, tmp_path, capsys):
    root, rows = table["root"], table["rows"]
    assert isinstance(root, Path) and isinstance(rows, list)
    data = from_csv(root / "kinds.csv", target="kind", seed=0)  # the arrays training saw
    train, _, _ = split_indices(len(rows), 0.1, 0.2, 0)
    # the training rows again, without the target, columns in another order
    new = write_csv(
        tmp_path / "new.csv", ["colour", "height", "width"], [[rows[i][2], rows[i][1], rows[i][0]] for i in train]
    )
    code, out, _ = run(["predict", kinds_model / "model.gnet", new, "--out", tmp_path / "results.csv"], capsys)
    assert code == 0
    printed = [line.split() for line in out.splitlines()[1:] if line.startswith("row ")]
    assert len(printed) == len(train)
    results = read_results(tmp_path / "results.csv")
    model = gn.load(kinds_model / "model.gnet")
    probs = softmax(model.predict(data.x_train).astype(np.float64), axis=1)
    names = ["big", "small", "wide"]
    assert [r["class"] for r in results] == [names[i] for i in probs.argmax(axis=1)]
    np.testing.assert_allclose([float(r["probability"]) for r in results], probs.max(axis=1), rtol=1e-6)
    assert [p[2] for p in printed] == [r["class"] for r in results]


def test_evaluate_on_a_labelled_csv_prints_the_confusion_matrix_with_class_names(kinds_model, table, tmp_path, capsys):
    code, out, _ = run(
        ["evaluate", kinds_model / "model.gnet", table["root"] / "kinds.csv", "--out", tmp_path / "scored.csv"], capsys
    )
    assert code == 0
    assert "120 samples" in out and "accuracy: " in out
    assert all(f"{i}  {name}" in out for i, name in enumerate(["big", "small", "wide"]))
    scored = read_results(tmp_path / "scored.csv")
    assert len(scored) == 120 and set(scored[0]) == {"input", "true", "predicted", "probability"}
    accuracy = float(out.split("accuracy: ")[1].split()[0])
    assert accuracy == pytest.approx(np.mean([r["true"] == r["predicted"] for r in scored]), abs=1e-4)


def test_csv_regression_trains_predicts_in_the_targets_units_and_evaluates(table, tmp_path, capsys):
    root = table["root"]
    assert isinstance(root, Path)
    code, out, _ = run(
        ["train", "--data", root / "prices.csv", "--epochs", "3", "--hidden", "16,8", "--out", tmp_path], capsys
    )
    assert code == 0
    assert "regression of 'price'" in out
    assert [line.split(":")[0] for line in out.splitlines()[-3:]] == ["test MAE", "test RMSE", "test R²"]
    model = gn.load(tmp_path / "model.gnet")
    assert [layer.out_features for layer in model.layers if isinstance(layer, gn.Linear)] == [16, 8, 1]
    assert "test_accuracy" not in model.metadata and set(model.metadata["test_errors"]) == {"mae", "rmse", "r2"}
    data = from_csv(root / "prices.csv", seed=0)
    rows = table["rows"]
    assert isinstance(rows, list)
    train, _, _ = split_indices(len(rows), 0.1, 0.2, 0)
    new = write_csv(tmp_path / "new.csv", ["width", "height", "colour"], [rows[i][:3] for i in train])
    code, out, _ = run(["predict", tmp_path / "model.gnet", new, "--out", tmp_path / "values.csv"], capsys)
    assert code == 0 and out.splitlines()[0].split() == ["input", "price"]
    expected = data.preprocessing.inverse_target(model.predict(data.x_train)[:, 0])
    np.testing.assert_allclose([float(r["price"]) for r in read_results(tmp_path / "values.csv")], expected, rtol=1e-6)
    code, out, _ = run(["evaluate", tmp_path / "model.gnet", root / "prices.csv"], capsys)
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()[-3:]] == ["MAE", "RMSE", "R²"]


def test_a_given_test_file_empty_cells_filled_and_a_tsv_file(table, tmp_path, capsys):
    rows = table["rows"]
    assert isinstance(rows, list)
    header = ["width", "height", "colour", "kind"]
    holes = [[r[0], "" if i % 10 == 3 else r[1], r[2], r[3]] for i, r in enumerate(rows)]
    write_csv(tmp_path / "train.csv", header, holes[:90])
    write_csv(tmp_path / "test.csv", header, [r[:4] for r in rows[90:]])
    argv = ["train", "--data", tmp_path / "train.csv", "--test", tmp_path / "test.csv", "--epochs", "1"]
    code, _, err = run([*argv, "--out", tmp_path / "run"], capsys)
    assert code == 1 and "column 'height' is empty; pass --fill mean, median or most-frequent" in err
    code, out, _ = run([*argv, "--fill", "median", "--out", tmp_path / "run"], capsys)
    assert code == 0 and f"81 training, 9 validation, 30 test samples (from {tmp_path / 'test.csv'})" in out
    assert gn.load(tmp_path / "run" / "model.gnet").metadata["preprocessing"]["columns"][1]["fill"] is not None
    (tmp_path / "t.tsv").write_text("\n".join("\t".join(map(str, r[:4])) for r in [header, *rows]) + "\n")
    code, out, _ = run(["train", "--data", tmp_path / "t.tsv", "--epochs", "1", "--out", tmp_path / "tsv"], capsys)
    assert code == 0 and "3 classes of 'kind', 3 columns -> 5 features" in out


# -- image folders -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of 12x12 grayscale PNGs: horizontal and vertical stripes, with noise; 15 of each."""
    Image = pytest.importorskip("PIL.Image")
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    stripes = (np.arange(12) % 4 < 2).astype(float)
    for name, base in (
        ("horizontal", np.repeat(stripes[:, None], 12, 1)),
        ("vertical", np.repeat(stripes[None], 12, 0)),
    ):
        (root / "data" / name).mkdir(parents=True)
        for i in range(15):
            pixels = np.clip(base * 200 + rng.normal(0, 20, (12, 12)) + 20, 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / "data" / name / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def photos_model(photos: Path) -> Path:
    out = photos / "run"
    argv = ["train", "--data", photos / "data", "--image-size", "8", "--epochs", "2", "--flip", "--shift", "1"]
    assert cli.main([str(a) for a in [*argv, "--out", out]]) == 0
    return out


def test_image_folder_trains_a_cnn_that_keeps_size_channels_and_classes(photos_model):
    model = gn.load(photos_model / "model.gnet")
    assert model.metadata["preprocessing"] == {
        "kind": "images", "version": 1, "size": [8, 8], "channels": 1, "classes": ["horizontal", "vertical"],
    }  # fmt: skip
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["RandomHorizontalFlip", "RandomShift", "Conv2d"]
    assert model.metadata["model"] == "cnn" and (photos_model / "report.html").is_file()


def test_predict_on_image_files_equals_predict_on_the_training_arrays(photos, photos_model, tmp_path, capsys):
    data = from_image_folder(photos / "data", size=8, seed=0)
    files = sorted((photos / "data").glob("*/*.png"))  # class folders in order, files sorted: the loader's order
    train, _, _ = split_indices(len(files), 0.1, 0.2, 0)
    chosen = [files[i] for i in train]
    code, out, _ = run(["predict", photos_model / "model.gnet", *chosen, "--out", tmp_path / "r.csv"], capsys)
    assert code == 0
    model = gn.load(photos_model / "model.gnet")
    probs = softmax(model.predict(data.x_train).astype(np.float64), axis=1)
    results = read_results(tmp_path / "r.csv")
    assert [Path(r["input"]).name for r in results] == [f.name for f in chosen]
    np.testing.assert_allclose([float(r["probability"]) for r in results], probs.max(axis=1), rtol=1e-6)
    assert len([line for line in out.splitlines() if ".png" in line]) == len(chosen)


def test_predict_takes_folders_and_evaluate_a_folder_of_class_folders(photos, photos_model, capsys):
    code, out, _ = run(["predict", photos_model / "model.gnet", photos / "data" / "vertical"], capsys)
    assert code == 0 and len([line for line in out.splitlines() if ".png" in line]) == 15
    code, out, _ = run(["evaluate", photos_model / "model.gnet", photos / "data"], capsys)
    assert code == 0
    assert "30 samples" in out and "0  horizontal" in out and "1  vertical" in out


def test_a_corrupt_image_is_skipped_with_a_warning_and_alone_is_an_error(photos, photos_model, tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    good = photos / "data" / "vertical" / "00.png"
    code, out, _ = run(["predict", photos_model / "model.gnet", good, tmp_path / "broken.png"], capsys)
    assert code == 0
    assert "warning: skipped 1 of 2 files" in out and "broken.png" in out
    assert len([line for line in out.splitlines() if line.endswith(tuple("0123456789"))]) == 1
    code, out, err = run(
        ["predict", photos_model / "model.gnet", tmp_path / "broken.png", "--out", tmp_path / "no.csv"], capsys
    )
    assert code == 1 and "none of the 1 files given could be read as an image" in err
    assert not (tmp_path / "no.csv").exists()


# -- a text file ---------------------------------------------------------------------------


def test_a_text_file_trains_a_character_model_that_generate_continues(tmp_path, capsys):
    story = tmp_path / "story.txt"
    story.write_text("the cat sat on the mat. the dog sat on the log. " * 8, encoding="utf-8")
    argv = ["train", "--data", story, "--model", "rnn", "--steps", "3", "--batch-size", "4", "--context", "8"]
    code, out, _ = run([*argv, "--out", tmp_path / "run"], capsys)
    assert code == 0
    vocabulary = len(set(story.read_text(encoding="utf-8")))
    assert f"vocabulary {vocabulary}" in out and out.splitlines()[-1].startswith("validation loss: ")
    model = gn.load(tmp_path / "run" / "model.gnet")
    chars = "".join(sorted(set(story.read_text(encoding="utf-8"))))
    assert model.metadata["preprocessing"] == {"kind": "text", "version": 1, "chars": chars}
    code, out, _ = run(["generate", tmp_path / "run" / "model.gnet", "--prompt", "the ", "--length", "5"], capsys)
    assert code == 0 and out.startswith("the ")
    code, _, err = run(["predict", tmp_path / "run" / "model.gnet", story], capsys)
    assert code == 1 and "language model" in err and "glassnet generate" in err


def test_text_steps_scale_with_the_texts_size(tmp_path, capsys):
    from glassnet.cli import own_data

    args = cli.build_parser().parse_args(["train", "--data", str(tmp_path)])
    small = own_data.text_settings("gpt", args, 1_000, 200)
    large = own_data.text_settings("gpt", args, 10_000_000, 1_000_000)
    assert small.steps == 50 and small.warmup_steps < small.steps
    assert large.steps == 2000 and small.steps < own_data.text_settings("gpt", args, 10_000, 2_000).steps < 2000


# -- --hidden and --dropout on the built-in data sets --------------------------------------


def test_hidden_and_dropout_shape_a_built_in_mlp(tmp_path, capsys):
    argv = ["train", "--data", "xor", "--epochs", "1", "--hidden", "5,3", "--dropout", "0.25", "--out", tmp_path]
    code, _, _ = run(argv, capsys)
    assert code == 0
    model = gn.load(tmp_path / "model.gnet")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear",
    ]  # fmt: skip
    assert [layer.out_features for layer in model.layers if isinstance(layer, gn.Linear)] == [5, 3, 2]


# -- mistakes: one line, nothing written ---------------------------------------------------


@pytest.fixture
def hostile(tmp_path: Path, table: dict[str, object]) -> Path:
    write_csv(tmp_path / "ok.csv", ["a", "b", "y"], [[i, i % 3, "yes" if i % 2 else "no"] for i in range(30)])
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,yes\n3,no\n4,5,yes\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("hello\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    return tmp_path


MISTAKES = [
    (["train", "--data", "{w}/ok.csv", "--target", "colour"], 1, "has no column 'colour' (given as target)"),
    (["train", "--data", "{w}/ragged.csv"], 1, "line 3 has 2 fields, but the header has 3 columns"),
    (
        ["train", "--data", "{w}/ok.csv", "--image-size", "16"],
        1,
        "--image-size applies to image folders; --data {w}/ok.csv is a CSV file",
    ),
    (["train", "--data", "{w}/ok.csv", "--model", "cnn"], 1, "--model cnn needs images"),
    (["train", "--data", "{w}/ok.csv", "--model", "gpt"], 1, "is a language model: train it on a .txt file"),
    (["train", "--data", "{w}/ok.csv", "--steps", "5"], 1, "--steps is for language models"),
    (["train", "--data", "{w}/ok.csv", "--seeds", "2"], 1, "--seeds runs the built-in data sets"),
    (["train", "--data", "{w}/ok.csv", "--test", "{w}/notes.md"], 1, "--test {w}/notes.md: expected a .csv/.tsv file"),
    (["train", "--data", "{w}/empty.txt"], 1, "is empty"),
    (["train", "--data", "{w}/notes.md"], 2, "neither a .csv/.tsv table nor a .txt text"),
    (["train", "--data", "{w}/missing.csv"], 2, "no such file or folder"),
    (["train", "--data", "cifar"], 2, "invalid choice: 'cifar'"),
    (["train", "--data", "digits", "--target", "y"], 1, "--target applies to CSV files; --data digits is built in"),
    (["train", "--data", "digits", "--flip"], 1, "--flip applies to image folders; --data digits is built in"),
]


@pytest.mark.parametrize("argv, code, phrase", MISTAKES, ids=[" ".join(m[0][:4]) for m in MISTAKES])
def test_bad_own_data_is_one_line_and_writes_nothing(hostile, argv, code, phrase, capsys):
    out_dir = hostile / "out"
    argv = [a.format(w=hostile) for a in argv] + ["--out", str(out_dir)]
    if code == 2:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        got, err = exit_info.value.code, capsys.readouterr().err
    else:
        got, _, err = run(argv, capsys)
    lines = err.strip().splitlines()
    assert got == code and len(lines) == 1, err
    assert "error: " in lines[0] and phrase.format(w=hostile) in lines[0]
    assert not out_dir.exists()


def test_predict_names_unknown_and_missing_columns_and_writes_no_results(kinds_model, tmp_path, capsys):
    model = kinds_model / "model.gnet"
    extra = write_csv(tmp_path / "extra.csv", ["width", "height", "colour", "weight"], [[1, 2, "red", 3]])
    code, _, err = run(["predict", model, extra, "--out", tmp_path / "r.csv"], capsys)
    assert code == 1 and "column(s) ['weight'] the model was not trained on" in err
    missing = write_csv(tmp_path / "missing.csv", ["width", "colour"], [[1, "red"]])
    code, _, err = run(["predict", model, missing, "--out", tmp_path / "r.csv"], capsys)
    assert code == 1 and "lacks the column(s) ['height']" in err
    unseen = write_csv(tmp_path / "unseen.csv", ["width", "height", "colour"], [[1, 2, "purple"]])
    code, _, err = run(["predict", model, unseen], capsys)
    assert code == 1 and "'purple', a value training never saw" in err
    unlabelled = write_csv(tmp_path / "unlabelled.csv", ["width", "height", "colour"], [[1, 2, "red"]])
    code, _, err = run(["evaluate", model, unlabelled], capsys)
    assert code == 1 and "has no column 'kind', the target" in err
    assert not (tmp_path / "r.csv").exists()


def test_a_csv_file_in_another_encoding_trains_with_encoding(tmp_path, capsys):
    rows = [[f"{x:.3f}", "café" if x > 0 else "thé", "oui" if x > 0 else "non"] for x in np.linspace(-1, 1, 60)]
    path = tmp_path / "latin1.csv"
    with open(path, "w", newline="", encoding="latin-1") as f:
        csv.writer(f).writerows([["x", "boisson", "label"], *rows])
    code, _, err = run(["train", "--data", path, "--out", tmp_path / "refused"], capsys)
    assert code == 1 and "--encoding latin-1" in err and not (tmp_path / "refused").exists()
    code, out, _ = run(
        ["train", "--data", path, "--encoding", "latin-1", "--epochs", "2", "--out", tmp_path / "r"], capsys
    )
    assert code == 0 and "test accuracy: " in out
    code, _, err = run(["train", "--data", "digits", "--encoding", "latin-1"], capsys)
    assert code == 1 and "--encoding" in err
