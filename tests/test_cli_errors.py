"""Every subcommand, with the mistakes people make: one line on stderr, the right exit code, no traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.datasets import idx_sets

SRC = str(Path(gn.__file__).resolve().parents[1])


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``glassnet ARGV`` run in this process."""
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argument errors: argparse exits
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained digits MLP (one epoch) and the kinds of wrong files people pass."""
    root = tmp_path_factory.mktemp("work")
    assert cli.main(["train", "--data", "digits", "--epochs", "1", "--out", str(root / "run")]) == 0
    model = gn.load(root / "run" / "model.gnet")
    (root / "a-file").write_text("not a folder\n")
    (root / "empty").mkdir()
    (root / "text.txt").write_text("0 1 2\n3 4 5\n")
    np.savez(root / "arrays.npz", x=np.zeros((2, 64)))
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(root / "wrong-shape.npy", np.zeros((2, 28, 28), dtype=np.float32))
    np.save(root / "raw-floats.npy", gn.datasets.digits(raw=True)[0][:3].astype(np.float32))
    np.save(root / "strings.npy", np.array(["a", "b"]))
    metadata = dict(model.metadata)
    model.save(root / "short-names.gnet", metadata={**metadata, "class_names": ["zero", "one", "two"]})
    model.save(root / "odd.gnet", metadata={"data": 5, "input_shape": "abc", "test_accuracy": "high", "seed": "x"})
    model.save(root / "bare.gnet")
    return root


# (arguments, exit code, a phrase of the message); {w} is the work folder
MISTAKES = [
    # arguments
    ([], 2, "choose a command"),
    (["trian"], 2, "invalid choice"),
    (["train"], 2, "--data"),
    (["train", "--data", "cifar"], 2, "invalid choice: 'cifar'"),
    (["train", "--data", "digits", "--epochs", "0"], 2, "expected a positive integer, got '0'"),
    (["train", "--data", "digits", "--epochs", "three"], 2, "expected an integer, got 'three'"),
    (["train", "--data", "digits", "--lr", "abc"], 2, "expected a positive number, got 'abc'"),
    (["train", "--data", "digits", "--seed", "1.5"], 2, "expected an integer, got '1.5'"),
    (["demo", "--lr", "0"], 2, "expected a positive number"),
    (["demo", "--iterations", "-1"], 2, "expected an integer >= 0"),
    (["summary", "{w}/run/model.gnet", "--input-shape", "a,b"], 2, "expected sizes separated by commas"),
    (["predict", "{w}/run/model.gnet"], 2, "FILE.npy"),
    # output locations, checked before training
    (["train", "--data", "digits", "--out", "{w}/a-file"], 1, "--out {w}/a-file is a file, not a folder"),
    (["demo", "--out", "{w}/a-file"], 1, "--out {w}/a-file is a file, not a folder"),
    (["train", "--data", "moons", "--model", "cnn", "--out", "{w}/x"], 1, "--model cnn needs image data"),
    # data sources
    (["train", "--data", "fashion-mnist", "--data-path", "{w}/nowhere"], 1, "--data-path {w}/nowhere: no such folder"),
    (["train", "--data", "mnist", "--data-path", "{w}/empty"], 1, "--data-path {w}/empty holds no MNIST data set"),
    (["train", "--data", "mnist", "--data-path", "{w}/a-file"], 1, "is a file"),
    (["train", "--data", "digits", "--data-path", "{w}/empty"], 1, "digits ships with glassnet: leave --data-path out"),
    (["evaluate", "{w}/run/model.gnet", "--data", "mnist", "--data-path", "{w}/empty"], 1, "holds no MNIST"),
    # model files
    (["predict", "{w}/run", "{w}/x.npy"], 1, "{w}/run is a folder, not a model file: did you mean {w}/run/model.gnet?"),
    (["evaluate", "{w}/empty"], 1, "is a folder, not a model file: give the model file inside it"),
    (["summary", "{w}/missing.gnet"], 1, "{w}/missing.gnet: no such model file"),
    (["summary", "{w}/text.txt"], 1, "not a glassnet model file"),
    (["summary", "{w}/bare.gnet"], 1, "pass --input-shape"),
    (["evaluate", "{w}/bare.gnet"], 1, "pass --data NAME"),
    # evaluate: the data set and split the model was trained on
    (["evaluate", "{w}/run/model.gnet", "--data", "moons"], 1, "trained on digits, 1x8x8 images; moons samples are"),
    (["evaluate", "{w}/run/model.gnet", "--seed", "1"], 1, "--seed 1 would test it on samples it trained on"),
    # predict: input files
    (["predict", "{w}/run/model.gnet", "{w}/empty"], 1, "{w}/empty is a folder: give a .npy file"),
    (["predict", "{w}/run/model.gnet", "{w}/nothing.npy"], 1, "{w}/nothing.npy: no such file or directory"),
    (["predict", "{w}/run/model.gnet", "{w}/text.txt"], 1, "{w}/text.txt is not a .npy file"),
    (["predict", "{w}/run/model.gnet", "{w}/arrays.npz"], 1, "is a .npz archive"),
    (["predict", "{w}/run/model.gnet", "{w}/objects.npy"], 1, "holds Python objects"),
    (["predict", "{w}/run/model.gnet", "{w}/strings.npy"], 1, "save real numbers"),
    (
        ["predict", "{w}/run/model.gnet", "{w}/wrong-shape.npy"],
        1,
        "trained on digits, 1x8x8 images (input (N, 1, 8, 8))",
    ),
    (["predict", "{w}/run/model.gnet", "{w}/raw-floats.npy"], 1, "values from 0 to 16, but this model was trained on"),
]


@pytest.mark.parametrize(("argv", "code", "phrase"), MISTAKES, ids=[" ".join(m[0]) or "(none)" for m in MISTAKES])
def test_a_mistake_gives_one_line_and_an_exit_code(work, capsys, argv, code, phrase):
    argv = [a.format(w=work) for a in argv]
    got, out, err = run(argv, capsys)
    assert got == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("glassnet") and ": error: " in lines[0]
    assert phrase.format(w=work) in lines[0]
    assert "Traceback" not in err and "epoch 1/" not in out  # nothing was trained first


def test_odd_metadata_gives_notes_not_a_crash(work, capsys):
    code, out, err = run(["summary", str(work / "odd.gnet"), "--input-shape", "1,8,8"], capsys)
    assert code == 0
    assert "Trainable parameters" in out
    notes = err.strip().splitlines()
    assert len(notes) == 4 and all(n.startswith("note: ") and "ignoring metadata" in n for n in notes)
    assert {n.split("ignoring metadata ")[1].split("=")[0] for n in notes} == {
        "data",
        "input_shape",
        "test_accuracy",
        "seed",
    }


def test_class_names_that_do_not_match_the_outputs_fall_back_to_numbers(work, capsys):
    np.save(work / "two.npy", gn.datasets.digits()[0][:2])
    code, out, err = run(["predict", str(work / "short-names.gnet"), str(work / "two.npy")], capsys)
    assert code == 0
    assert "names 3 classes but the model has 10 outputs" in err
    assert "zero" not in out and len(out.strip().splitlines()) == 3


def test_missing_fashion_mnist_names_the_flags(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setitem(idx_sets.SYSTEM_DIRS, "fashion-mnist", [str(tmp_path / "none")])
    code, _, err = run(["train", "--data", "fashion-mnist", "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "Fashion-MNIST not found" in err and "--download" in err and "--data-path FOLDER" in err
    assert "download=True" not in err and "path=<folder>" not in err


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_quietly(work, capsys, monkeypatch):
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = cli.main(["summary", str(work / "run" / "model.gnet")])
    monkeypatch.undo()
    assert code == cli.EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def _glassnet(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "glassnet", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_python_dash_m_and_debug(work):
    missing = str(work / "missing.gnet")
    quiet = _glassnet("summary", missing)
    assert quiet.returncode == 1
    lines = quiet.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"glassnet summary: error: {missing}: no such model file")
    loud = _glassnet("summary", missing, "--debug")
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "CommandError" in loud.stderr
    assert _glassnet("--version").stdout.startswith("glassnet ")


def test_an_unexpected_error_is_one_line_that_says_it_is_a_bug(work, capsys, monkeypatch):
    from glassnet.cli.commands import summary

    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr(summary, "run", broken)
    code, _, err = run(["summary", "x"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "unexpected KeyError" in err and "--debug" in err
