"""Train the same models with glassnet, PyTorch and scikit-learn on the CPU, and print one table.

    python -m benchmarks.run                 # the full run (a few minutes on 2 idle cores)
    python -m benchmarks.run --quick         # one repeat on subsets (about 2 minutes)
    python -m benchmarks.run --tiny          # a smoke test (seconds), not a measurement

Each (framework, workload, repeat) runs in a process of its own (``benchmarks.worker``),
the frameworks interleaved, and the table shows medians over the repeats. See
benchmarks/README.md for the protocol and the meaning of each column.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.worker import SUPPORTED, thread_env

ROOT = Path(__file__).resolve().parent.parent
ALL_FRAMEWORKS = ("glassnet", "torch", "sklearn")
ALL_WORKLOADS = ("tutorial", "mlp", "cnn", "mlp-predict", "cnn-predict", "lstm", "lstm-generate")
SEQUENCE_WORKLOADS = ("lstm", "lstm-generate")  # benchmarks/lstm.py; timed per step / per generated text: never scaled
# Language-model workloads, each run by its own module with its own table (gpt2: opt-in, --workloads gpt2).
TEXT_WORKLOADS = {"gpt": "benchmarks.gpt", "gpt2": "benchmarks.gpt2"}
DEFAULT_WORKLOADS = (*ALL_WORKLOADS, "gpt")
# The scaling table: each library on one thread and on --threads, for the training workloads that have a PyTorch twin.
SCALING_WORKLOADS = ("mlp", "cnn", "lstm", "gpt")
NAMES = {"glassnet": "glassnet", "torch": "PyTorch", "sklearn": "scikit-learn", "numpy": "NumPy loop"}
REFERENCE = {"tutorial": "numpy"}  # every other workload is compared with PyTorch
# the project's targets for glassnet's time / the reference's time
TARGETS = {"tutorial": 1.5, "mlp": 0.8, "cnn": 1.0, "mlp-predict": 0.8, "cnn-predict": 0.8}
EPOCH = 60_000  # training samples in a Fashion-MNIST epoch
TEST_SET = 10_000

PRESETS: dict[str, dict[str, Any]] = {
    "full": dict(
        gen_length=500,
        steps=200,
        repeats=3,
        limit=None,
        cnn_limit=20_000,
        test_limit=None,
        tutorial_repeats=15,
        gemm_size=2048,
        passes=3,
        warmup_batches=10,
        torch_gemm=True,
        group=False,
        scaling=True,
    ),
    "quick": dict(
        gen_length=500,
        steps=50,
        repeats=1,
        limit=20_000,
        cnn_limit=3_000,
        test_limit=None,
        tutorial_repeats=7,
        gemm_size=2048,
        passes=3,
        warmup_batches=5,
        torch_gemm=True,
        group=False,
        scaling=False,
    ),
    "tiny": dict(
        gen_length=20,
        steps=2,
        repeats=1,
        limit=512,
        cnn_limit=256,
        test_limit=500,
        tutorial_repeats=1,
        gemm_size=256,
        passes=1,
        warmup_batches=1,
        torch_gemm=False,
        group=True,
        scaling=False,
    ),
}


def _all_cores() -> int:
    """The cores this process may run on (its CPU affinity), as glassnet's default thread count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="glassnet against PyTorch and scikit-learn on the CPU: one table, medians over interleaved runs.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="one repeat on subsets (about 2 minutes)")
    size.add_argument(
        "--tiny", action="store_true", help="a few hundred samples, one repeat: a smoke test, not a measurement"
    )
    p.add_argument(
        "--frameworks",
        default=",".join(ALL_FRAMEWORKS),
        help="comma-separated subset of %(default)s; missing packages are skipped",
    )
    p.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS), help="comma-separated subset of %(default)s")
    p.add_argument(
        "--repeats", type=int, help="processes per framework and workload; the table shows medians (default 3)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=_all_cores(),
        help="threads for every library (default: the cores this process may use, here %(default)s)",
    )
    p.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        help="also run glassnet and PyTorch on 1 thread and on --threads, and print each one's speed-up "
        f"(for {', '.join(SCALING_WORKLOADS)} among --workloads; on by default in the full run)",
    )
    p.add_argument("--limit", type=int, help="MLP training samples (default: all 60,000)")
    p.add_argument("--cnn-limit", type=int, help="CNN training samples (default 20,000; 60000 for a whole epoch)")
    p.add_argument("--test-limit", type=int, help="test images for the predict workloads (default: all 10,000)")
    p.add_argument("--tutorial-repeats", type=int, help="tutorial runs per implementation, alternating (default 15)")
    p.add_argument(
        "--synthetic", action="store_true", help="random data of Fashion-MNIST's shapes instead of the files"
    )
    p.add_argument("--steps", type=int, help="timed training steps of the lstm workload (default 200)")
    p.add_argument("--gen-length", type=int, help="characters per timed generation, lstm-generate (default 500)")
    p.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed to one worker process")
    p.add_argument(
        "--group",
        action=argparse.BooleanOptionalAction,
        help="one process per framework for all its workloads (faster, the --tiny default; "
        "peak RSS and process time then cover them all)",
    )
    args = p.parse_args(argv)
    preset = PRESETS["tiny" if args.tiny else "quick" if args.quick else "full"]
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.frameworks = _pick(args.frameworks, ALL_FRAMEWORKS, "frameworks", p)
    args.workloads = _pick(args.workloads, ALL_WORKLOADS + tuple(TEXT_WORKLOADS), "workloads", p)
    for name in ("repeats", "threads", "tutorial_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1. Received: {getattr(args, name)}")
    return args


def _pick(text: str, allowed: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        parser.error(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    return names


def installed(framework: str) -> bool:
    module = {"glassnet": "glassnet", "torch": "torch", "sklearn": "sklearn"}[framework]
    return importlib.util.find_spec(module) is not None


# -- running the workers ------------------------------------------------------------------------


def worker_command(args: argparse.Namespace, framework: str, workloads: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.worker", "--framework", framework, "--workload", ",".join(workloads)]
    cmd += ["--threads", str(args.threads), "--passes", str(args.passes), "--warmup-batches", str(args.warmup_batches)]
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    if args.cnn_limit is not None:
        cmd += ["--cnn-limit", str(args.cnn_limit)]
    if args.test_limit is not None:
        cmd += ["--test-limit", str(args.test_limit)]
    cmd += ["--tutorial-repeats", str(args.tutorial_repeats), "--gemm-size", str(args.gemm_size)]
    cmd += ["--steps", str(args.steps), "--gen-length", str(args.gen_length)]
    if args.synthetic:
        cmd.append("--synthetic")
    return cmd


def run_worker(args: argparse.Namespace, framework: str, workloads: list[str]) -> dict[str, Any]:
    """Run one worker process; its JSON, plus the wall time of the whole process."""
    cmd = worker_command(args, framework, workloads)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, env=thread_env(args.threads), capture_output=True, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {
            "results": [],
            "error": f"timed out after {args.timeout:.0f} s",
            "crashed": True,
            "wall_s": args.timeout,
        }
    wall = time.perf_counter() - t0
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"results": [], "error": f"exit code {done.returncode}: {tail}", "crashed": True, "wall_s": wall}
    out: dict[str, Any] = json.loads(lines[-1])
    out["wall_s"] = wall
    if done.returncode != 0:
        out["crashed"] = True
    return out


def plan(args: argparse.Namespace, frameworks: list[str]) -> list[tuple[int, str, list[str]]]:
    """(repeat, framework, workloads) in running order: frameworks interleaved within every repeat.

    One workload per process, unless ``--group`` puts each framework's workloads in one process.
    """
    steps: list[tuple[int, str, list[str]]] = []
    for r in range(args.repeats):
        steps.append((r, "numpy", ["gemm"]))
        if "torch" in frameworks and args.torch_gemm:
            steps.append((r, "torch", ["gemm"]))
        # the tutorial: many alternating repeats inside one process, so once
        workloads = [w for w in args.workloads if w != "tutorial" or r == 0]
        if args.group:
            steps += [(r, fw, [w for w in workloads if fw in SUPPORTED[w]]) for fw in frameworks]
        else:
            steps += [(r, fw, [w]) for w in workloads for fw in frameworks if fw in SUPPORTED[w]]
    return [step for step in steps if step[2]]


# -- the table ----------------------------------------------------------------------------------


def forward_flops(workload: str) -> int:
    from benchmarks.common import INPUT_SHAPES, SPECS
    from benchmarks.common import forward_flops as count

    if workload in SEQUENCE_WORKLOADS:
        from benchmarks.lstm import forward_flops as sequence_flops

        return sequence_flops(workload)
    family = workload.split("-")[0]
    return count(SPECS[family], INPUT_SHAPES[family])


def summarise(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Medians per (workload, framework) and the derived columns."""
    groups: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    errors: list[str] = []
    for run in runs:
        if run.get("error"):
            errors.append(f"{NAMES.get(run['framework'], run['framework'])} {run['workload']}: {run['error']}")
            for workload in run["workload"].split(","):
                groups.setdefault((workload, run["framework"]), [])
        for record in run["results"]:
            groups.setdefault((record["workload"], record["framework"]), []).append((record, run))

    gemm: dict[str, float] = {}
    for fw in ("numpy", "torch"):
        best = [r["flops"] / min(r["times"]) / 1e9 for r, _ in groups.pop(("gemm", fw), [])]
        if best:
            gemm[fw] = statistics.median(best)
    ceiling = gemm.get("numpy")

    rows: list[dict[str, Any]] = []
    for workload in args.workloads:
        order = ("numpy", "glassnet") if workload == "tutorial" else ("torch", "glassnet", "sklearn")
        for fw in order:
            if (workload, fw) not in groups:
                continue
            entries = groups[(workload, fw)]
            row: dict[str, Any] = {"workload": workload, "framework": fw}
            if not entries:
                row["error"] = True
                rows.append(row)
                continue
            per_run = [r["seconds"] for r, _ in entries]
            times = per_run if len(per_run) > 1 else entries[0][0]["times"]
            seconds = statistics.median(per_run)
            samples = entries[0][0]["samples"]
            row.update(
                seconds=seconds,
                best_seconds=min(times),
                samples=samples,
                spread=(max(times) - min(times)) / statistics.median(times) if len(times) > 1 else None,
                samples_per_s=samples / seconds,
                runs=len(entries),
            )
            passes = 1 if workload.endswith(("predict", "generate")) else 3  # forward + backward ≈ 3 forward passes
            row["gflops"] = passes * forward_flops(workload) * row["samples_per_s"] / 1e9
            row["of_ceiling"] = row["gflops"] / ceiling if ceiling else None
            processes = [run for _, run in entries if run.get("process")]
            if workload == "tutorial":
                row["scaled_seconds"] = seconds
            else:
                full = TEST_SET if workload.endswith("predict") else EPOCH
                full = samples if workload in SEQUENCE_WORKLOADS else full
                row["scaled_seconds"] = seconds * full / samples
                row["scaled"] = samples != full
                row["peak_rss_mib"] = statistics.median(p["process"]["peak_rss_mib"] for p in processes)
                row["increment_mib"] = statistics.median(r["increment_mib"] for r, _ in entries)
                row["process_s"] = statistics.median(p["wall_s"] for p in processes)
            if workload == "tutorial" and fw == "glassnet":
                run = processes[0]
                row.update(peak_rss_mib=run["process"]["peak_rss_mib"], process_s=run["wall_s"])
                row["max_abs_diff"] = entries[0][0].get("max_abs_diff")
            if "loss" in entries[0][0]:
                row["loss"] = statistics.median(r["loss"] for r, _ in entries)
            rows.append(row)
    by_key = {(r["workload"], r["framework"]): r for r in rows}
    for row in rows:
        ref = by_key.get((row["workload"], REFERENCE.get(row["workload"], "torch")))
        if ref and "seconds" in row and "seconds" in ref:
            row["ratio"] = (row["seconds"] / row["samples"]) / (ref["seconds"] / ref["samples"])
            row["best_ratio"] = (row["best_seconds"] / row["samples"]) / (ref["best_seconds"] / ref["samples"])
    return {"rows": rows, "gemm": gemm, "errors": errors}


LABELS = {
    "tutorial": "tutorial 3-4-1, 1,500 it",
    "mlp": "MLP train, batch 128",
    "cnn": "CNN train, batch 64",
    "mlp-predict": "MLP predict, batch 1000",
    "cnn-predict": "CNN predict, batch 1000",
    "lstm": "LSTM train step, batch 32x64",
    "lstm-generate": "LSTM generate text",
}


def _fmt(value: Any, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def format_table(summary: dict[str, Any], args: argparse.Namespace, data: str) -> str:
    headers = [
        "workload",
        "framework",
        "seconds",
        "±",
        "samples/s",
        "ratio",
        "GFLOP/s",
        "% sgemm",
        "peak RSS MiB",
        "+train MiB",
        "process s",
    ]
    lines_out = []
    table = []
    for row in summary["rows"]:
        cells = [LABELS[row["workload"]], NAMES[row["framework"]]]
        if row.get("error"):
            table.append([*cells, "n/a", "", "", "", "", "", "", "", ""])
            continue
        star = "*" if row.get("scaled") else ""
        cells += [
            f"{row['scaled_seconds']:.3f}{star}",
            _fmt(row["spread"] and 100 * row["spread"] / 2, ".0f") + ("%" if row["spread"] is not None else ""),
            f"{row['samples_per_s']:,.0f}",
            _fmt(row.get("ratio"), ".2f"),
            f"{row['gflops']:.3f}" if row["gflops"] < 1 else f"{row['gflops']:.1f}",
            _fmt(row["of_ceiling"] and 100 * row["of_ceiling"], ".1f"),
            _fmt(row.get("peak_rss_mib"), ".0f"),
            _fmt(row.get("increment_mib"), ".0f"),
            _fmt(row.get("process_s"), ".1f"),
        ]
        table.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(headers)]
    left = {0, 1}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    gemm = summary["gemm"]
    lines_out.append(
        f"{data}, float32 (tutorial: float64), {args.threads} threads per library, "
        f"median of {args.repeats} interleaved run{'s' if args.repeats > 1 else ''} per row"
    )
    if "machine" in summary:
        lines_out.append(machine_line(summary["machine"]))
    if args.group:
        lines_out.append("(--group: one process per framework, so peak RSS and process s cover all of its workloads)")
    lines_out.append("")
    lines_out.append(line(headers))
    lines_out.append(line(["-" * w for w in widths]))
    previous = None
    for row, cells in zip(summary["rows"], table, strict=True):
        if previous is not None and row["workload"] != previous:
            lines_out.append("")
        previous = row["workload"]
        lines_out.append(line(cells))
    lines_out.append("")
    if "numpy" in gemm:
        extra = f"; PyTorch torch.mm: {gemm['torch']:.1f} GFLOP/s" if "torch" in gemm else ""
        lines_out.append(
            f"NumPy float32 matrix product ({args.gemm_size}x{args.gemm_size}, {args.threads} threads): {gemm['numpy']:.1f} GFLOP/s{extra}"
        )
    ratios = []
    for row in summary["rows"]:
        if row["framework"] == "glassnet" and row.get("ratio") is not None:
            ref = NAMES[REFERENCE.get(row["workload"], "torch")]
            goal = TARGETS.get(row["workload"])
            target = (
                "" if goal is None else f" (target <= {goal}: " + ("met" if row["ratio"] <= goal else "missed") + ")"
            )
            ratios.append(
                f"  {LABELS[row['workload']]}: glassnet / {ref} = {row['ratio']:.2f} "
                f"(fastest runs: {row['best_ratio']:.2f}){target}"
            )
    if ratios:
        lines_out.append("Time ratios of the medians (and of each side's fastest run), lower is better for glassnet:")
        lines_out += ratios
    scaled = sorted({(r["workload"], r["samples"]) for r in summary["rows"] if r.get("scaled")})
    for workload, n in scaled:
        full = TEST_SET if workload.endswith("predict") else EPOCH
        lines_out.append(f"* {LABELS[workload]}: measured on {n:,} samples, scaled to {full:,}")
    for error in summary["errors"]:
        lines_out.append(f"n/a: {error}")
    return "\n".join(lines_out)


# -- the scaling table ----------------------------------------------------------------------------


def text_flags(args: argparse.Namespace, frameworks: list[str], threads: int, repeats: int | None = None) -> list[str]:
    """The flags for a language-model module (benchmarks.gpt) at ``threads`` threads."""
    flags = ["--threads", str(threads), "--repeats", str(args.repeats if repeats is None else repeats)]
    flags += ["--frameworks", ",".join(fw for fw in frameworks if fw != "sklearn")]
    if args.tiny:
        flags += ["--steps", "3", "--warmup", "1", "--gen-length", "20"]
    elif args.quick:
        flags += ["--steps", "100"]
    return flags


def measure_scaling(args: argparse.Namespace, frameworks: list[str], workloads: list[str]) -> dict[str, Any]:
    """Seconds per sample (per step for the GPT) of glassnet and PyTorch on 1 thread and on --threads.

    The thread counts alternate within each repeat, and each run is a fresh process.
    """
    import copy

    chosen = [fw for fw in ("glassnet", "torch") if fw in frameworks]
    counts = sorted({1, args.threads})
    times: dict[tuple[str, str, int], list[float]] = {}
    for r in range(args.repeats):
        for threads in counts if r % 2 == 0 else counts[::-1]:
            for workload in workloads:
                if workload in TEXT_WORKLOADS:
                    module = importlib.import_module(TEXT_WORKLOADS[workload])
                    sub = module.parse_args(text_flags(args, chosen, threads, repeats=1))
                    for fw, runs in module.measure(sub, chosen).items():
                        for run in runs:
                            times.setdefault((workload, fw, threads), []).append(statistics.median(run["times"]))
                    continue
                sub = copy.copy(args)
                sub.threads = threads
                for fw in chosen:
                    if fw not in SUPPORTED[workload]:
                        continue
                    print(f"[scaling] repeat {r + 1}: {NAMES[fw]} {workload}, {threads} thread(s) ...", file=sys.stderr)
                    out = run_worker(sub, fw, [workload])
                    for record in out.get("results", []):
                        per_sample = record["seconds"] / record["samples"]
                        times.setdefault((workload, fw, threads), []).append(per_sample)
    return {"counts": counts, "times": times, "workloads": workloads, "frameworks": chosen}


def format_scaling(scaling: dict[str, Any], args: argparse.Namespace) -> str:
    counts, times = scaling["counts"], scaling["times"]
    many = counts[-1]
    lines = [
        f"Scaling: each library on 1 thread and on {many} (the cores this process may use: {_all_cores()}), "
        f"median of {args.repeats} interleaved process(es) per cell; machine: {cpu_model()}",
        "",
        f"{'workload':<30} {'framework':<10} {'1 thread':>12} {f'{many} threads':>12} {'speed-up':>9}",
    ]
    for workload in scaling["workloads"]:
        unit = "ms/step" if workload in TEXT_WORKLOADS else "us/sample"
        scale = 1e3 if workload in TEXT_WORKLOADS else 1e6
        label = "GPT train step, batch 12x64" if workload == "gpt" else LABELS[workload]
        for fw in scaling["frameworks"]:
            cells = [times.get((workload, fw, n)) for n in counts]
            if not all(cells):
                continue
            one, all_ = (statistics.median(c) for c in (cells[0], cells[-1]))  # type: ignore[arg-type]
            lines.append(
                f"{label:<30} {NAMES[fw]:<10} {scale * one:>8.1f} {unit[:2]:<3} {scale * all_:>8.1f} {unit[:2]:<3}"
                f" {one / all_:>8.2f}x"
            )
    lines.append(
        "(ms: milliseconds per training step; us: microseconds per training sample; speed-up = 1 thread / all)"
    )
    return "\n".join(lines)


def _load_average() -> float | None:
    """The 1-minute load average: above 0 before the run, something else was using the CPUs."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cpu_model() -> str:
    """The CPU's marketing name (Linux's /proc/cpuinfo; elsewhere what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_") and "THREADS" not in k},
    }


def machine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run measured on: the CPU, NumPy's BLAS and its kernel, PyTorch's SIMD level, as the workers saw them."""
    info: dict[str, Any] = environment()
    for run in runs:
        process = run.get("process", {})
        if run["framework"] in ("numpy", "glassnet") and "blas" in process:
            info.setdefault("numpy_blas", process["blas"])
            info.setdefault("numpy", process.get("numpy"))
        if run["framework"] == "torch":
            for key in ("torch", "torch_cpu_capability", "blas"):
                if key in process:
                    info.setdefault("torch_blas" if key == "blas" else key, process[key])
    return info


def machine_line(info: dict[str, Any]) -> str:
    parts = [f"{info['cpu_model']}, {info['cpus']} cores"]
    if info.get("numpy_blas"):
        parts.append(f"NumPy {info.get('numpy')} BLAS: {'; '.join(info['numpy_blas'])}")
    if info.get("torch_cpu_capability"):
        parts.append(f"PyTorch {info.get('torch')} CPU capability: {info['torch_cpu_capability']}")
    if info.get("openblas_env"):
        parts.append("environment: " + " ".join(f"{k}={v}" for k, v in sorted(info["openblas_env"].items())))
    return "machine: " + " | ".join(parts) + f" | Python {info['python']}"


def run_all(args: argparse.Namespace, steps: list[tuple[int, str, list[str]]]) -> list[dict[str, Any]]:
    """Run the steps one after the other; stop early when the data files are missing."""
    runs = []
    for i, (r, fw, workloads) in enumerate(steps, 1):
        name = "NumPy" if fw == "numpy" else NAMES[fw]
        print(
            f"[{i}/{len(steps)}] repeat {r + 1}: {name} {','.join(workloads)} ...",
            end=" ",
            file=sys.stderr,
            flush=True,
        )
        out = run_worker(args, fw, workloads)
        out.update(framework=fw, workload=",".join(workloads), repeat=r)
        runs.append(out)
        print(
            f"{out['wall_s']:.1f} s" + (f" ({out['error']})" if out.get("error") else ""), file=sys.stderr, flush=True
        )
        if str(out.get("error", "")).startswith("FileNotFoundError"):
            raise SystemExit(
                "Fashion-MNIST files not found (see glassnet.datasets.fashion_mnist for where they are looked for); "
                "pass --synthetic to benchmark on random data of the same shapes"
            )
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frameworks = [fw for fw in args.frameworks if installed(fw)]
    for fw in args.frameworks:
        if fw not in frameworks:
            print(f'skipping {NAMES[fw]}: not installed (pip install -e ".[bench]")', file=sys.stderr)
    if "glassnet" not in frameworks:
        print("glassnet is not importable: install it with pip install -e . from the repository root", file=sys.stderr)
        return 2
    text = [w for w in args.workloads if w in TEXT_WORKLOADS]
    scaling = [w for w in args.workloads if w in SCALING_WORKLOADS] if args.scaling else []
    args.workloads = [w for w in args.workloads if w not in TEXT_WORKLOADS]
    for workload in text:  # e.g. benchmarks.gpt: same threads and repeats, its own table
        module = importlib.import_module(TEXT_WORKLOADS[workload])
        if workload == "gpt2":  # GPT-2 124M: presets of its own
            flags = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
            flags += ["--frameworks", ",".join(fw for fw in frameworks if fw != "sklearn")]
            flags += ["--tiny"] if args.tiny else ["--quick"] if args.quick else []
            module.main(flags)
        else:
            module.main(text_flags(args, frameworks, args.threads))
        print()
    if scaling:
        print(format_scaling(measure_scaling(args, frameworks, scaling), args))
        print()
    if not args.workloads:
        return 0
    data = "synthetic data" if args.synthetic else "Fashion-MNIST"
    t_start = time.perf_counter()
    load_before = _load_average()
    runs = run_all(args, plan(args, frameworks))
    summary = summarise(runs, args)
    summary["load_average"] = [load_before, _load_average()]
    summary["machine"] = machine(runs)
    print(format_table(summary, args, data))
    print(f"\nwhole benchmark: {time.perf_counter() - t_start:.0f} s", end="")
    if load_before is not None:
        print(f"; load average (1 min) before and after: {load_before:.2f}, {summary['load_average'][1]:.2f}")
    else:
        print()
    if args.json:
        config = {k: v for k, v in vars(args).items() if k != "json"}
        payload = {"config": config, "data": data, "environment": summary["machine"], **summary, "runs": runs}
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 1 if any(run.get("crashed") for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
