"""Data-parallel training over MPI against one process, and against PyTorch, on the same machine in one run.

    python -m benchmarks.distributed [--workloads mlp,cnn,gpt] [--repeats 3] [--limit 12800] [--json out.json]

Rows, each timed over one shuffled epoch of ``--limit`` Fashion-MNIST images (synthetic
data of the same shapes with --synthetic), or for ``gpt`` over ``--gpt-steps`` steps of nanoGPT's
CPU recipe (benchmarks/gpt.py), interleaved, medians of ``--repeats`` runs:
- glassnet, 1 process x 2 threads (NumPy's BLAS on both cores);
- glassnet, 1 process x 1 thread;
- glassnet, 2 ranks x 1 thread (``mpirun -n 2``, ``fit(distributed=True)``), with the time
  per step spent in the gradients' Allreduce (which includes waiting for the slower rank);
- PyTorch, 1 process x 2 threads.
Scaling efficiency = time(1 process x 1 thread) / (2 x time(2 ranks x 1 thread)): 1.0 is perfect.
Every process is a ``benchmarks.worker``; see benchmarks/README.md for the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.run import machine, machine_line
from benchmarks.worker import DEFAULT_BATCH, thread_env

ROOT = Path(__file__).resolve().parent.parent
ROWS = ("glassnet 1x2", "glassnet 1x1", "glassnet 2 ranks x1", "torch 1x2")
TITLES = {
    "glassnet 1x2": "glassnet, 1 process x 2 threads",
    "glassnet 1x1": "glassnet, 1 process x 1 thread",
    "glassnet 2 ranks x1": "glassnet, 2 ranks x 1 thread",
    "torch 1x2": "PyTorch, 1 process x 2 threads",
}


def _mpirun() -> list[str]:
    beside = Path(sys.executable).with_name("mpirun")
    cmd = [str(beside) if beside.exists() else "mpirun", "-n", "2"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def _command(row: str, workload: str, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    framework = "torch" if row.startswith("torch") else "glassnet"
    threads = 1 if "x1" in row else 2
    if workload == "gpt":
        worker = [sys.executable, "-m", "benchmarks.gpt", "--worker", framework, "--threads", str(threads)]
        worker += ["--steps", str(args.gpt_steps), "--warmup", "10", "--gen-length", "1"]
    else:
        worker = [sys.executable, "-m", "benchmarks.worker", "--framework", framework, "--workload", workload]
        worker += ["--threads", str(threads), "--limit", str(args.limit), "--seed", "0"]
    if args.synthetic and workload != "gpt":
        worker.append("--synthetic")
    env = thread_env(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    if "ranks" in row:
        return [*_mpirun(), *worker, "--distributed"], env
    return worker, env


def _one(row: str, workload: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd, env = _command(row, workload, args)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    out = json.loads(lines[-1])
    if out.get("error"):
        raise RuntimeError(f"{row} {workload}: {out['error']}")
    if workload == "gpt":  # benchmarks.gpt's own record: the time of each timed step
        return {**out, "seconds": sum(out["times"]), "process": out["info"]}
    return {**out["results"][0], "process": out["process"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="mlp,cnn")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--limit", type=int, default=12800, help="training images per timed epoch")
    p.add_argument("--gpt-steps", type=int, default=100, help="timed GPT training steps (batch 12, context 64)")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {w: {r: [] for r in ROWS} for w in workloads}
    for repeat in range(args.repeats):
        for workload in workloads:
            for row in ROWS:  # interleaved: load on the machine hits every row alike
                results[workload][row].append(_one(row, workload, args))
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    runs = [
        {"framework": "torch" if row.startswith("torch") else "glassnet", "process": r["process"]}
        for w in workloads
        for row in ROWS
        for r in results[w][row]
    ]
    info = machine(runs)
    print(machine_line(info) + (f" | load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""))

    table: list[dict[str, Any]] = []
    for workload in workloads:
        med = {row: statistics.median(r["seconds"] for r in results[workload][row]) for row in ROWS}
        comm = statistics.median(r["comm_ms_per_step"] for r in results[workload]["glassnet 2 ranks x1"])
        if workload == "gpt":
            steps = args.gpt_steps
            print(f"\ngpt: {steps} steps of nanoGPT's CPU recipe (batch 12, context 64), after 10 untimed")
        else:
            steps = -(-args.limit // DEFAULT_BATCH[workload])
            print(f"\n{workload}: one epoch of {args.limit:,} images, batch {DEFAULT_BATCH[workload]} ({steps} steps)")
        print(f"{'':36} {'seconds':>8} {'ms/step':>8} {'/ PyTorch':>9}")
        for row in ROWS:
            print(f"{TITLES[row]:36} {med[row]:8.3f} {1e3 * med[row] / steps:8.2f} {med[row] / med['torch 1x2']:9.2f}")
        efficiency = med["glassnet 1x1"] / (2 * med["glassnet 2 ranks x1"])
        speedup = med["glassnet 1x2"] / med["glassnet 2 ranks x1"]
        print(
            f"2 ranks vs 1 process x 2 threads: {speedup:.2f}x as fast; scaling efficiency {efficiency:.2f}; "
            f"Allreduce {comm:.2f} ms per step"
        )
        table.append(
            {"workload": workload, "steps": steps, "seconds": med, "efficiency": efficiency, "comm_ms_per_step": comm}
        )
    if args.json:
        summary = {"machine": info, "limit": args.limit, "repeats": args.repeats, "table": table}
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
