"""Smoke test of the gpt2 benchmark (a tiny GPT-2, both frameworks; no timing is checked: the machine may be busy)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_gpt2_benchmark_runs_and_prints_its_table():
    pytest.importorskip("transformers")
    cmd = [sys.executable, "-m", "benchmarks.run", "--tiny", "--workloads", "gpt2", "--frameworks", "glassnet,torch"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gpt2: random GPT-2 of tiny shapes")
    for name in ("glassnet", "PyTorch"):
        row = next(line for line in lines if line.startswith(name))
        load_s, tokens_per_s, _, step_s, _, peak_mib = row.split()[1:7]
        assert float(load_s) >= 0 and float(tokens_per_s) > 0 and float(step_s) > 0 and float(peak_mib) > 0
