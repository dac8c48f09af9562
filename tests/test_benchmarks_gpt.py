"""Smoke tests of the gpt benchmark workload and the scaling table (no timing is checked: the machine may be busy)."""

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


def test_scaling_table_lists_one_thread_and_all_threads_for_each_workload():
    cmd = [sys.executable, "-m", "benchmarks.run", "--tiny", "--synthetic", "--scaling"]
    cmd += ["--workloads", "cnn,gpt", "--frameworks", "glassnet", "--threads", "2"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Scaling: each library on 1 thread and on 2"))
    assert "machine: " in lines[start]
    rows = {line.split("  ")[0]: line.split() for line in lines[start + 3 : start + 5]}
    assert set(rows) == {"CNN train, batch 64", "GPT train step, batch 12x64"}
    for cells in rows.values():
        assert "glassnet" in cells and cells[-1].endswith("x") and float(cells[-1][:-1]) > 0
