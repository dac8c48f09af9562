"""A character-level recurrent language model, as Karpathy's char-rnn: Embedding -> RNN/LSTM/GRU -> Linear.

``CharRNN`` is a Sequential of those three layers (so it trains, saves and
summarises like any Sequential) with a ``generate`` method that carries the
recurrent state from one character to the next: the prompt is read once, and
every new character costs one step of the network, never a pass over the prefix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet._checks import as_rng, check_dtype, positive_int, short
from glassnet.layers._base import loading
from glassnet.layers.embedding import Embedding
from glassnet.layers.linear import Linear
from glassnet.layers.recurrent import GRU, LSTM, RNN
from glassnet.models.sampling import generation_args, sample
from glassnet.module import Sequential
from glassnet.registry import register_layer

__all__ = ["CharRNN"]

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@register_layer  # so that glassnet.load can rebuild a saved CharRNN
class CharRNN(Sequential):
    """``Sequential(Embedding(V, E), CELL(E, H), Linear(H, V))``: token ids (N, T) -> next-token logits (N, T, V).

    Args:
        vocab_size: V, the number of distinct tokens (65 characters for Tiny Shakespeare).
        embedding_dim: E, the size of each token's vector.
        hidden_size: H, the recurrent layer's state size.
        cell: "lstm", "gru" or "rnn" (tanh).
        rng: ``np.random.Generator`` or int seed for every initial weight.
        dtype: float32 (default) or float64.

    The weights start as PyTorch's defaults for nn.Embedding, nn.LSTM/GRU/RNN and
    nn.Linear: N(0, 1) embeddings, and U(-1/sqrt(H), 1/sqrt(H)) for the recurrent
    and output weights and biases, so a recipe carries over from PyTorch as it is.

    Shape:
        ids (N, T) integers in [0, V) -> logits (N, T, V); layers[1].state holds the last state.

    Backward:
        that of the three layers in turn (Sequential); the ids get no gradient.

    Example:
        >>> import numpy as np, glassnet as gn
        >>> from glassnet.models import CharRNN
        >>> model = CharRNN(10, embedding_dim=4, hidden_size=8, rng=0)
        >>> model(np.array([[1, 2, 3]])).shape
        (1, 3, 10)
        >>> model.generate(np.array([[1, 2]]), 5, rng=0).shape
        (1, 5)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 256,
        cell: str = "lstm",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}. Received: cell={short(cell)}")
        self.vocab_size = positive_int(vocab_size, "vocab_size")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.cell = cell
        self.dtype = check_dtype(dtype)
        gen = as_rng(rng)
        head = Linear(self.hidden_size, self.vocab_size, rng=gen, dtype=self.dtype)
        k = 1.0 / math.sqrt(self.hidden_size)  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        if not loading():  # a file's values replace these: nothing to draw
            head.weight.data[...] = gen.uniform(-k, k, head.weight.shape)
            if head.bias is not None:
                head.bias.data[...] = gen.uniform(-k, k, head.bias.shape)
        super().__init__(
            Embedding(self.vocab_size, self.embedding_dim, rng=gen, dtype=self.dtype),
            CELLS[cell](self.embedding_dim, self.hidden_size, rng=gen, dtype=self.dtype),
            head,
        )

    def generate(
        self,
        ids: np.ndarray,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> np.ndarray:
        """Sample ``length`` new tokens after the prompt ``ids`` (N, T0), carrying the recurrent state.

        The whole prompt is read (a recurrent model has no context limit), then
        each new token is fed alone, continuing from the state the previous call
        left (``use_cache``). Sampling: softmax(logits / temperature) over the
        ``top_k`` largest logits (all if None), drawn from ``rng``: the same seed,
        the same text.

        Returns:
            int64 ids (N, length), the new tokens only.
        """
        ids, length, temperature, top_k = generation_args(ids, length, temperature, top_k, self.vocab_size)
        gen = as_rng(rng)
        was_training = self.training
        recurrent = self.layers[1]
        self.eval()
        recurrent.use_cache(True)  # type: ignore[attr-defined]
        out = np.empty((ids.shape[0], length), dtype=np.int64)
        try:
            logits = self.forward(ids)[:, -1]
            for i in range(length):
                token = sample(logits, temperature, top_k, gen)
                out[:, i] = token
                logits = self.forward(token[:, None])[:, -1]
        finally:
            recurrent.use_cache(False)  # type: ignore[attr-defined]
            self.train(was_training)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "hidden_size": self.hidden_size,
            "cell": self.cell,
            "dtype": self.dtype.name,
        }

    def __repr__(self) -> str:
        return f"CharRNN({self.extra_repr()})"
