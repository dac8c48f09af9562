"""The ``gpt2`` workload: GPT-2 124M's shapes, glassnet (NumPy) against transformers + PyTorch on the CPU.

    python -m benchmarks.gpt2                # 3 interleaved repeats: 128 generated tokens, 5 timed steps
    python -m benchmarks.gpt2 --quick        # one repeat, 32 tokens, 2 steps (a few minutes)
    python -m benchmarks.gpt2 --tiny         # a 2-layer, 64-wide model: a smoke test, not a measurement
    python -m benchmarks.run --workloads gpt2

The weights need not be real for speed: the benchmark builds a random GPT-2 of
124M's shapes (12 layers, 12 heads, 768 wide, vocabulary 50257, context 1024)
with transformers and saves it (config.json + model.safetensors) into a
temporary folder. Each (framework, repeat) then runs in a fresh process with
every thread pool capped at ``--threads``, and

* loads the folder (glassnet: ``glassnet.models.gpt2.load_pretrained``; PyTorch:
  ``GPT2LMHeadModel.from_pretrained``), timed;
* generates ``--gen-length`` tokens greedily after an 8-token prompt (after a 2-token
  warm-up), with the key/value cache (transformers' ``generate(do_sample=False)``), in tokens/s;
* takes ``--warmup`` then ``--steps`` timed fine-tuning steps on a fixed batch of
  4 x 128 tokens: forward, cross-entropy, backward, AdamW (weight decay on matrices); glassnet's as
  ``finetune`` takes it (``train_step``, the batch split over its threads);
* reports the median step, tokens/s, peak RSS of the process and what fine-tuning added.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {
    "124M": {"n_layer": 12, "n_head": 12, "n_embd": 768, "vocab_size": 50257, "n_positions": 1024},
    "tiny": {"n_layer": 2, "n_head": 2, "n_embd": 64, "vocab_size": 1000, "n_positions": 256},
}
BATCH, CONTEXT, PROMPT = 4, 128, 8


def build_checkpoint(folder: Path, size: str) -> None:
    """A random GPT-2 of the given shapes, saved by transformers (dropout off, as the fine-tuning steps run)."""
    import torch
    import transformers

    torch.manual_seed(0)
    shape = SHAPES[size]
    config = transformers.GPT2Config(
        **shape,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=shape["vocab_size"] - 1,
        eos_token_id=shape["vocab_size"] - 1,
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)


def _batch(vocab: int) -> Any:
    import numpy as np

    return np.random.default_rng(0).integers(0, vocab, (BATCH, CONTEXT + 1))


def glassnet_worker(args: argparse.Namespace) -> dict[str, Any]:

    from benchmarks import common
    from glassnet.losses import CrossEntropyLoss
    from glassnet.models import gpt2, gpt_param_groups
    from glassnet.module import pack_gradients
    from glassnet.optim import AdamW
    from glassnet.training import replicas_for, train_step

    t0 = time.perf_counter()
    model = gpt2.load_pretrained(args.folder)
    load_s = time.perf_counter() - t0
    prompt = _batch(model.vocab_size)[:1, :PROMPT]
    gpt2.generate_ids(model, prompt, 2, top_k=1)  # warm-up, as for PyTorch
    t0 = time.perf_counter()
    gpt2.generate_ids(model, prompt, args.gen_length, top_k=1)
    gen_s = time.perf_counter() - t0
    ids = _batch(model.vocab_size)
    opt = AdamW(gpt_param_groups(model, 0.1), lr=1e-4, betas=(0.9, 0.95))
    loss = CrossEntropyLoss()
    grads = pack_gradients(model.parameters())
    model.train()
    model.set_input_grad(False)
    rss_before = common.rss_now_mib()
    common.reset_peak_rss()
    times, last = [], 0.0
    replicas = replicas_for(model, loss, grads)  # as finetune: the batch split over glassnet's threads
    for _ in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        last = train_step(model, loss, opt, ids[:, :-1], ids[:, 1:], replicas=replicas)
        times.append(time.perf_counter() - t0)
    increment = (common.peak_since_reset_mib() or 0.0) - (rss_before or 0.0)
    return {"load_s": load_s, "gen_s": gen_s, "times": times[args.warmup :], "loss": last, "increment_mib": increment}


def torch_worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers

    from benchmarks import common

    t0 = time.perf_counter()
    model = transformers.GPT2LMHeadModel.from_pretrained(args.folder, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0
    vocab = model.config.vocab_size
    prompt = torch.from_numpy(_batch(vocab)[:1, :PROMPT])

    def generate(length: int) -> None:
        with torch.no_grad():
            model.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=length,
                min_new_tokens=length,
                do_sample=False,
                pad_token_id=vocab - 1,
            )

    generate(2)  # warm-up: the first call sets up the generation machinery
    t0 = time.perf_counter()
    generate(args.gen_length)
    gen_s = time.perf_counter() - t0
    ids = torch.from_numpy(_batch(vocab))
    decay = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}], lr=1e-4, betas=(0.9, 0.95)
    )
    model.train()
    rss_before = common.rss_now_mib()
    common.reset_peak_rss()
    times, last = [], 0.0
    for _ in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        logits = model(ids[:, :-1]).logits
        value = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        last = value.item()
        times.append(time.perf_counter() - t0)
    increment = (common.peak_since_reset_mib() or 0.0) - (rss_before or 0.0)
    return {"load_s": load_s, "gen_s": gen_s, "times": times[args.warmup :], "loss": last, "increment_mib": increment}


def worker(args: argparse.Namespace) -> int:
    from benchmarks import common
    from benchmarks.worker import import_framework

    info, _handle = import_framework(args.worker, args.threads)
    out = (glassnet_worker if args.worker == "glassnet" else torch_worker)(args)
    out.update(info=info, peak_rss_mib=common.peak_rss_mib())
    print(json.dumps(out), flush=True)
    return 0


def measure(args: argparse.Namespace, frameworks: list[str], folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every (repeat, framework) process, interleaved; their JSON results by framework."""
    from benchmarks.worker import thread_env

    results: dict[str, list[dict[str, Any]]] = {fw: [] for fw in frameworks}
    for r in range(args.repeats):
        for fw in frameworks:
            cmd = [sys.executable, "-m", "benchmarks.gpt2", "--worker", fw, "--folder", str(folder)]
            cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--gen-length", str(args.gen_length)]
            cmd += ["--threads", str(args.threads)]
            print(f"[gpt2] repeat {r + 1}: {fw} ...", end=" ", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, env=thread_env(args.threads), capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            print(f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
            if done.returncode != 0 or not lines:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise SystemExit(f"the {fw} gpt2 worker failed: {tail}")
            results[fw].append(json.loads(lines[-1]))
    return results


def format_table(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    name = {"glassnet": "glassnet", "torch": "PyTorch"}
    lines = [
        f"gpt2: random GPT-2 of {args.size} shapes, {args.threads} threads, median of {args.repeats} process(es); "
        f"{args.gen_length} tokens generated greedily with the cache; fine-tuning step on {BATCH} x {CONTEXT} tokens "
        f"({args.steps} timed after {args.warmup})",
        "",
        f"{'framework':<10} {'load s':>7} {'gen tok/s':>10} {'ratio':>6} {'step s':>8} {'ratio':>6} "
        f"{'peak RSS MiB':>13} {'+step MiB':>10}",
    ]
    med: dict[str, dict[str, float]] = {}
    for fw, runs in results.items():
        med[fw] = {
            "load": statistics.median(r["load_s"] for r in runs),
            "gen": statistics.median(args.gen_length / r["gen_s"] for r in runs),
            "step": statistics.median(statistics.median(r["times"]) for r in runs),
            "peak": statistics.median(r["peak_rss_mib"] for r in runs),
            "inc": statistics.median(r["increment_mib"] for r in runs),
        }
    ref = med.get("torch")
    for fw, m in med.items():
        gratio = f"{ref['gen'] / m['gen']:.2f}" if ref else "-"
        sratio = f"{m['step'] / ref['step']:.2f}" if ref else "-"
        lines.append(
            f"{name[fw]:<10} {m['load']:>7.3f} {m['gen']:>10.1f} {gratio:>6} {m['step']:>8.3f} {sratio:>6} "
            f"{m['peak']:>13.0f} {m['inc']:>10.0f}"
        )
    lines.append("ratios are glassnet time / PyTorch time (generation: PyTorch tokens/s / glassnet tokens/s)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpt2", description=__doc__.splitlines()[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="one repeat, 32 tokens, 2 timed steps")
    size.add_argument("--tiny", action="store_true", help="a 2-layer, 64-wide model: a smoke test, not a measurement")
    p.add_argument("--steps", type=int, help="timed fine-tuning steps per process (default 5)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default 1)")
    p.add_argument("--gen-length", type=int, help="tokens generated (default 128)")
    p.add_argument("--repeats", type=int, help="processes per framework, interleaved (default 3)")
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    p.add_argument("--frameworks", default="glassnet,torch", help="comma-separated (default glassnet,torch)")
    p.add_argument("--json", metavar="PATH", help="also write every process's measurements as JSON")
    p.add_argument("--worker", choices=("glassnet", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--folder", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    preset = (
        {"steps": 2, "warmup": 1, "gen_length": 16, "repeats": 1}
        if args.tiny
        else {"steps": 2, "warmup": 1, "gen_length": 32, "repeats": 1}
        if args.quick
        else {"steps": 5, "warmup": 1, "gen_length": 128, "repeats": 3}
    )
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.size = "tiny" if args.tiny else "124M"
    for key in ("steps", "gen_length", "repeats", "threads"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        p.error("--warmup must be at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    import importlib.util

    frameworks = [fw for fw in args.frameworks.split(",") if importlib.util.find_spec(fw) is not None]
    if importlib.util.find_spec("transformers") is None:
        raise SystemExit('the gpt2 benchmark builds its checkpoint with transformers: pip install "glassnet[bench]"')
    with tempfile.TemporaryDirectory(prefix="glassnet-gpt2-") as tmp:
        t0 = time.perf_counter()
        build_checkpoint(Path(tmp), args.size)
        size_mib = os.path.getsize(Path(tmp) / "model.safetensors") / 2**20
        print(
            f"[gpt2] built and saved the checkpoint ({size_mib:.0f} MiB) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        results = measure(args, frameworks, Path(tmp))
    if args.json:
        Path(args.json).write_text(json.dumps({"config": vars(args), "results": results}, indent=1))
    print(format_table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
