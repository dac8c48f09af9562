"""Generation helpers shared by the language models (GPT, CharRNN): one rule for every model."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet._checks import positive_float, positive_int
from glassnet.layers.embedding import check_ids

__all__ = ["MIN_TEMPERATURE", "generation_args", "sample"]


def generation_args(
    ids: Any, length: Any, temperature: Any, top_k: Any, vocab_size: int
) -> tuple[np.ndarray, int, float, int | None]:
    """``generate``'s arguments checked: (N, T) ids in range, a count, a positive temperature, top_k <= the vocabulary."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise ValueError(f"ids must be a non-empty (N, T) array of token ids. Received: shape {ids.shape}")
    check_ids(ids, vocab_size, "ids")
    length = positive_int(length, "length", allow_zero=True)
    temperature = positive_float(temperature, "temperature")
    if top_k is not None:
        top_k = min(positive_int(top_k, "top_k"), vocab_size)
    return ids, length, temperature, top_k


MIN_TEMPERATURE = 1e-6  # below it, sampling is greedy: softmax(logits / T) is one-hot to float64's precision


def sample(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> np.ndarray:
    """One token per row from softmax(logits / temperature), restricted to the top_k largest.

    A temperature below MIN_TEMPERATURE, or one so small that logits / temperature overflows,
    takes the largest logit (the limit as the temperature goes to 0), with no warning. Logits that
    hold a NaN or an infinity (a model with NaN weights) are a ValueError, not a stream of newlines.
    """
    z = logits.astype(np.float64)
    if not np.isfinite(z).all():
        rows = int((~np.isfinite(z)).any(axis=1).sum())
        raise ValueError(
            f"the model's logits hold NaN or infinite values (in {rows} of {len(z)} rows), so no token can be "
            "sampled: its weights are probably not finite (was it saved from a run that diverged?)"
        )
    with np.errstate(over="ignore"):
        scaled = z / temperature
    if temperature < MIN_TEMPERATURE or not np.isfinite(scaled).all():
        return z.argmax(axis=1).astype(np.int64)
    z = scaled
    if top_k is not None and top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    # softmax's weights exp(z - max) left unnormalised: the cumulative sum's last value normalises the draw
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(z))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), z.shape[1] - 1).astype(np.int64)
