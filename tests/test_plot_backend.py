"""Drawing a picture never switches the user's matplotlib backend (a notebook's inline plots keep working)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import glassnet as gn

pytest.importorskip("matplotlib")

SCRIPT = """
import matplotlib
matplotlib.use("svg")  # stands for the user's backend (a notebook's inline one)
import matplotlib.pyplot as plt
import glassnet as gn
import glassnet.pictures, glassnet.plot
x, y = gn.datasets.moons(n=60, rng=0)
model = gn.Sequential(gn.Linear(2, 8, rng=0), gn.ReLU(), gn.Linear(8, 2, rng=1))
folder = {folder!r}
gn.pictures.decision_boundary(model, x, y, folder + "/boundary.png")
gn.plot.loss_curve([3.0, 2.0, 1.0], folder + "/loss.png")
print(matplotlib.get_backend(), plt.get_fignums())
"""


def test_pictures_leave_the_backend_and_pyplot_alone(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(gn.__file__).resolve().parents[1])}
    env.pop("MPLBACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(folder=str(tmp_path))],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "[]"]  # the backend as the user set it; no figure left in pyplot
    for name in ("boundary.png", "loss.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
