"""The ``gpt`` workload: nanoGPT's Tiny Shakespeare CPU recipe, glassnet against plain PyTorch.

    python -m benchmarks.gpt                 # 3 interleaved repeats of 300 timed steps per framework
    python -m benchmarks.gpt --steps 30 --repeats 1 --warmup 5      # a quick look
    python -m benchmarks.run --workloads gpt                         # the same, from the main runner

Each (framework, repeat) runs in a fresh process with every thread pool capped
at ``--threads``. A process trains the same model with the same recipe (4
layers, 4 heads, 128 wide, context 64, batch 12; AdamW lr 1e-3 betas
(0.9, 0.99), weight decay 0.1 on matrices, clipping at 1.0, warm-up + cosine)
for ``--warmup`` untimed steps and ``--steps`` timed ones (each step: batch,
forward, loss, backward, clip, update, schedule), then generates
``--gen-length`` characters (temperature 0.8, top-k 40): glassnet
incrementally with its key/value cache, PyTorch as nanoGPT's ``generate``
does (the cropped context through the model for each character).
Reported: the median time of a step, the ratio glassnet / PyTorch, peak
RSS of the process and what training added to it, characters per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VOCAB, CONTEXT, BATCH = 65, 64, 12


def _data() -> tuple[Any, Any]:
    from glassnet.datasets import CharTokenizer, shakespeare, windows

    train, val = shakespeare()
    tok = CharTokenizer.from_text(train + val)
    return windows(tok.encode(train), CONTEXT), tok


def _lr(it: int, total: int) -> float:
    import math

    lr, min_lr, warmup = 1e-3, 1e-4, 100
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > total:
        return min_lr
    return min_lr + 0.5 * (1 + math.cos(math.pi * (it - warmup) / (total - warmup))) * (lr - min_lr)


def glassnet_worker(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    import glassnet as gn
    from benchmarks import common
    from glassnet.module import pack_gradients
    from glassnet.training import replicas_for, train_step

    view, _ = _data()
    total = args.warmup + args.steps
    model = gn.models.gpt(VOCAB, CONTEXT, rng=0)
    opt = gn.AdamW(gn.models.gpt_param_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.99))
    sched = gn.WarmupCosineLR(opt, warmup_steps=100, total_steps=max(total, 101), min_lr=1e-4)
    loss = gn.CrossEntropyLoss()
    params = model.parameters()
    grads = pack_gradients(params)  # as fit does: one array to zero and to sum over the ranks
    rng = np.random.default_rng(0)
    model.set_input_grad(False)
    dp = None
    if args.distributed:  # under mpirun: every rank draws the same batch and trains on its part of it
        from glassnet.distributed import DataParallel

        dp = DataParallel()
        dp.setup(model, BATCH, BATCH)
        lo, hi = dp.shard(0, BATCH)
    replicas = replicas_for(model, loss, grads) if dp is None else None
    rss_before = common.rss_now_mib()
    common.reset_peak_rss()
    times, last = [], 0.0
    for step in range(total):
        if step == args.warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        x, y = gn.datasets.random_batch(view, BATCH, rng)
        if dp is None:  # the language-model loop's step: the batch split over glassnet's threads
            last = train_step(model, loss, opt, x, y, clip=1.0, replicas=replicas)
        else:  # the rank's share of the global batch's mean loss, then the gradients summed over the ranks
            last = loss(model(x[lo:hi]), y[lo:hi])
            for g in grads:
                g.fill(0)
            model.backward(loss.backward() * ((hi - lo) / BATCH))
            dp.allreduce_gradients(grads)
            gn.clip_grad_norm(params, 1.0)
            opt.step()
        sched.step()
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / args.steps
    increment = (common.peak_since_reset_mib() or 0.0) - (rss_before or 0.0)
    t0 = time.perf_counter()
    model.generate(np.zeros((1, 1), dtype=np.int64), args.gen_length, temperature=0.8, top_k=40, rng=0)
    gen_s = time.perf_counter() - t0
    out = {"times": times[args.warmup :], "cpu_s": cpu, "loss": last, "gen_s": gen_s, "increment_mib": increment}
    if dp is not None:
        out.update(ranks=dp.size, comm_ms_per_step=1e3 * dp.comm_seconds / max(1, dp.steps))
    return out


def torch_worker(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from benchmarks import common
    from benchmarks.gpt_torch import TorchGPT
    from glassnet.datasets import random_batch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    view, _ = _data()
    total = args.warmup + args.steps
    model = TorchGPT(VOCAB, CONTEXT, 4, 4, 128)
    opt = torch.optim.AdamW(model.param_groups(0.1), lr=1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)
    rss_before = common.rss_now_mib()
    common.reset_peak_rss()
    times, last = [], 0.0
    for it in range(total):
        if it == args.warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = _lr(it, max(total, 101))
        x, y = random_batch(view, BATCH, rng)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        logits = model(xt)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, VOCAB), yt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = loss.item()
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / args.steps
    increment = (common.peak_since_reset_mib() or 0.0) - (rss_before or 0.0)
    model.eval()
    t0 = time.perf_counter()
    model.generate(torch.zeros((1, 1), dtype=torch.long), args.gen_length, temperature=0.8, top_k=40)
    gen_s = time.perf_counter() - t0
    return {"times": times[args.warmup :], "cpu_s": cpu, "loss": last, "gen_s": gen_s, "increment_mib": increment}


def worker(args: argparse.Namespace) -> int:
    from benchmarks.worker import import_framework

    os.environ.update({k: str(args.threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    info, _handle = import_framework(args.worker, args.threads)
    out = (glassnet_worker if args.worker == "glassnet" else torch_worker)(args)
    from benchmarks import common

    out.update(info=info, peak_rss_mib=common.peak_rss_mib())
    if not args.distributed or os.environ.get("OMPI_COMM_WORLD_RANK", "0") == "0":  # one rank reports
        print(json.dumps(out), flush=True)
    return 0


def measure(args: argparse.Namespace, frameworks: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Run every (repeat, framework) process, interleaved; their JSON results by framework."""
    from benchmarks.worker import thread_env

    results: dict[str, list[dict[str, Any]]] = {fw: [] for fw in frameworks}
    for r in range(args.repeats):
        for fw in frameworks:
            cmd = [sys.executable, "-m", "benchmarks.gpt", "--worker", fw]
            cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--gen-length", str(args.gen_length)]
            cmd += ["--threads", str(args.threads)]
            print(f"[gpt] repeat {r + 1}: {fw} ...", end=" ", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, env=thread_env(args.threads), capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            print(f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
            if done.returncode != 0 or not lines:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise SystemExit(f"the {fw} gpt worker failed: {tail}")
            results[fw].append(json.loads(lines[-1]))
    return results


def format_table(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    rows = []
    med: dict[str, dict[str, float]] = {}
    for fw, runs in results.items():
        step = statistics.median(statistics.median(r["times"]) for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        gen = statistics.median(args.gen_length / r["gen_s"] for r in runs)
        peak = statistics.median(r["peak_rss_mib"] for r in runs)
        inc = statistics.median(r["increment_mib"] for r in runs)
        med[fw] = {"step": step, "gen": gen, "cpu": cpu}
        rows.append((fw, step, cpu, gen, peak, inc))
    name = {"glassnet": "glassnet", "torch": "PyTorch"}
    lines = [
        f"gpt: nanoGPT's CPU recipe (4x4x128, context 64, batch 12), {args.threads} threads, "
        f"median of {args.repeats} process(es) x {args.steps} timed steps (after {args.warmup}); "
        f"generation of {args.gen_length} characters",
        "",
        f"{'framework':<10} {'ms/step':>8} {'ratio':>6} {'CPU ms/step':>12} {'ratio':>6} "
        f"{'gen chars/s':>12} {'ratio':>6} {'peak RSS MiB':>13} {'+train MiB':>11}",
    ]
    ref = med.get("torch")
    for fw, step, cpu, gen, peak, inc in rows:
        ratio = f"{step / ref['step']:.2f}" if ref else "-"
        cratio = f"{cpu / ref['cpu']:.2f}" if ref else "-"
        gratio = f"{ref['gen'] / gen:.2f}" if ref else "-"  # time ratio: lower is better for glassnet
        lines.append(
            f"{name[fw]:<10} {1000 * step:>8.1f} {ratio:>6} {1000 * cpu:>12.1f} {cratio:>6} "
            f"{gen:>12.0f} {gratio:>6} {peak:>13.0f} {inc:>11.0f}"
        )
    lines.append("ratios are glassnet time / PyTorch time (for generation: PyTorch chars/s / glassnet chars/s);")
    lines.append("CPU ms/step: the process's CPU time per step, all threads; on a busy machine steadier than wall time")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpt", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="timed training steps per process (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    p.add_argument("--gen-length", type=int, default=500, help="characters generated (default 500)")
    p.add_argument("--repeats", type=int, default=3, help="processes per framework, interleaved (default 3)")
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    p.add_argument("--frameworks", default="glassnet,torch", help="comma-separated (default glassnet,torch)")
    p.add_argument("--json", metavar="PATH", help="also write every process's measurements as JSON")
    p.add_argument("--worker", choices=("glassnet", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)  # benchmarks/distributed.py
    args = p.parse_args(argv)
    for name in ("steps", "gen_length", "repeats", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    import importlib.util

    frameworks = [fw for fw in args.frameworks.split(",") if importlib.util.find_spec(fw) is not None]
    results = measure(args, frameworks)
    if args.json:
        Path(args.json).write_text(json.dumps({"config": vars(args), "results": results}, indent=1))
    print(format_table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
