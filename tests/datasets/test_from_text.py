"""Text files of one's own: decoding, vocabulary, the preprocessing record, and the files refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from glassnet.datasets import (
    CharTokenizer,
    TextPreprocessing,
    apply,
    from_text,
    preprocessing_from_json,
    preprocessing_from_metadata,
)


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "story.txt"
    path.write_bytes(data)
    return path


def test_any_utf8_text_gives_its_text_and_sorted_vocabulary(tmp_path: Path) -> None:
    story = "Ça va? Ünïcödé, 日本語 and emoji 🙂.\nSecond line.\n"
    text, tok = from_text(write(tmp_path, story.encode("utf-8")))
    assert text == story
    assert isinstance(tok, CharTokenizer) and tok.chars == "".join(sorted(set(story)))
    assert tok.decode(tok.transform(text)) == story
    assert tok.transform(text).dtype == np.int64


def test_a_byte_order_mark_is_dropped_and_other_encodings_are_read_when_named(tmp_path: Path) -> None:
    text, _ = from_text(write(tmp_path, "\ufeffhello".encode()))
    assert text == "hello"
    text, _ = from_text(write(tmp_path, "café crème".encode("latin-1")), encoding="latin-1")
    assert text == "café crème"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "is empty: there is no text to learn from"),
        (b"\xef\xbb\xbf", "is empty"),
        (b"good start, then caf\xe9 and more", "the bytes at offset 20 are not valid utf-8; pass the file's encoding"),
        (b"\xff\xfe", "offset 0 are not valid utf-8"),
        (b"a" * 5000, "holds one character, 'a', repeated 5,000 times: there is nothing for a language model to learn"),
    ],
)
def test_files_with_nothing_to_learn_or_wrong_bytes_are_refused_in_one_line(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    with pytest.raises(ValueError) as err:
        from_text(write(tmp_path, data))
    assert expected in str(err.value) and "story.txt" in str(err.value) and "\n" not in str(err.value)


def test_size_folders_and_encodings_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, b"abcdef" * 100)
    with pytest.raises(ValueError, match="larger than max_bytes=100 bytes"):
        from_text(path, max_bytes=100)
    with pytest.raises(ValueError, match="encoding is not a known text encoding"):
        from_text(path, encoding="klingon")
    with pytest.raises(ValueError, match="is a folder"):
        from_text(tmp_path)


def test_the_record_round_trips_and_applies_to_new_text(tmp_path: Path) -> None:
    _, tok = from_text(write(tmp_path, b"to be or not to be"))
    record = json.loads(json.dumps({"preprocessing": tok.to_json()}))
    again = preprocessing_from_metadata(record)
    assert isinstance(again, TextPreprocessing) and again.chars == tok.chars
    prepared = apply(again, "be not")
    assert prepared.y is None and prepared.names == ["text"]
    assert np.array_equal(prepared.x, tok.encode("be not"))
    with pytest.raises(ValueError, match="1 character\\(s\\) that are not in the vocabulary: 'z'"):
        apply(again, "zoo")
    with pytest.raises(TypeError, match="raw must be a str"):
        apply(again, b"bytes")


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "text", "version": 1, "chars": ""},
        {"kind": "text", "version": 1, "chars": "aa"},
        {"kind": "text", "version": 1, "chars": ["a", "b"]},
        {"kind": "text", "version": 7, "chars": "ab"},
        {"kind": "text", "version": 1},
    ],
)
def test_hostile_text_records_are_refused(record: dict) -> None:
    with pytest.raises(ValueError):
        preprocessing_from_json(record)
