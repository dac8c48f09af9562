"""The LSTM workloads: the character model of ``glassnet train --data shakespeare --model lstm``, in both frameworks.

    lstm           one training step: Embedding(65, 64) -> LSTM(64, 256) -> Linear(256, 65) on 32 windows
                   of 64 characters, cross-entropy over every position, gradients clipped to a global norm
                   of 1.0, then Adam (lr 2e-3); timed step by step after warm-up steps
    lstm-generate  500 characters (--gen-length), one at a time, each fed back with the carried LSTM state,
                   sampled from the softmax at temperature 0.8; timed per generated text

The PyTorch side is the same model written plainly: nn.Embedding, nn.LSTM(batch_first=True), nn.Linear,
F.cross_entropy, clip_grad_norm_, torch.optim.Adam. The token ids are random (seeded): a step's time does
not depend on the text, and the benchmark needs no data file.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.timing import timed_passes

WORKLOADS = ("lstm", "lstm-generate")
VOCAB, EMBED, HIDDEN, CONTEXT, BATCH, LR, CLIP = 65, 64, 256, 64, 32, 2e-3, 1.0
PROMPT, TEMPERATURE = 6, 0.8


def forward_flops(workload: str) -> int:
    """Products of one sample's forward pass: a 64-character window (lstm) or one character (lstm-generate)."""
    per_char = 2 * (EMBED * 4 * HIDDEN + HIDDEN * 4 * HIDDEN + HIDDEN * VOCAB)
    return per_char * (CONTEXT if workload == "lstm" else 1)


def batches(steps: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(inputs, next-character targets), each (32, 64) int64, from random windows of a random token stream."""
    rng = np.random.default_rng(seed)
    stream = rng.integers(0, VOCAB, size=50_000)
    offsets = np.arange(CONTEXT)
    out = []
    for _ in range(steps):
        starts = rng.integers(0, len(stream) - CONTEXT - 1, size=BATCH)[:, None] + offsets
        out.append((stream[starts], stream[starts + 1]))
    return out


# -- glassnet -----------------------------------------------------------------------------------


def glassnet_model(seed: int) -> Any:
    import glassnet as gn

    rng = np.random.default_rng(seed)
    return gn.Sequential(
        gn.Embedding(VOCAB, EMBED, rng=rng), gn.LSTM(EMBED, HIDDEN, rng=rng), gn.Linear(HIDDEN, VOCAB, rng=rng)
    )


def glassnet_train(args: argparse.Namespace) -> tuple[list[float], float]:
    import glassnet as gn
    from glassnet.training import replicas_for, train_step

    model = glassnet_model(args.seed)
    params = model.parameters()
    loss_fn, optimizer = gn.CrossEntropyLoss(), gn.Adam(params, lr=LR)
    model.train()
    model.set_input_grad(False)  # as fit does: nothing needs dL/d(token ids)
    replicas = replicas_for(model, loss_fn)  # as the language-model loop: the batch over glassnet's threads

    def step(x: np.ndarray, y: np.ndarray) -> float:
        return train_step(model, loss_fn, optimizer, x, y, clip=CLIP, replicas=replicas)

    return timed_steps(step, batches(args.warmup_batches + args.steps, args.seed), args.warmup_batches)


def glassnet_generate(args: argparse.Namespace) -> list[float]:
    model = glassnet_model(args.seed).eval()
    lstm = model.layers[1]
    rng = np.random.default_rng(args.seed)
    prompt = rng.integers(0, VOCAB, size=(1, PROMPT))

    def generate() -> None:
        lstm.use_cache(True)  # carry the state: each call feeds only the new character
        logits = model.forward(prompt)[0, -1]
        for _ in range(args.gen_length):
            z = logits / TEMPERATURE
            p = np.exp(z - z.max())
            next_id = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum()))
            logits = model.forward(np.array([[min(next_id, VOCAB - 1)]]))[0, -1]

    return timed_passes(generate, args.passes)


# -- PyTorch ------------------------------------------------------------------------------------


def torch_model(seed: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class CharLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, ids: Any, state: Any = None) -> tuple[Any, Any]:
            h, state = self.lstm(self.embed(ids), state)
            return self.head(h), state

    return CharLSTM()


def torch_train(args: argparse.Namespace) -> tuple[list[float], float]:
    import torch
    from torch.nn import functional

    model = torch_model(args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()

    def step(x: Any, y: Any) -> float:
        logits, _ = model(x)
        loss = functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        return float(loss.item())

    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches(args.warmup_batches + args.steps, args.seed)]
    return timed_steps(step, data, args.warmup_batches)


def torch_generate(args: argparse.Namespace) -> list[float]:
    import torch

    model = torch_model(args.seed).eval()
    gen = torch.Generator().manual_seed(args.seed)
    prompt = torch.from_numpy(np.random.default_rng(args.seed).integers(0, VOCAB, size=(1, PROMPT)))

    def generate() -> None:
        with torch.inference_mode():
            logits, state = model(prompt)
            for _ in range(args.gen_length):
                probs = torch.softmax(logits[0, -1] / TEMPERATURE, dim=-1)
                next_id = torch.multinomial(probs, 1, generator=gen)
                logits, state = model(next_id.view(1, 1), state)

    return timed_passes(generate, args.passes)


# -- timing ---------------------------------------------------------------------------------------


def timed_steps(step: Any, data: list[tuple[Any, Any]], warmup: int) -> tuple[list[float], float]:
    """Run every batch; the seconds of each step after the first ``warmup``, and the last loss."""
    times, loss = [], math.nan
    for i, (x, y) in enumerate(data):
        t0 = time.perf_counter()
        loss = step(x, y)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times, loss


def run(workload: str, args: argparse.Namespace) -> dict[str, Any]:
    """One record for benchmarks.worker: samples per timed unit, the times, and the memory training added."""
    rss_before = common.rss_now_mib()
    tracked = common.reset_peak_rss()
    before_peak = common.peak_rss_mib()
    record: dict[str, Any] = {"batch_size": BATCH if workload == "lstm" else 1}
    if workload == "lstm":
        train = {"glassnet": glassnet_train, "torch": torch_train}[args.framework]
        times, loss = train(args)
        record.update(samples=BATCH, times=times, loss=loss)  # one step: 32 windows
    else:
        generate = {"glassnet": glassnet_generate, "torch": torch_generate}[args.framework]
        record.update(samples=args.gen_length, times=generate(args))
    if tracked and rss_before is not None:
        record["increment_mib"] = max(0.0, (common.peak_since_reset_mib() or 0.0) - rss_before)
    else:
        record["increment_mib"] = max(0.0, common.peak_rss_mib() - before_peak)
    return record
