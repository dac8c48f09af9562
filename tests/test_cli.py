"""The glassnet command end to end: train, evaluate, predict, summary."""

import re

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits-cnn")
    code = cli.main(["train", "--data", "digits", "--model", "cnn", "--epochs", "2", "--out", str(out)])
    assert code == 0
    return out


def test_train_digits_cnn_end_to_end(digits_cnn, capsys):
    model = gn.load(digits_cnn / "model.gnet")
    assert model.metadata["data"] == "digits" and model.metadata["input_shape"] == [1, 8, 8]
    assert model.metadata["test_accuracy"] > 0.5  # two epochs: far above chance (0.1)
    pytest.importorskip("matplotlib")
    assert (digits_cnn / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_train_prints_epochs_and_test_accuracy(tmp_path, capsys):
    assert (
        cli.main(
            ["train", "--data", "moons", "--epochs", "3", "--out", str(tmp_path), "--optimizer", "sgd", "--lr", "0.05"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert len(re.findall(r"^epoch \d/3 - loss: .* - accuracy: .* - val_accuracy: .* - [\d.]+s$", out, re.M)) == 3
    accuracy = float(re.search(r"^test accuracy: (0\.\d{4})$", out, re.M).group(1))
    assert 0.5 < accuracy <= 1.0


def test_evaluate_prints_accuracy_and_confusion_matrix(digits_cnn, capsys):
    capsys.readouterr()
    assert cli.main(["evaluate", str(digits_cnn / "model.gnet"), "--data", "digits"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"accuracy: (\d\.\d{4})", out).group(1))
    model = gn.load(digits_cnn / "model.gnet")
    assert accuracy == pytest.approx(model.metadata["test_accuracy"], abs=1e-4)
    rows = [line for line in out.splitlines() if re.match(r"^\s*\d\s+(\d+\s+){9}\d+$", line)]
    assert len(rows) == 10
    assert sum(int(v) for row in rows for v in row.split()[1:]) == 360  # the 20% test split


def test_predict_from_npy(digits_cnn, tmp_path, capsys):
    x, y = gn.datasets.digits()
    np.save(tmp_path / "five.npy", x[:5, 0])  # (5, 8, 8): the channel axis is added
    capsys.readouterr()
    assert cli.main(["predict", str(digits_cnn / "model.gnet"), str(tmp_path / "five.npy"), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6
    model = gn.load(digits_cnn / "model.gnet")
    expected = model.predict(x[:5]).argmax(axis=1)
    assert [int(line.split()[1]) for line in lines[1:]] == expected.tolist()


def test_predict_rejects_bad_files(digits_cnn, tmp_path, capsys):
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5)))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert cli.main(["predict", str(digits_cnn / "model.gnet"), str(tmp_path / "wrong.npy")]) == 1
    assert "expects (N, 1, 8, 8)" in capsys.readouterr().err
    assert cli.main(["predict", str(digits_cnn / "model.gnet"), str(tmp_path / "objects.npy")]) == 1
    assert "not a plain numeric .npy" in capsys.readouterr().err


def test_summary_of_a_saved_model(digits_cnn, capsys):
    capsys.readouterr()
    assert cli.main(["summary", str(digits_cnn / "model.gnet")]) == 0
    out = capsys.readouterr().out
    assert "Conv2d" in out and "(None, 10)" in out and "Trainable parameters" in out


def test_cnn_needs_images_and_missing_files_are_reported(tmp_path, capsys):
    assert cli.main(["train", "--data", "spirals", "--model", "cnn", "--out", str(tmp_path)]) == 1
    assert "needs image data" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "none.gnet"), "--data", "digits"]) == 1
    assert "none.gnet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--data", "cifar"])
