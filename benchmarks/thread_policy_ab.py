"""A/B of glassnet's thread policy, one fresh process per run: one glassnet thread (``GLASSNET_NUM_THREADS=1``:
the BLAS pool's own threads split the products) against N (``GLASSNET_NUM_THREADS=N``, the default with N cores:
each thread trains on its share of the batch through its replica of the model, one BLAS thread each).

    python -m benchmarks.thread_policy_ab [--repeats 3] [--threads 2]

Prints milliseconds per training step of an MLP (batch 128), the Fashion-MNIST-shaped CNN (batch 64, random
data), the same CNN with BatchNorm and Dropout (the recipe's layers) and nanoGPT's Shakespeare GPT
(4x4x128, batch 12x64), each run alternating the two settings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

WORKER = r"""
import sys, time
import numpy as np
import glassnet as gn
from glassnet.training import replicas_for, train_step
kind = sys.argv[1]
rng = np.random.default_rng(0)
loss = gn.CrossEntropyLoss()
if kind == "gpt":
    model = gn.models.gpt(65, 64, n_layer=4, n_head=4, n_embd=128, rng=0)
    opt = gn.AdamW(gn.models.gpt_param_groups(model), lr=1e-3)
    x, y = rng.integers(0, 65, (12, 64)), rng.integers(0, 65, (12, 64))
    model.train(); model.set_input_grad(False)
    replicas = replicas_for(model, loss)  # as the language-model loop: the batch split over glassnet's threads
    for _ in range(10): train_step(model, loss, opt, x, y, clip=1.0, replicas=replicas)
    t = time.perf_counter()
    for _ in range(60): train_step(model, loss, opt, x, y, clip=1.0, replicas=replicas)
    print(1000 * (time.perf_counter() - t) / 60)
    sys.exit()
if kind == "cnn":
    x = rng.random((64 * 40, 1, 28, 28), dtype=np.float32)
    model = gn.Sequential(gn.Conv2d(1, 16, 3, padding=1, rng=0), gn.ReLU(), gn.MaxPool2d(2),
                          gn.Conv2d(16, 32, 3, padding=1, rng=1), gn.ReLU(), gn.MaxPool2d(2),
                          gn.Flatten(), gn.Linear(32 * 7 * 7, 128, rng=2), gn.ReLU(), gn.Linear(128, 10, rng=3))
    bs = 64
elif kind == "cnn-bn":
    x = rng.random((64 * 40, 1, 28, 28), dtype=np.float32)
    model = gn.Sequential(gn.Conv2d(1, 16, 3, padding=1, rng=0), gn.BatchNorm2d(16), gn.ReLU(), gn.MaxPool2d(2),
                          gn.Conv2d(16, 32, 3, padding=1, rng=1), gn.BatchNorm2d(32), gn.ReLU(), gn.MaxPool2d(2),
                          gn.Flatten(), gn.Dropout(0.3, rng=0), gn.Linear(32 * 7 * 7, 128, rng=2), gn.ReLU(),
                          gn.Linear(128, 10, rng=3))
    bs = 64
else:
    x = rng.random((128 * 40, 784), dtype=np.float32)
    model = gn.Sequential(gn.Linear(784, 256, rng=0), gn.ReLU(), gn.Linear(256, 256, rng=1), gn.ReLU(),
                          gn.Linear(256, 10, rng=2))
    bs = 128
y = rng.integers(0, 10, len(x))
opt = gn.Adam(model.parameters())
model.fit(x[:bs * 5], y[:bs * 5], loss=loss, optimizer=opt, epochs=1, batch_size=bs, verbose=0, seed=0)
t = time.perf_counter()
model.fit(x, y, loss=loss, optimizer=opt, epochs=1, batch_size=bs, verbose=0, seed=0)
print(1000 * (time.perf_counter() - t) / (len(x) // bs))
"""


def run(kind: str, threads: int) -> float:
    env = {**os.environ, "GLASSNET_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", WORKER, kind], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workloads", default="mlp,cnn,cnn-bn,gpt")
    args = p.parse_args(argv)
    print(f"ms per training step, median of {args.repeats} alternating processes")
    print(f"{'workload':<10}{'1 thread':>10}{f'{args.threads} threads':>12}{'speed-up':>10}")
    for kind in args.workloads.split(","):
        a, b = [], []
        for _ in range(args.repeats):
            a.append(run(kind, 1))
            b.append(run(kind, args.threads))
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{kind:<10}{ma:>10.2f}{mb:>12.2f}{ma / mb:>9.2f}x")


if __name__ == "__main__":
    main()
