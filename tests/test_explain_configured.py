"""``glassnet explain`` prints the formulas of each layer as configured: no bias term without a bias, no sequence note for 2-D input."""

from __future__ import annotations

import numpy as np

import glassnet as gn
from glassnet import cli
from glassnet.explain import backward_formula, explain


def test_the_tutorials_bias_free_network_shows_no_bias_and_no_sequence_note(tmp_path, capsys):
    assert cli.main(["explain", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "y = x @ W    (4, 3) @ (3, 4)" in out
    assert "+ b" not in out and "db" not in out and "N*T" not in out
    assert "dW = x.T @ dy" in out


def test_a_linear_with_a_bias_on_sequences_shows_every_line_of_its_docstring():
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    y = np.random.default_rng(1).normal(size=(2, 3, 5))
    trace = explain(gn.Sequential(gn.Linear(4, 5, rng=0, dtype=np.float64)), x, y)
    assert trace.steps[0].forward == "y = x @ W + b"
    assert trace.steps[0].backward == backward_formula(gn.Linear)  # the docstring's, whole
    assert any("(N*T, F)" in line for line in trace.steps[0].backward)
    flat = explain(gn.Sequential(gn.Linear(4, 5, rng=0, dtype=np.float64)), x[:, 0], y[:, 0])
    assert "db = dy.sum(axis=0)" in flat.steps[0].backward
    assert not any("N*T" in line for line in flat.steps[0].backward)


def test_a_bias_free_convolution_shows_no_db():
    x = np.random.default_rng(0).normal(size=(2, 1, 5, 5))
    y = np.random.default_rng(1).normal(size=(2, 2, 3, 3))
    with_bias = explain(gn.Sequential(gn.Conv2d(1, 2, 3, rng=0, dtype=np.float64)), x, y)
    without = explain(gn.Sequential(gn.Conv2d(1, 2, 3, bias=False, rng=0, dtype=np.float64)), x, y)
    assert any(line.startswith("db") for line in with_bias.steps[0].backward)
    assert not any(line.startswith("db") for line in without.steps[0].backward)
    assert "db" not in without.text()
