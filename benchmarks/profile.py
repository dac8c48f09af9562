"""Where glassnet's training time goes: per-layer timings, then cProfile's top functions.

    python -m benchmarks.profile --workload cnn [--steps 50] [--top 25] [--synthetic]
    python -m benchmarks.profile --workload cnn --framework torch    # the same steps in PyTorch

Trains the benchmark's model (``mlp`` or ``cnn``) through ``fit`` for a few steps after a
warm-up, with the same thread limits as ``benchmarks.run``, and prints

1. a table of forward and backward time per layer (milliseconds per step, share of
   the step, and GFLOP/s of the layers that do products; backward counts twice the
   forward FLOPs, once where the layer skipped dx), plus the loss, the optimizer and
   the rest of ``fit``'s loop;
2. cProfile's functions sorted by their own time (``--sort cumulative`` for inclusive).

With ``--framework torch`` it prints PyTorch's own profiler table (operators by self
CPU time) for the same model and steps, to see which operators glassnet trails on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.worker import thread_env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.profile", description="Profile a few glassnet training steps."
    )
    p.add_argument("--workload", choices=("mlp", "cnn"), default="cnn")
    p.add_argument("--framework", choices=("glassnet", "torch"), default="glassnet")
    p.add_argument("--steps", type=int, default=50, help="training steps timed and profiled (default 50)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the benchmark's (128 for mlp, 64 for cnn)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    p.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    p.add_argument("--synthetic", action="store_true", help="random data instead of the Fashion-MNIST files")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be at least 1. Received: {args.steps}")
    return args


class _Timer:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn: Callable[..., Any], module: Any = None) -> None:
        self.fn, self.seconds, self.module = fn, 0.0, module
        self.skips_dx = False  # a backward that didn't compute dx (a first layer, during fit)

    def __call__(self, *a: Any) -> Any:
        if self.module is not None:
            self.skips_dx = not getattr(self.module, "input_grad", True)
        t0 = time.perf_counter()
        out = self.fn(*a)
        self.seconds += time.perf_counter() - t0
        return out


def layer_table(
    model: Any, loss: Any, optimizer: Any, fit: Callable[[], Any], spec: Any, input_shape: Any, bs: int, steps: int
) -> str:
    """Time each layer's forward and backward during ``fit()`` by wrapping them on the instances."""
    from benchmarks.common import layer_flops

    timers: list[tuple[str, _Timer, _Timer]] = []
    for i, (layer, layer_spec) in enumerate(zip(model.layers, spec, strict=True)):
        forward, backward = _Timer(layer.forward), _Timer(layer.backward, layer)
        layer.forward, layer.backward = forward, backward  # instance attributes shadow the methods
        sizes = ", ".join(str(a) for a in layer_spec[1:])
        timers.append((f"{i} {type(layer).__name__}({sizes})", forward, backward))
    loss_fwd, loss_bwd, step = _Timer(loss.forward), _Timer(loss.backward), _Timer(optimizer.step)
    loss.forward, loss.backward, optimizer.step = loss_fwd, loss_bwd, step
    try:
        t0 = time.perf_counter()
        fit()
        total = time.perf_counter() - t0
    finally:
        for layer in model.layers:
            del layer.forward, layer.backward
        del loss.forward, loss.backward, optimizer.step

    flops = layer_flops(spec, input_shape)
    rows = []
    for (name, fwd, bwd), f in zip(timers, flops, strict=True):
        fwd_rate = f"{f * bs * steps / fwd.seconds / 1e9:.1f}" if f else ""
        # backward = dW and dx, each as costly as forward; dW only where the layer skipped dx
        bwd_flops = (1 if bwd.skips_dx else 2) * f
        bwd_rate = f"{bwd_flops * bs * steps / bwd.seconds / 1e9:.1f}" if f else ""
        rows.append((name, fwd.seconds, bwd.seconds, fwd_rate, bwd_rate))
    rows.append(("loss (forward, backward)", loss_fwd.seconds, loss_bwd.seconds, "", ""))
    rows.append(("optimizer.step", step.seconds, 0.0, "", ""))
    accounted = sum(r[1] + r[2] for r in rows)
    rows.append(("rest of fit (shuffle, batch copy, zero_grad)", total - accounted, 0.0, "", ""))

    width = max(len(r[0]) for r in rows)
    ms = 1e3 / steps
    out = [
        f"{'layer':<{width}}  {'fwd ms':>7}  {'bwd ms':>7}  {'share':>6}  {'fwd GFLOP/s':>11}  {'bwd GFLOP/s':>11}",
    ]
    for name, f, b, fr, br in rows:
        out.append(f"{name:<{width}}  {f * ms:7.2f}  {b * ms:7.2f}  {100 * (f + b) / total:5.1f}%  {fr:>11}  {br:>11}")
    out.append(f"{'total per step':<{width}}  {total * ms:7.2f} ms  ({bs * steps / total:,.0f} samples/s)")
    return "\n".join(out)


def profile_torch(args: argparse.Namespace, x: Any, y: Any, bs: int) -> None:
    """PyTorch's profiler over the same steps: operators by self CPU time."""
    import torch
    from torch.nn import functional
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.common import SPECS, torch_model

    torch.set_num_threads(args.threads)
    model = torch_model(SPECS[args.workload], seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)

    def steps(count: int) -> float:
        t0 = time.perf_counter()
        for start in range(0, count * bs, bs):
            loss = functional.cross_entropy(model(x_t[start : start + bs]), y_t[start : start + bs])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - t0

    steps(min(5, args.steps))  # warm-up
    seconds = steps(args.steps)
    print(f"PyTorch {args.workload}, batch {bs}, {args.steps} steps, {args.threads} threads")
    print(f"total per step {1e3 * seconds / args.steps:.2f} ms  ({bs * args.steps / seconds:,.0f} samples/s)")
    print()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        steps(args.steps)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(thread_env(args.threads))  # before NumPy is imported
    import cProfile
    import pstats

    from threadpoolctl import threadpool_limits

    import glassnet as gn
    from benchmarks.common import INPUT_SHAPES, SPECS, glassnet_model, load_data

    _limits = threadpool_limits(limits=args.threads)  # kept alive for the whole run
    gn.set_num_threads(args.threads)  # glassnet's threads and its BLAS pool
    bs = args.batch_size or {"mlp": 128, "cnn": 64}[args.workload]
    spec = SPECS[args.workload]
    n = bs * args.steps
    x, y, _, _ = load_data(args.workload, synthetic=args.synthetic, limit=n, test_limit=1)
    if len(x) < n:
        raise SystemExit(f"--steps {args.steps} x batch {bs} needs {n} samples; the data has {len(x)}")
    if args.framework == "torch":
        profile_torch(args, x, y, bs)
        return 0
    model = glassnet_model(spec, seed=0)
    loss = gn.CrossEntropyLoss()
    optimizer = gn.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def fit(samples: int = n) -> Any:
        return model.fit(
            x[:samples], y[:samples], loss=loss, optimizer=optimizer, epochs=1, batch_size=bs, seed=0, verbose=0
        )

    fit(min(n, 5 * bs))  # warm-up: workspaces, thread pools, caches
    print(f"glassnet {args.workload}, batch {bs}, {args.steps} steps, {args.threads} threads")
    print()
    print(layer_table(model, loss, optimizer, fit, spec, INPUT_SHAPES[args.workload], bs, args.steps))
    print()
    profiler = cProfile.Profile()
    profiler.runcall(fit)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
