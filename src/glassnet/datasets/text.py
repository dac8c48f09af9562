"""Text: Tiny Shakespeare (shipped), a character tokenizer, and training windows over a token array.

A language model learns to predict each next token, so a training sample is a
window of ``context + 1`` consecutive tokens: the first ``context`` are the
input, the last ``context`` (shifted by one) the targets. ``windows`` gives
every such window as rows of a strided view of the token array (no copy of
the corpus); ``random_batch`` draws rows from it, as nanoGPT's ``get_batch``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
from importlib import resources
from typing import Any

import numpy as np

from glassnet._checks import as_rng, positive_int, short
from glassnet._files import display_name, open_regular

__all__ = [
    "shakespeare",
    "CharTokenizer",
    "windows",
    "random_batch",
    "sequential_windows",
    "MAX_BATCH_TOKENS",
    "TextPreprocessing",
    "from_text",
]

# The most tokens random_batch copies out at once (16M: 128 MiB of inputs; nanoGPT's batches hold ~16K).
MAX_BATCH_TOKENS = 2**24

_FILE = "tinyshakespeare.txt.gz"
_SHA256 = "bed00f18e91cda6838950656f0a95e07e0f4dbe8649a4b959f7602a7e53fbc6e"
_CHARS = 1_115_394


@functools.lru_cache(maxsize=1)
def _text() -> str:
    blob = (resources.files("glassnet.datasets") / "data" / _FILE).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != _SHA256:
        raise RuntimeError(f"the shipped {_FILE} is damaged (sha256 {digest}, expected {_SHA256}); reinstall glassnet")
    text = gzip.decompress(blob).decode("utf-8")
    if len(text) != _CHARS:
        raise RuntimeError(f"the shipped {_FILE} holds {len(text)} characters, expected {_CHARS}; reinstall glassnet")
    return text


def shakespeare() -> tuple[str, str]:
    """Tiny Shakespeare, split as nanoGPT does: the first 90% trains, the last 10% validates.

    1,115,394 characters (65 distinct) of dialogue from the plays, as compiled
    in the char-rnn repository (MIT licence; the text is in the public
    domain; see ``data/NOTICE``). Shipped inside the package: no download.

    Returns:
        (train, val): the two parts as str, 1,003,854 and 111,540 characters.

    Example:
        >>> from glassnet.datasets import shakespeare, CharTokenizer
        >>> train, val = shakespeare()
        >>> len(train), len(val), train[:14]
        (1003854, 111540, 'First Citizen:')
        >>> CharTokenizer.from_text(train + val).vocab_size
        65
    """
    text = _text()
    n = int(len(text) * 0.9)  # nanoGPT's split point
    return text[:n], text[n:]


class CharTokenizer:
    """Characters to integer ids and back; the id of a character is its place in ``chars``.

    Args:
        chars: the vocabulary, each character once (``from_text`` builds it
            sorted, as nanoGPT does).

    ``to_config()`` gives ``{"chars": ...}``, JSON-safe, which a model file's
    metadata keeps so that generation uses the training vocabulary.

    Example:
        >>> from glassnet.datasets import CharTokenizer
        >>> tok = CharTokenizer.from_text("hello")
        >>> tok.chars, tok.encode("hole").tolist(), tok.decode([3, 2, 2, 0, 3])
        ('ehlo', [1, 3, 2, 0], 'olleo')
    """

    def __init__(self, chars: str) -> None:
        if not isinstance(chars, str):
            raise TypeError(f"chars must be a str of distinct characters. Received: chars={short(chars)}")
        if not chars or len(set(chars)) != len(chars):
            raise ValueError(f"chars must be non-empty and hold each character once. Received: chars={short(chars)}")
        _refuse_surrogates(chars, "chars")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}
        # a lookup table from code point to id (-1: not in the vocabulary), for fast encoding
        self._table = np.full(max(map(ord, chars)) + 1, -1, dtype=np.int64)
        self._table[[ord(c) for c in chars]] = np.arange(len(chars))
        self._array = np.array(list(chars))

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The sorted set of ``text``'s characters as the vocabulary."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str. Received: {type(text).__name__}")
        _refuse_surrogates(text, "text")
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str, name: str = "text") -> np.ndarray:
        """int64 ids of ``text``'s characters; ValueError naming any character not in the vocabulary."""
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str. Received: {type(text).__name__}")
        _refuse_surrogates(text, name)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.full(codes.shape, -1, dtype=np.int64)
        known = codes < len(self._table)
        ids[known] = self._table[codes[known]]
        if (ids < 0).any():
            unknown = list(dict.fromkeys(c for c in text if c not in self._ids))  # in order of appearance
            shown = ", ".join(repr(c) for c in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
            raise ValueError(
                f"{name} holds {len(unknown)} character(s) that are not in the vocabulary: {shown} "
                f"(the vocabulary has {self.vocab_size} characters: {self.chars!r:.80})"
            )
        return ids

    def decode(self, ids: Any) -> str:
        """The text of integer ids in [0, vocab_size)."""
        arr = np.asarray(ids)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"ids must be integers. Received dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ValueError(f"ids must be in [0, {self.vocab_size}). Received ids in [{arr.min()}, {arr.max()}]")
        return "".join(self._array[arr.reshape(-1)].tolist())

    def to_config(self) -> dict[str, Any]:
        return {"chars": self.chars}

    @classmethod
    def from_config(cls, config: Any) -> CharTokenizer:
        if not isinstance(config, dict) or not isinstance(config.get("chars"), str):
            raise ValueError(f"a tokenizer config must be {{'chars': str}}. Received: {config!r:.80}")
        return cls(config["chars"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(text: str, name: str) -> None:
    """A lone surrogate (U+D800 to U+DFFF, half of a UTF-16 pair) is no character: it can't be encoded or printed."""
    found = _SURROGATE.search(text)
    if found is not None:
        raise ValueError(
            f"{name} holds a lone surrogate {found.group()!r} at position {found.start()}: not a character "
            "(text decoded with errors='surrogateescape' or half of a UTF-16 pair); decode the text as UTF-8 first"
        )


def _token_array(tokens: Any, name: str = "tokens") -> np.ndarray:
    if not isinstance(tokens, np.ndarray) or tokens.ndim != 1:
        raise TypeError(f"{name} must be a 1-D numpy array of token ids. Received: {type(tokens).__name__}")
    if tokens.dtype == bool or not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids. Received dtype {tokens.dtype}")
    return tokens


def windows(tokens: np.ndarray, context: int) -> np.ndarray:
    """Every window of ``context + 1`` consecutive tokens, as rows of a read-only strided view.

    Row i is ``tokens[i : i + context + 1]``; nothing is copied (the rows
    overlap in memory). Input and target of a window are ``row[:-1]`` and ``row[1:]``.

    Shape:
        tokens: (L,) -> (L - context, context + 1).

    Example:
        >>> import numpy as np
        >>> from glassnet.datasets import windows
        >>> w = windows(np.arange(6), 3)
        >>> w.shape, w[2].tolist(), np.shares_memory(w, w.base)
        ((3, 4), [2, 3, 4, 5], True)
    """
    tokens = _token_array(tokens)
    context = positive_int(context, "context")
    if len(tokens) <= context:
        raise ValueError(f"tokens must be longer than context. Received: {len(tokens)} tokens, context={context}")
    return np.lib.stride_tricks.sliding_window_view(tokens, context + 1)  # read-only


def random_batch(
    view: np.ndarray, batch_size: int, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` random rows of ``windows(...)``: inputs (B, context) and targets (B, context).

    Only the batch is copied; the draw is uniform over window starts, as nanoGPT's get_batch.
    A batch of more than ``MAX_BATCH_TOKENS`` tokens is refused before anything is drawn.
    """
    if not isinstance(view, np.ndarray) or view.ndim != 2 or view.shape[0] == 0 or view.shape[1] < 2:
        shape = view.shape if isinstance(view, np.ndarray) else type(view).__name__
        raise ValueError(
            "view must be the windows of a token array, windows(tokens, context): a 2-D array with at least one "
            f"row of context + 1 >= 2 tokens. Received: view of shape {shape}"
        )
    if view.dtype == bool or not np.issubdtype(view.dtype, np.integer):
        raise TypeError(f"view must hold integer token ids. Received dtype {view.dtype}")
    batch_size = positive_int(batch_size, "batch_size")
    if batch_size * view.shape[1] > MAX_BATCH_TOKENS:
        raise ValueError(
            f"batch_size={batch_size} windows of context + 1 = {view.shape[1]} tokens are "
            f"{batch_size * view.shape[1]:,} tokens, more than the {MAX_BATCH_TOKENS:,} a batch may hold: "
            "lower batch_size or the context"
        )
    rows = view[as_rng(rng).integers(0, len(view), size=batch_size)]
    return rows[:, :-1], rows[:, 1:]


def sequential_windows(tokens: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows covering ``tokens``: inputs and next-token targets, each (M, context).

    M = (L - 1) // context; the trailing L - 1 - M*context tokens are left out.
    These are the windows a validation loss averages over.
    """
    tokens = _token_array(tokens)
    context = positive_int(context, "context")
    m = (len(tokens) - 1) // context
    if m == 0:
        raise ValueError(f"tokens must be longer than context. Received: {len(tokens)} tokens, context={context}")
    return tokens[: m * context].reshape(m, context), tokens[1 : m * context + 1].reshape(m, context)


# -- one's own text -------------------------------------------------------------
MAX_TEXT_BYTES = 1 << 30  # the largest text file from_text reads


class TextPreprocessing(CharTokenizer):
    """A CharTokenizer that is also a preprocessing record: ``to_json``/``from_json`` and ``transform``.

    Example:
        >>> prep = TextPreprocessing.from_text("hello")
        >>> prep.transform("hole").tolist(), TextPreprocessing.from_json(prep.to_json()).chars
        ([1, 3, 2, 0], 'ehlo')
    """

    kind = "text"
    _MAX_CHARS = 1_114_112  # every Unicode code point

    def transform(self, text: str) -> np.ndarray:
        """int64 ids of ``text``'s characters (an error names any character not in the vocabulary)."""
        return self.encode(text)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": 1, "chars": self.chars}

    @classmethod
    def from_json(cls, record: Any) -> TextPreprocessing:
        """The tokenizer a record describes; ValueError naming the first bad field."""
        if not isinstance(record, dict) or record.get("kind") != cls.kind:
            raise ValueError(f"the preprocessing record is not of kind 'text'. Received: {short(record)}")
        if record.get("version") != 1:
            raise ValueError(
                f"the preprocessing record has version {short(record.get('version'))}; this glassnet reads 1"
            )
        chars = record.get("chars")
        if not isinstance(chars, str) or not 1 <= len(chars) <= cls._MAX_CHARS:
            raise ValueError(f"the preprocessing record's chars must be a non-empty string. Received: {short(chars)}")
        return cls(chars)


def from_text(
    path: str | os.PathLike[str], *, encoding: str = "utf-8", max_bytes: int = MAX_TEXT_BYTES
) -> tuple[str, TextPreprocessing]:
    """A text file's contents and its character vocabulary (a ``TextPreprocessing``, which is a CharTokenizer).

    Args:
        path: any text file (a byte-order mark at its start is dropped).
        encoding: its encoding; bytes that are not valid in it are an error
            naming their byte offset.
        max_bytes: the largest file accepted (1 GiB by default).

    Raises:
        ValueError: the file is empty, larger than ``max_bytes``, not valid
            ``encoding`` (the byte offset named), or holds a single distinct
            character (a language model would have nothing to learn).

    Example:
        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "story.txt")
        ...     with open(path, "w", encoding="utf-8") as f:
        ...         _ = f.write("abracadabra")
        ...     text, tok = from_text(path)
        >>> tok.chars, tok.encode(text[:4]).tolist()
        ('abcdr', [0, 1, 4, 0])
    """
    where = display_name(path)
    max_bytes = positive_int(max_bytes, "max_bytes")
    with open_regular(path) as f:
        blob = f.read(max_bytes + 1)
    if len(blob) > max_bytes:
        raise ValueError(f"{where} is larger than max_bytes={max_bytes:,} bytes")
    try:
        text = blob.decode(encoding)
    except LookupError:
        raise ValueError(f"encoding is not a known text encoding. Received: encoding={short(encoding)}") from None
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{where}: the bytes at offset {err.start:,} are not valid {encoding}; "
            "pass the file's encoding: encoding='latin-1' in Python, --encoding latin-1 to glassnet train"
        ) from None
    text = text.removeprefix("\ufeff")
    if not text:
        raise ValueError(f"{where} is empty: there is no text to learn from")
    distinct = set(text)
    if len(distinct) == 1:
        raise ValueError(
            f"{where} holds one character, {next(iter(distinct))!r}, repeated {len(text):,} times: "
            "there is nothing for a language model to learn"
        )
    return text, TextPreprocessing.from_text(text)  # type: ignore[return-value]
