"""Smoke test of the gpt benchmark workload (no timing is checked: the machine may be busy)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpt_workload_runs_and_prints_its_table():
    cmd = [sys.executable, "-m", "benchmarks.run", "--tiny", "--workloads", "gpt", "--frameworks", "glassnet"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gpt: nanoGPT's CPU recipe")
    row = next(line for line in lines if line.startswith("glassnet"))
    step_ms, _, cpu_ms, _, chars_per_s = row.split()[1:6]
    assert float(step_ms) > 0 and float(cpu_ms) > 0 and float(chars_per_s) > 0
