"""One benchmark process: one framework, one workload; prints one JSON line.

    python -m benchmarks.worker --framework glassnet --workload mlp [--limit N] [--synthetic]

One workload per process is the protocol; several (comma-separated) share one process,
which ``run.py --group`` uses for quick smoke tests.

Each framework runs in a process of its own because importing PyTorch changes the
process's thread pools. The thread limits are set before NumPy is imported. The
JSON line holds the timings of this process; ``benchmarks.run`` takes the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
import warnings
from typing import Any

from benchmarks.timing import timed_passes

FRAMEWORKS = ("glassnet", "torch", "sklearn", "numpy")
WORKLOADS = ("tutorial", "mlp", "cnn", "mlp-predict", "cnn-predict", "gemm", "lstm", "lstm-generate")
DEFAULT_BATCH = {"mlp": 128, "cnn": 64, "mlp-predict": 1000, "cnn-predict": 1000}
SUPPORTED = {
    "tutorial": ("glassnet",),  # glassnet's fit and the tutorial's NumPy loop, alternating in one process
    "gemm": ("numpy", "torch"),
    "mlp": ("glassnet", "torch", "sklearn"),
    "cnn": ("glassnet", "torch"),
    "mlp-predict": ("glassnet", "torch"),
    "cnn-predict": ("glassnet", "torch"),
    "lstm": ("glassnet", "torch"),  # benchmarks/lstm.py
    "lstm-generate": ("glassnet", "torch"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__.splitlines()[0])
    p.add_argument("--framework", choices=FRAMEWORKS, required=True)
    p.add_argument("--workload", required=True, help=f"one of {', '.join(WORKLOADS)}, or several, comma-separated")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="training samples (default: all 60,000)")
    p.add_argument("--cnn-limit", type=int, default=None, help="training samples for the CNN (default: --limit)")
    p.add_argument("--test-limit", type=int, default=None, help="test samples for predict (default: all 10,000)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--warmup-batches", type=int, default=10)
    p.add_argument("--passes", type=int, default=5, help="timed passes for predict and gemm")
    p.add_argument("--tutorial-repeats", type=int, default=15)
    p.add_argument("--tutorial-iterations", type=int, default=1500)
    p.add_argument("--gemm-size", type=int, default=2048)
    p.add_argument("--synthetic", action="store_true", help="random data of Fashion-MNIST's shapes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=200, help="timed training steps of the sequence workloads")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="glassnet training data-parallel: run under mpirun (benchmarks/distributed.py)",
    )
    p.add_argument("--gen-length", type=int, default=500, help="characters generated per timed pass (lstm-generate)")
    args = p.parse_args(argv)
    args.workload = [w.strip() for w in args.workload.split(",") if w.strip()]
    unknown = [w for w in args.workload if w not in WORKLOADS]
    if unknown or not args.workload:
        p.error(f"unknown workload {unknown}; choose from {', '.join(WORKLOADS)}")
    for workload in args.workload:
        if args.framework not in SUPPORTED[workload]:
            p.error(
                f"--workload {workload} runs with {' or '.join(SUPPORTED[workload])}, not --framework {args.framework}"
            )
    return args


# -- set-up -------------------------------------------------------------------------------------


THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "GLASSNET_NUM_THREADS",
)


def thread_env(threads: int) -> dict[str, str]:
    """The environment for a benchmark process: every thread pool capped at ``threads``."""
    env = dict(os.environ)
    for name in THREAD_ENV_VARS:
        env[name] = str(threads)
    return env


def import_framework(framework: str, threads: int) -> tuple[dict[str, Any], Any]:
    """Import the framework, cap its threads; returns (versions and thread counts, a keep-alive handle)."""
    import numpy as np

    info: dict[str, Any] = {"numpy": np.__version__}
    handle = None
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        # the SIMD level oneDNN and ATen's kernels were dispatched to (AVX2, AVX512, ...)
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    elif framework == "sklearn":
        import sklearn
        from sklearn.neural_network import MLPClassifier  # noqa: F401  (the import is timed)

        info["sklearn"] = sklearn.__version__
    elif framework == "glassnet":
        import glassnet

        info["glassnet"] = glassnet.__version__
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        info["blas_threads"] = "threadpoolctl not installed; thread env vars only"
    else:
        handle = threadpool_limits(limits=threads)
        if framework == "glassnet":  # glassnet's policy: its threads (one BLAS thread each in a split step)
            import glassnet

            glassnet.set_num_threads(threads)
            info["glassnet_threads"] = glassnet.get_num_threads()
        pools = threadpool_info()
        info["blas_threads"] = sorted({f"{d['prefix']}={d['num_threads']}" for d in pools})
        # which BLAS NumPy (and PyTorch) really loaded, and the kernel it picked for this CPU
        info["blas"] = sorted(
            {
                f"{d['internal_api']} {d.get('version')} ({d.get('architecture')} kernel)"
                for d in pools
                if d["user_api"] == "blas"
            }
        )
    return info, handle


# -- the tutorial: glassnet's fit against the tutorial's own loop, alternating in one process ----


def tutorial_loop(X: Any, y: Any, W1: Any, W2: Any, iterations: int) -> None:
    """The tutorial's training loop, transcribed (updates W1 and W2 in place)."""
    import numpy as np

    def sigmoid(z: Any) -> Any:
        return 1.0 / (1.0 + np.exp(-z))

    for _ in range(iterations):
        layer1 = sigmoid(X @ W1)
        output = sigmoid(layer1 @ W2)
        d_weights2 = layer1.T @ (2 * (y - output) * output * (1 - output))
        d_weights1 = X.T @ ((2 * (y - output) * output * (1 - output)) @ W2.T * layer1 * (1 - layer1))
        W1 += d_weights1
        W2 += d_weights2


def run_tutorial(args: argparse.Namespace) -> list[dict[str, Any]]:
    import numpy as np

    import glassnet as gn
    from benchmarks.common import TUTORIAL_X, TUTORIAL_Y

    X = np.array(TUTORIAL_X, dtype=np.float64)
    y = np.array(TUTORIAL_Y, dtype=np.float64)

    def one_pair(seed: int, iterations: int) -> tuple[float, float, float]:
        rng = np.random.default_rng(seed)
        model = gn.Sequential(
            gn.Linear(3, 4, bias=False, init="uniform", rng=rng, dtype=np.float64),
            gn.Sigmoid(),
            gn.Linear(4, 1, bias=False, init="uniform", rng=rng, dtype=np.float64),
            gn.Sigmoid(),
        )
        W1, W2 = model.layers[0].weight.data.copy(), model.layers[2].weight.data.copy()
        optimizer = gn.SGD(model.parameters(), lr=1.0)
        loss = gn.SSELoss()
        t0 = time.perf_counter()
        model.fit(X, y, loss=loss, optimizer=optimizer, epochs=iterations, verbose=0)
        t_glassnet = time.perf_counter() - t0
        t0 = time.perf_counter()
        tutorial_loop(X, y, W1, W2, iterations)
        t_numpy = time.perf_counter() - t0
        diff = max(
            float(np.abs(model.layers[0].weight.data - W1).max()),
            float(np.abs(model.layers[2].weight.data - W2).max()),
        )
        return t_glassnet, t_numpy, diff

    one_pair(args.seed, 100)  # warm-up
    pairs = [one_pair(args.seed + i, args.tutorial_iterations) for i in range(args.tutorial_repeats)]
    n = len(X) * args.tutorial_iterations
    common = {"workload": "tutorial", "samples": n, "iterations": args.tutorial_iterations}
    return [
        {**common, "framework": "numpy", "times": [p[1] for p in pairs]},
        {**common, "framework": "glassnet", "times": [p[0] for p in pairs], "max_abs_diff": max(p[2] for p in pairs)},
    ]


# -- training one epoch -------------------------------------------------------------------------


def train_glassnet(spec: Any, x: Any, y: Any, args: argparse.Namespace, bs: int) -> tuple[float, float]:
    import glassnet as gn
    from benchmarks.common import glassnet_model

    model = glassnet_model(spec, args.seed)
    loss = gn.CrossEntropyLoss()
    optimizer = gn.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    comm: Any = False
    if args.distributed:
        from glassnet.distributed import DataParallel

        comm = args.comm = DataParallel()

    def epoch(xs: Any, ys: Any, seed: int) -> float:
        history = model.fit(
            xs,
            ys,
            loss=loss,
            optimizer=optimizer,
            epochs=1,
            batch_size=bs,
            shuffle=True,
            seed=seed,
            verbose=0,
            distributed=comm,
        )
        return float(history.history["loss"][-1])

    return timed_epoch(epoch, x, y, args, bs)


def train_torch(spec: Any, x: Any, y: Any, args: argparse.Namespace, bs: int) -> tuple[float, float]:
    import torch
    from torch.nn import functional

    from benchmarks.common import torch_model

    model = torch_model(spec, args.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)

    def epoch(xs: Any, ys: Any, seed: int) -> float:
        # The fast idiomatic loop: a random permutation and index slicing, no DataLoader.
        model.train()
        n = len(xs)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        total = 0.0
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            xb, yb = xs[idx], ys[idx]
            loss = functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)  # as fit does: the epoch's mean loss
        return total / n

    return timed_epoch(epoch, x_t, y_t, args, bs)


def train_sklearn(spec: Any, x: Any, y: Any, args: argparse.Namespace, bs: int) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # max_iter=1 is the point
    hidden = tuple(layer[2] for layer in spec if layer[0] == "linear")[:-1]

    def epoch(xs: Any, ys: Any, seed: int) -> float:
        clf = MLPClassifier(
            hidden_layer_sizes=hidden,
            activation="relu",
            solver="sgd",
            learning_rate_init=args.lr,
            momentum=0.9,
            nesterovs_momentum=False,
            batch_size=bs,
            max_iter=1,
            shuffle=True,
            alpha=0.0,  # no L2 penalty, like the other frameworks
            random_state=seed,
        )
        clf.fit(xs, ys)
        return float(clf.loss_)

    return timed_epoch(epoch, x, y, args, bs)


def timed_epoch(epoch: Any, x: Any, y: Any, args: argparse.Namespace, bs: int) -> tuple[float, float]:
    """Warm up on a few batches, then time one shuffled epoch over all of ``x``: (seconds, mean loss)."""
    warm = min(len(x), max(1, args.warmup_batches) * bs)
    epoch(x[:warm], y[:warm], args.seed + 1)
    t0 = time.perf_counter()
    loss = epoch(x, y, args.seed)
    return time.perf_counter() - t0, loss


# -- inference ----------------------------------------------------------------------------------


def predict_glassnet(spec: Any, x: Any, args: argparse.Namespace, bs: int) -> list[float]:
    from benchmarks.common import glassnet_model

    model = glassnet_model(spec, args.seed)
    return timed_passes(lambda: model.predict(x, batch_size=bs), args.passes)


def predict_torch(spec: Any, x: Any, args: argparse.Namespace, bs: int) -> list[float]:
    import torch

    from benchmarks.common import torch_model

    model = torch_model(spec, args.seed)
    model.eval()
    x_t = torch.from_numpy(x)

    def predict() -> Any:
        with torch.inference_mode():
            return torch.cat([model(x_t[start : start + bs]) for start in range(0, len(x_t), bs)])

    return timed_passes(predict, args.passes)


# -- the matrix-product ceiling -----------------------------------------------------------------


def run_gemm(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    n = args.gemm_size
    rng = np.random.default_rng(args.seed)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    if args.framework == "torch":
        import torch

        a_t, b_t = torch.from_numpy(a), torch.from_numpy(b)
        times = timed_passes(lambda: torch.mm(a_t, b_t), args.passes)
    else:
        out = np.empty((n, n), dtype=np.float32)
        times = timed_passes(lambda: np.matmul(a, b, out=out), args.passes)
    return {"samples": 1, "flops": 2 * n**3, "size": n, "times": times}


# -- main ---------------------------------------------------------------------------------------


def run_workload(
    workload: str, args: argparse.Namespace, process: dict[str, Any], cache: dict[str, Any] | None
) -> list[dict[str, Any]]:
    from benchmarks import common, lstm

    base = {"framework": args.framework, "workload": workload}
    if workload == "tutorial":
        return run_tutorial(args)
    if workload == "gemm":
        return [{**base, **run_gemm(args)}]
    if workload in lstm.WORKLOADS:
        return [{**base, **lstm.run(workload, args)}]
    family = workload.split("-")[0]
    spec = common.SPECS[family]
    bs = args.batch_size or DEFAULT_BATCH[workload]
    limit = args.cnn_limit if family == "cnn" and args.cnn_limit is not None else args.limit
    t0 = time.perf_counter()
    x, y, x_test, _ = common.load_data(
        family, synthetic=args.synthetic, limit=limit, test_limit=args.test_limit, seed=args.seed, cache=cache
    )
    process["data_s"] = process.get("data_s", 0.0) + time.perf_counter() - t0
    predicting = workload.endswith("predict")
    if predicting:
        del x, y  # only the test images stay in memory
    rss_before = common.rss_now_mib()
    tracked = common.reset_peak_rss()
    before_peak = common.peak_rss_mib()
    record: dict[str, Any] = {**base, "batch_size": bs}
    if predicting:
        predict = {"glassnet": predict_glassnet, "torch": predict_torch}[args.framework]
        record.update(samples=len(x_test), times=predict(spec, x_test, args, bs))
    else:
        train = {"glassnet": train_glassnet, "torch": train_torch, "sklearn": train_sklearn}[args.framework]
        seconds, loss = train(spec, x, y, args, bs)
        record.update(samples=len(x), times=[seconds], loss=loss)
        comm = getattr(args, "comm", None)
        if comm is not None:  # distributed: the gradients' Allreduce, per step, over warm-up and the timed epoch
            record.update(ranks=comm.size, comm_ms_per_step=1e3 * comm.comm_seconds / max(1, comm.steps))
    # What training (or predicting) added on top of the loaded data and the imports.
    if tracked and rss_before is not None:
        record["increment_mib"] = max(0.0, (common.peak_since_reset_mib() or 0.0) - rss_before)
    else:
        record["increment_mib"] = max(0.0, common.peak_rss_mib() - before_peak)
    return [record]


def run(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    os.environ.update(thread_env(args.threads))  # before NumPy is imported
    info, _threads = import_framework(args.framework, args.threads)
    process: dict[str, Any] = {"import_s": time.perf_counter() - t_start, **info}

    from benchmarks import common

    # Several workloads in one process (run.py --group) share the loaded files.
    cache: dict[str, Any] | None = {} if len(args.workload) > 1 else None
    records = []
    for workload in args.workload:
        records += run_workload(workload, args, process, cache)
    for r in records:
        r["seconds"] = statistics.median(r["times"])
    process["peak_rss_mib"] = common.peak_rss_mib()
    process["worker_s"] = time.perf_counter() - t_start
    return {"process": process, "results": records}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = run(args)
    except (ImportError, FileNotFoundError) as err:  # a framework that isn't installed; no data files
        out = {"process": {}, "results": [], "error": f"{type(err).__name__}: {err}".splitlines()[0]}
    except Exception as err:
        traceback.print_exc()
        out = {"process": {}, "results": [], "error": f"{type(err).__name__}: {err}", "crashed": True}
    if not args.distributed or os.environ.get("OMPI_COMM_WORLD_RANK", "0") == "0":  # one rank reports
        print(json.dumps(out), flush=True)
    return 1 if out.get("crashed") else 0


if __name__ == "__main__":
    sys.exit(main())
