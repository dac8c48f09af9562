"""GPT-2's tokenizer, byte-level byte-pair encoding (BPE), and training a BPE of your own.

How GPT-2 turns text into token ids, in three steps:

1. **Pre-tokenize**: cut the text into pieces with GPT-2's pattern
   ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+``:
   a few English contractions, runs of letters, of digits, of other symbols
   (each may take one leading space), and runs of whitespace. Merges never
   cross a piece's edge, so " the" is one token wherever it occurs.
2. **Bytes to symbols**: each piece's UTF-8 bytes become printable characters
   through a fixed table (``bytes_to_unicode``: bytes that are printable
   Latin-1 map to themselves, the 68 others to U+0100 onwards; the space 0x20
   becomes "Ġ"). Any text, in any script, is then a string over 256 symbols,
   and no id is ever unknown.
3. **Merge**: start from single symbols; repeatedly merge the adjacent pair
   whose merge rule comes first in the merge list (``merges.txt``, one rule
   ``a b`` per line, in the order training learned them), until no pair has
   a rule. Each resulting symbol's id is its entry in the vocabulary
   (``vocab.json``).

Decoding reverses it: ids to symbols, symbols to bytes, bytes to UTF-8 text
(a byte sequence cut inside a character decodes to U+FFFD, as GPT-2 does).

**Training** (Sennrich et al., 2016) learns the merge list from a text: split
it into pieces as in step 1 and count each distinct piece; then, until the
vocabulary is full, count every adjacent pair of symbols over all pieces
(weighted by the pieces' counts), append the most frequent pair as the next
merge rule and its concatenation as the next token, and rewrite every piece
with that pair merged. Ties go to the pair of smallest ids, as in Hugging
Face's ``tokenizers``, so the same text gives the same merges.

Example:
    >>> from glassnet.datasets.bpe import BPETokenizer
    >>> tok = BPETokenizer.train("low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3, vocab_size=261)
    >>> tok.merges[:4]
    [('e', 's'), ('es', 't'), ('l', 'o'), ('lo', 'w')]
    >>> tok.decode(tok.encode("the newest low")) == "the newest low"
    True
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from glassnet._checks import positive_int, short
from glassnet._files import atomic_write, display_name, open_regular

__all__ = ["BPETokenizer", "bytes_to_unicode", "pre_tokenize", "GPT2_PATTERN", "EOT"]

EOT = "<|endoftext|>"
# GPT-2's pattern as written for the `regex` module; `pre_tokenize` runs the same with Python's `re`
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_MAX_FILE = 256 * 2**20  # bytes; GPT-2's vocab.json is 1 MiB, tokenizer.json 1.4 MiB


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from the 256 byte values to printable characters (its ``encoder.py``).

    The printable bytes ``!``..``~``, ``¡``..``¬``, ``®``..``ÿ`` map to themselves;
    the other 68 (controls, the space, soft hyphen...) to U+0100, U+0101, ... in order.

    Example:
        >>> from glassnet.datasets.bpe import bytes_to_unicode
        >>> table = bytes_to_unicode()
        >>> table[ord("a")], table[ord(" ")], table[ord("\\n")]
        ('a', 'Ġ', 'Ċ')
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return dict(sorted(table.items()))


def _ranges(codes: list[int]) -> str:
    """A regex character-class body for sorted code points, as ranges (\\U escapes)."""
    parts: list[str] = []
    start = prev = codes[0]
    for c in [*codes[1:], -1]:
        if c != prev + 1:
            parts.append(f"\\U{start:08x}" if start == prev else f"\\U{start:08x}-\\U{prev:08x}")
            start = c
        prev = c
    return "".join(parts)


@functools.lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    r"""GPT-2's pattern for Python's `re`: \p{L}, \p{N} and \s spelled out from unicodedata.

    \p{L}: general categories Lu Ll Lt Lm Lo; \p{N}: Nd Nl No; \s: Zs Zl Zp and
    \t \n \v \f \r \x85 (Unicode's White_Space, which `re`'s \s is not: it also
    takes \x1c-\x1f).
    """
    letters, numbers, spaces = [], [], [9, 10, 11, 12, 13, 0x85]
    for c in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(c))
        if cat[0] == "L":
            letters.append(c)
        elif cat[0] == "N":
            numbers.append(c)
        elif cat in ("Zs", "Zl", "Zp"):
            spaces.append(c)
    L, N, S = _ranges(letters), _ranges(numbers), _ranges(sorted(spaces))  # noqa: N806
    return re.compile(rf"""'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+""")


def pre_tokenize(text: str) -> list[str]:
    """Cut text into GPT-2's pieces (step 1 of the module docstring).

    Example:
        >>> from glassnet.datasets.bpe import pre_tokenize
        >>> pre_tokenize("Hello world, it's 2024!  ")
        ['Hello', ' world', ',', ' it', "'s", ' 2024', '!', '  ']
    """
    return _pattern().findall(text)


def _check_text(text: Any, name: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str. Received: {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{name} holds a lone surrogate U+{ord(text[err.start]):04X} at position {err.start}, which UTF-8 "
            "can't encode (GPT-2's tokenizer refuses it too); clean it with "
            "text.encode('utf-8', 'replace').decode('utf-8')"
        ) from None
    return text


class BPETokenizer:
    """GPT-2's byte-level BPE tokenizer: ``encode(text) -> ids``, ``decode(ids) -> text``.

    See the module docstring for the algorithm. ``from_files`` reads GPT-2's
    ``vocab.json`` + ``merges.txt``, ``from_tokenizer_json`` a Hugging Face
    ``tokenizer.json``, ``load(folder)`` whichever a folder holds; ``train``
    learns one from a text; ``save`` writes ``vocab.json`` and ``merges.txt``.

    Args:
        vocab: token (a string of byte symbols) -> id; must hold all 256 byte symbols.
        merges: the merge rules in order, pairs of tokens.
        special_tokens: strings kept whole, never split or merged (GPT-2's ``<|endoftext|>``);
            each must be in ``vocab``.

    Example:
        >>> tok = BPETokenizer.train("abababab cdcd ab", vocab_size=260)
        >>> tok.encode("abab cd")
        [258, 221, 259]
    """

    def __init__(
        self, vocab: dict[str, int], merges: Sequence[tuple[str, str]], special_tokens: Iterable[str] = ()
    ) -> None:
        if not isinstance(vocab, dict) or not all(isinstance(k, str) and type(v) is int for k, v in vocab.items()):
            raise TypeError(f"vocab must be a dict of str -> int. Received: {short(vocab)}")
        missing = [c for c in bytes_to_unicode().values() if c not in vocab]
        if missing:
            raise ValueError(f"vocab must hold every byte symbol; it lacks {len(missing)}, e.g. {missing[0]!r}")
        if len(set(vocab.values())) != len(vocab):
            raise ValueError("vocab gives the same id to two tokens")
        self.vocab = dict(vocab)
        self.merges = [(str(a), str(b)) for a, b in merges]
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.special_tokens = list(special_tokens)
        for s in self.special_tokens:
            if s not in self.vocab:
                raise ValueError(f"special token {s!r} is not in vocab")
        self.inverse = {i: t for t, i in self.vocab.items()}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self._special_re = (
            re.compile("(" + "|".join(map(re.escape, sorted(self.special_tokens, key=len, reverse=True))) + ")")
            if self.special_tokens
            else None
        )
        self._cache: dict[str, list[int]] = {}

    def __len__(self) -> int:
        """The vocabulary's size: the model's vocab_size must be at least this."""
        return max(self.vocab.values()) + 1

    @property
    def eot_id(self) -> int | None:
        """The id of ``<|endoftext|>``, or None."""
        return self.vocab.get(EOT)

    # -- encoding ----------------------------------------------------------------
    def _bpe(self, piece: str) -> list[int]:
        """One pre-tokenized piece to ids: its byte symbols, merged by rank (step 3)."""
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        word = [self.byte_encoder[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            # the adjacent pair whose rule was learned first
            best = min(zip(word, word[1:]), key=lambda pair: self.ranks.get(pair, len(self.ranks)))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        try:
            ids = [self.vocab[token] for token in word]
        except KeyError as err:
            raise ValueError(f"the merges make the token {err.args[0]!r}, which vocab lacks") from None
        if len(self._cache) < 100_000:
            self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special tokens kept whole, the rest pre-tokenized and merged).

        Raises:
            ValueError: the text holds a lone surrogate (not encodable in UTF-8).
        """
        text = _check_text(text)
        ids: list[int] = []
        chunks = self._special_re.split(text) if self._special_re is not None else [text]
        for chunk in chunks:
            if chunk in self.vocab and chunk in self.special_tokens:
                ids.append(self.vocab[chunk])
                continue
            for piece in pre_tokenize(chunk):
                ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids; a byte sequence cut inside a character decodes to U+FFFD (GPT-2's errors='replace')."""
        out = bytearray()
        for i in ids:
            token = self.inverse.get(int(i))
            if token is None:
                raise ValueError(f"ids holds {int(i)}, which is not a token id (vocabulary of {len(self)})")
            if token in self.special_tokens:
                out += token.encode("utf-8")
            else:
                out += bytes(self.byte_decoder[c] for c in token)
        return out.decode("utf-8", errors="replace")

    def to_config(self) -> dict[str, Any]:
        """JSON-safe: ``{"bpe": {"vocab": ..., "merges": [[a, b], ...], "special_tokens": [...]}}``, for a model's metadata."""
        return {
            "bpe": {
                "vocab": self.vocab,
                "merges": [list(m) for m in self.merges],
                "special_tokens": self.special_tokens,
            }
        }

    @classmethod
    def from_config(cls, config: Any) -> BPETokenizer:
        """The tokenizer ``to_config`` described (a ValueError for anything else)."""
        spec = config.get("bpe") if isinstance(config, dict) else None
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("vocab"), dict)
            or not isinstance(spec.get("merges"), list)
        ):
            raise ValueError(
                f"a BPE tokenizer config must be {{'bpe': {{'vocab', 'merges'}}}}. Received: {short(config)}"
            )
        merges = spec["merges"]
        if not all(isinstance(m, list) and len(m) == 2 and all(isinstance(t, str) for t in m) for m in merges):
            raise ValueError("a BPE tokenizer config's merges must be pairs of strings")
        specials = spec.get("special_tokens", [])
        if not isinstance(specials, list) or not all(isinstance(t, str) for t in specials):
            raise ValueError(f"special_tokens must be a list of strings. Received: {short(specials)}")
        return cls(spec["vocab"], [(a, b) for a, b in merges], specials)

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={len(self)}, merges={len(self.merges)})"

    # -- files ---------------------------------------------------------------------
    @classmethod
    def from_files(cls, vocab_file: str | os.PathLike[str], merges_file: str | os.PathLike[str]) -> BPETokenizer:
        """GPT-2's two files: ``vocab.json`` (token -> id) and ``merges.txt`` (``#version`` line, then ``a b``)."""
        vocab = _read_json(vocab_file)
        if not isinstance(vocab, dict):
            raise ValueError(f"{display_name(vocab_file)} must hold a JSON object of token -> id")
        merges = []
        for n, line in enumerate(_read_text(merges_file).splitlines(), 1):
            if not line.strip() or (n == 1 and line.startswith("#version")):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise ValueError(f"{display_name(merges_file)} line {n} is not 'a b': {short(line)}")
            merges.append((parts[0], parts[1]))
        return cls(vocab, merges, [t for t in (EOT,) if t in vocab])

    @classmethod
    def from_tokenizer_json(cls, path: str | os.PathLike[str]) -> BPETokenizer:
        """A Hugging Face ``tokenizer.json`` of a byte-level BPE (GPT-2's layout)."""
        spec = _read_json(path)
        model = spec.get("model") if isinstance(spec, dict) else None
        if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
            raise ValueError(f"{display_name(path)} does not describe a BPE model")
        pre = spec.get("pre_tokenizer") or {}
        if pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex", True):
            raise ValueError(
                f"{display_name(path)}: only GPT-2's pre-tokenizer is supported "
                f"(ByteLevel, add_prefix_space false). Received: {short(pre)}"
            )
        unsupported = {
            "normalizer": spec.get("normalizer"),
            "dropout": model.get("dropout"),
            "continuing_subword_prefix": model.get("continuing_subword_prefix") or None,
            "end_of_word_suffix": model.get("end_of_word_suffix") or None,
            "byte_fallback": model.get("byte_fallback") or None,
            "ignore_merges": model.get("ignore_merges") or None,
        }
        unsupported = {k: v for k, v in unsupported.items() if v is not None}
        if unsupported:
            raise ValueError(f"{display_name(path)}: GPT-2's tokenizer has none of {short(unsupported)}")
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
        if not all(len(m) == 2 for m in merges):
            raise ValueError(f"{display_name(path)}: every merge must be a pair of tokens")
        vocab = dict(model.get("vocab", {}))
        specials = []
        for added in spec.get("added_tokens") or []:
            vocab.setdefault(added["content"], int(added["id"]))
            specials.append(added["content"])
        return cls(vocab, merges, specials)  # type: ignore[arg-type]

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> BPETokenizer:
        """The tokenizer of a Hugging Face folder: ``vocab.json`` + ``merges.txt``, else ``tokenizer.json``."""
        root = Path(os.fspath(folder))
        if (root / "vocab.json").is_file() and (root / "merges.txt").is_file():
            return cls.from_files(root / "vocab.json", root / "merges.txt")
        if (root / "tokenizer.json").is_file():
            return cls.from_tokenizer_json(root / "tokenizer.json")
        raise ValueError(
            f"{display_name(folder)} has neither vocab.json + merges.txt nor tokenizer.json; "
            "`huggingface-cli download gpt2 vocab.json merges.txt --local-dir FOLDER` fetches GPT-2's"
        )

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write ``vocab.json`` and ``merges.txt`` into ``folder`` (GPT-2's layout; transformers reads them)."""
        root = Path(os.fspath(folder))
        root.mkdir(parents=True, exist_ok=True)
        atomic_write(root / "vocab.json", json.dumps(self.vocab, ensure_ascii=False).encode("utf-8"))
        lines = ["#version: 0.2", *(f"{a} {b}" for a, b in self.merges)]
        atomic_write(root / "merges.txt", ("\n".join(lines) + "\n").encode("utf-8"))

    # -- training ------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        min_frequency: int = 2,
        special_tokens: Sequence[str] = (EOT,),
        report: Callable[[str], None] | None = None,
    ) -> BPETokenizer:
        """Learn a byte-level BPE from ``text`` (the module docstring's algorithm).

        Ids: the special tokens first, then the 256 byte symbols (ordered by
        character), then one id per merge in the order learned, as Hugging
        Face's ``ByteLevelBPETokenizer.train`` numbers them.

        Args:
            text: the training text.
            vocab_size: stop when the vocabulary has this many tokens (at least 256 + specials).
            min_frequency: stop when the most frequent pair occurs fewer times than this.
            special_tokens: kept whole, never merged; ``<|endoftext|>`` by default.
            report: called with one line per merge (``"merge 1: 'e' + 's' (9 times)"``) to follow it.
        """
        text = _check_text(text)
        specials = list(special_tokens)
        vocab_size = positive_int(vocab_size, "vocab_size", high=10**7)
        if vocab_size < 256 + len(specials):
            raise ValueError(f"vocab_size must be at least {256 + len(specials)}. Received: vocab_size={vocab_size}")
        min_frequency = positive_int(min_frequency, "min_frequency")
        vocab: dict[str, int] = {s: i for i, s in enumerate(specials)}
        for c in sorted(bytes_to_unicode().values()):
            vocab[c] = len(vocab)
        # each distinct piece once, with its count, as a list of token ids
        pieces: Counter[str] = Counter()
        split = re.compile("|".join(map(re.escape, specials))) if specials else None
        for chunk in split.split(text) if split is not None else [text]:
            pieces.update(pre_tokenize(chunk))
        table = bytes_to_unicode()
        words = [[vocab[table[b]] for b in piece.encode("utf-8")] for piece in pieces]
        counts = list(pieces.values())
        tokens = {i: t for t, i in vocab.items()}
        # pair -> weighted count, and pair -> the words holding it (updated as merges rewrite words)
        pair_counts: defaultdict[tuple[int, int], int] = defaultdict(int)
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        for w, (word, n) in enumerate(zip(words, counts)):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += n
                where[pair].add(w)
        merges: list[tuple[str, str]] = []
        while len(vocab) < vocab_size and pair_counts:
            # the most frequent pair; ties to the smallest ids
            best = min(pair_counts, key=lambda pair: (-pair_counts[pair], pair))
            if pair_counts[best] < min_frequency:
                break
            new_token = tokens[best[0]] + tokens[best[1]]
            new_id = len(vocab)
            vocab[new_token], tokens[new_id] = new_id, new_token
            merges.append((tokens[best[0]], tokens[best[1]]))
            if report is not None:
                report(f"merge {len(merges)}: {tokens[best[0]]!r} + {tokens[best[1]]!r} ({pair_counts[best]} times)")
            for w in where.pop(best):
                word, n = words[w], counts[w]
                for pair in zip(word, word[1:]):  # take the word's old pairs out ...
                    pair_counts[pair] -= n
                    if not pair_counts[pair]:
                        del pair_counts[pair]
                merged, i = [], 0
                while i < len(word):
                    if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                        merged.append(new_id)
                        i += 2
                    else:
                        merged.append(word[i])
                        i += 1
                words[w] = merged
                for pair in zip(merged, merged[1:]):  # ... and its new ones in
                    pair_counts[pair] += n
                    where[pair].add(w)
            pair_counts.pop(best, None)
        return cls(vocab, merges, specials)


def _read_text(path: str | os.PathLike[str]) -> str:
    with open_regular(path, "path") as f:
        raw = f.read(_MAX_FILE + 1)
    if len(raw) > _MAX_FILE:
        raise ValueError(f"{display_name(path)} is over {_MAX_FILE // 2**20} MiB: not a tokenizer file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{display_name(path)} is not UTF-8: {err}") from None


def _read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{display_name(path)} is not JSON: {err}") from None
