"""The glassnet command end to end: train, evaluate, predict, summary."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli import common as commands
from glassnet.cli import recipes


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
    assert cli.main(["evaluate", str(digits_cnn / "model.gnet")]) == 0  # --data: the one the model records
    out = capsys.readouterr().out
    accuracy = float(re.search(r"accuracy: (\d\.\d{4})", out).group(1))
    model = gn.load(digits_cnn / "model.gnet")
    assert accuracy == pytest.approx(model.metadata["test_accuracy"], abs=1e-4)
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("true"))
    assert header.split() == ["true", *(str(i) for i in range(10)), "recall"]
    rows = [line for line in lines if re.match(r"^\d\s+(\d+\s+){10}\s*[\d.]+%$", line)]
    assert len(rows) == 10
    counts = np.array([[int(v) for v in row.split()[1:11]] for row in rows])
    assert counts.sum() == 360  # the 20% test split
    assert np.trace(counts) / counts.sum() == pytest.approx(accuracy, abs=1e-4)
    assert {len(line) for line in [header, *rows]} == {len(header)}  # the columns line up


def test_the_confusion_matrix_numbers_long_class_names():
    matrix = np.arange(100).reshape(10, 10) * 11
    text = commands.format_confusion(matrix, list(gn.datasets.FASHION_MNIST_CLASSES))
    lines = text.splitlines()
    assert lines[1].split() == ["true", *(str(i) for i in range(10)), "recall"]
    assert lines[2].startswith("0  T-shirt/top") and lines[11].startswith("9  Ankle boot")
    for i, line in enumerate(lines[2:]):
        cells = line.split()[-11:-1]
        assert [int(c.replace(",", "")) for c in cells] == matrix[i].tolist()  # every count whole, none cut
    recall = [float(line.split()[-1].rstrip("%")) for line in lines[2:]]
    assert recall == pytest.approx([round(100 * matrix[i, i] / matrix[i].sum(), 1) for i in range(10)])
    assert {len(line) for line in lines[1:]} == {len(lines[1])}


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


def test_predict_scales_raw_pixels_as_in_training(digits_cnn, tmp_path, capsys):
    raw, _ = gn.datasets.digits(raw=True)  # uint8 0..16
    np.save(tmp_path / "raw.npy", raw[:6])
    capsys.readouterr()
    assert cli.main(["predict", str(digits_cnn / "model.gnet"), str(tmp_path / "raw.npy")]) == 0
    captured = capsys.readouterr()
    assert "divided by 16" in captured.err
    model = gn.load(digits_cnn / "model.gnet")
    expected = model.predict(gn.datasets.digits()[0][:6]).argmax(axis=1)
    assert [int(line.split()[1]) for line in captured.out.strip().splitlines()[1:]] == expected.tolist()
    assert model.metadata["preprocessing"] == {"divide_by": 16}
    assert model.metadata["class_names"] == [str(i) for i in range(10)]


def test_predict_takes_one_sample_without_its_batch_axis(digits_cnn, tmp_path, capsys):
    x, _ = gn.datasets.digits()
    np.save(tmp_path / "one.npy", x[7])  # (1, 8, 8)
    capsys.readouterr()
    assert cli.main(["predict", str(digits_cnn / "model.gnet"), str(tmp_path / "one.npy")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert int(lines[1].split()[1]) == int(gn.load(digits_cnn / "model.gnet").predict(x[7:8]).argmax())


def test_summary_of_a_saved_model(digits_cnn, capsys):
    capsys.readouterr()
    assert cli.main(["summary", str(digits_cnn / "model.gnet")]) == 0
    out = capsys.readouterr().out
    assert "Conv2d" in out and "(None, 10)" in out and "Trainable parameters" in out


def test_summary_says_how_the_model_was_trained(digits_cnn, capsys):
    capsys.readouterr()
    assert cli.main(["summary", str(digits_cnn / "model.gnet")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert re.fullmatch(r"trained on digits \(cnn\), seed 0, test accuracy 0\.\d{4}", first)


def test_train_help_lists_the_data_sets_and_their_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "digits (8x8 images, shipped)" in out
    for (data, model), s in recipes.DEFAULTS.items():
        assert re.search(rf"^  {re.escape(data)}\s+{model}\s+{s.epochs} epochs, batch {s.batch_size}\s", out, re.M)


def test_one_epoch_is_singular(tmp_path, capsys):
    assert cli.main(["train", "--data", "xor", "--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "  1 epoch, batch 32" in out and "1 epochs" not in out


def test_xor_holds_out_a_test_split():
    data = recipes.load_data("xor", seed=0)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (288, 32, 80)
    train_rows = {tuple(row) for row in data.x_train.tolist()}
    assert not any(tuple(row) in train_rows for row in data.x_test.tolist())
    assert set(data.y_test.tolist()) == {0, 1}


def test_demo_creates_its_output_folder(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "new" / "folder"
    assert cli.main(["demo", "--iterations", "20", "--out", str(out)]) == 0
    assert (out / "glassnet-demo-loss.png").read_bytes()[:4] == b"\x89PNG"
    assert "20 iterations" in capsys.readouterr().out


def test_python_dash_m_runs_the_command():
    env = {**os.environ, "PYTHONPATH": str(Path(gn.__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "glassnet", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0
    assert all(name in done.stdout for name, _, _ in cli.SUBCOMMANDS)


def test_the_demo_curve_says_when_its_axis_is_logarithmic():
    from glassnet.plot import y_axis

    assert y_axis([1.3, 0.5, 0.002], "SSE") == (True, "SSE (log scale)")
    assert y_axis([1.3, 0.5, 0.2], "SSE") == (False, "SSE")


def test_a_model_file_from_before_the_preprocessing_was_recorded(digits_cnn, tmp_path, capsys):
    model = gn.load(digits_cnn / "model.gnet")
    older = {k: v for k, v in model.metadata.items() if k not in ("preprocessing", "settings")}
    model.save(tmp_path / "older.gnet", metadata=older)
    raw, _ = gn.datasets.digits(raw=True)
    np.save(tmp_path / "raw.npy", raw[:4])
    capsys.readouterr()
    assert cli.main(["predict", str(tmp_path / "older.gnet"), str(tmp_path / "raw.npy")]) == 0
    captured = capsys.readouterr()
    assert "divided by 16" in captured.err  # digits' pixel range, known from the data set's name
    expected = model.predict(gn.datasets.digits()[0][:4]).argmax(axis=1)
    assert [int(line.split()[1]) for line in captured.out.strip().splitlines()[1:]] == expected.tolist()
