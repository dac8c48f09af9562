"""The tutorial's network: 3 inputs, 4 sigmoid units, 1 sigmoid output, no biases, weights U[0, 1).

``glassnet demo`` trains it, ``glassnet explain`` traces it, and the tests check it
against the tutorial's own numbers.
"""

from __future__ import annotations

import numpy as np

from glassnet.layers import Linear, Sigmoid
from glassnet.module import Sequential

__all__ = ["DEFAULT_SEED", "tutorial_network", "tutorial_weights"]

DEFAULT_SEED = 1


def tutorial_network(
    seed: int | np.random.Generator | None = DEFAULT_SEED, dtype: type = np.float64, tutorial_rng: bool = False
) -> Sequential:
    """The tutorial's 3 → 4 sigmoid → 1 sigmoid network, no biases, weights U[0, 1).

    Both weight matrices are drawn from one generator, first (3, 4) then (4, 1),
    as the tutorial's two ``np.random.rand`` calls. ``tutorial_rng=True`` draws them
    exactly as the tutorial does instead (``tutorial_weights(seed)``; ``seed`` an int).
    """
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    first = Linear(3, 4, bias=False, init="uniform", rng=rng, dtype=dtype)
    second = Linear(4, 1, bias=False, init="uniform", rng=rng, dtype=dtype)
    if tutorial_rng:
        if not isinstance(seed, int):
            raise TypeError(f"tutorial_rng=True needs an int seed. Received: seed={seed!r}")
        first.weight.data[...], second.weight.data[...] = tutorial_weights(seed)
    return Sequential(first, Sigmoid(), second, Sigmoid())


def tutorial_weights(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's initial weights for ``np.random.seed(seed)``: ``rand(3, 4)``, then ``rand(4, 1)``."""
    stream = np.random.RandomState(seed)  # the generator np.random.seed(seed) seeds
    return stream.rand(3, 4), stream.rand(4, 1)
