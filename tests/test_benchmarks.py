"""Smoke test of the benchmark suite: the tiny configuration runs end to end and prints every row.

Timings are never checked here (the machine may be busy); benchmarks/README.md has real numbers.
PyTorch and scikit-learn rows are expected only where those packages are installed, and
random data stands in for Fashion-MNIST where its files are missing.
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
LABELS = {
    "tutorial": "tutorial 3-4-1, 1,500 it",
    "mlp": "MLP train, batch 128",
    "cnn": "CNN train, batch 64",
    "mlp-predict": "MLP predict, batch 1000",
    "cnn-predict": "CNN predict, batch 1000",
    "lstm": "LSTM train step, batch 32x64",
    "lstm-generate": "LSTM generate text",
}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _run(*flags: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "benchmarks.run", "--tiny", *flags]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _expected_rows() -> set[tuple[str, str]]:
    rows = {(LABELS["tutorial"], "NumPy loop"), (LABELS["tutorial"], "glassnet")}
    frameworks = ["glassnet"]
    if _installed("torch"):
        frameworks.append("PyTorch")
    for workload in ("mlp", "cnn", "mlp-predict", "cnn-predict", "lstm", "lstm-generate"):
        rows |= {(LABELS[workload], fw) for fw in frameworks}
    if _installed("sklearn"):
        rows.add((LABELS["mlp"], "scikit-learn"))
    return rows


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    frameworks = ",".join(["glassnet"] + [fw for fw in ("torch", "sklearn") if _installed(fw)])
    out_json = tmp_path_factory.mktemp("bench") / "tiny.json"
    done = _run("--frameworks", frameworks, "--json", str(out_json))
    if done.returncode != 0 and "Fashion-MNIST files not found" in done.stderr:
        done = _run("--frameworks", frameworks, "--json", str(out_json), "--synthetic")
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(out_json.read_text())


def test_tiny_run_prints_every_row(tiny_run):
    done, _ = tiny_run
    rows = set()
    for line in done.stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 3 and cells[0] in LABELS.values():
            assert cells[2] != "n/a", line
            rows.add((cells[0], cells[1]))
    assert rows == _expected_rows()
    assert "NumPy float32 matrix product" in done.stdout
    assert "glassnet / NumPy loop" in done.stdout


def test_tiny_run_writes_json(tiny_run):
    _, payload = tiny_run
    assert not payload["errors"]
    assert "numpy" in payload["gemm"]
    measured = {(r["workload"], r["framework"]) for r in payload["rows"] if "seconds" in r}
    assert len(measured) == len(_expected_rows())
    tutorial = next(r for r in payload["rows"] if r["workload"] == "tutorial" and r["framework"] == "glassnet")
    assert tutorial["max_abs_diff"] < 1e-9  # glassnet's fit follows the tutorial's own loop


def test_flop_counts_are_the_analytic_ones(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    common = importlib.import_module("benchmarks.common")
    conv1 = 2 * 1 * 3 * 3 * 16 * 28 * 28
    conv2 = 2 * 16 * 3 * 3 * 32 * 14 * 14
    assert common.forward_flops(common.CNN, (1, 28, 28)) == conv1 + conv2 + 2 * 1568 * 128 + 2 * 128 * 10
    assert common.forward_flops(common.MLP, (784,)) == 2 * (784 * 256 + 256 * 128 + 128 * 10)
    assert common.forward_flops(common.TUTORIAL, (3,)) == 2 * (3 * 4 + 4 * 1)


def test_lstm_workloads_build_the_same_model_in_both_frameworks(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(ROOT))
    lstm = importlib.import_module("benchmarks.lstm")
    ours = sum(p.data.size for p in lstm.glassnet_model(0).parameters())
    theirs = sum(p.numel() for p in lstm.torch_model(0).parameters())
    assert ours == theirs == 65 * 64 + 4 * 256 * (64 + 256 + 2) + 256 * 65 + 65
    assert lstm.forward_flops("lstm") == 64 * lstm.forward_flops("lstm-generate")
    x, y = lstm.batches(1, seed=0)[0]
    assert x.shape == y.shape == (32, 64) and np.array_equal(x[:, 1:], y[:, :-1])
    assert torch.from_numpy(x).dtype == torch.int64


def test_tiny_run_names_its_machine(tiny_run):
    done, payload = tiny_run
    machine = payload["environment"]
    assert machine["cpu_model"] and machine["cpus"] >= 1
    header = next(line for line in done.stdout.splitlines() if line.startswith("machine: "))
    assert machine["cpu_model"] in header and f"{machine['cpus']} cores" in header
    if _installed("threadpoolctl"):
        assert machine["numpy_blas"] and all("kernel)" in blas for blas in machine["numpy_blas"])
        assert "BLAS: " in header
    if _installed("torch"):
        assert machine["torch_cpu_capability"] in header


def test_the_thread_policy_ab_prints_both_settings_and_their_ratio():
    cmd = [sys.executable, "-m", "benchmarks.thread_policy_ab", "--repeats", "1", "--workloads", "mlp"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("mlp"))
    default, threaded, ratio = row.split()[1:]
    assert float(default) > 0 and float(threaded) > 0
    assert abs(float(ratio.rstrip("x")) - float(default) / float(threaded)) < 0.01
