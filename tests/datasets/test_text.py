import hashlib

import numpy as np
import pytest

from glassnet.datasets import CharTokenizer, random_batch, sequential_windows, shakespeare, windows


def test_shakespeare_is_the_known_corpus_split_90_10():
    train, val = shakespeare()
    assert len(train) + len(val) == 1_115_394
    assert len(train) == int(1_115_394 * 0.9)
    assert hashlib.md5((train + val).encode("utf-8")).hexdigest() == "6fb458f1232090904fb40fe944165e91"
    assert len(set(train + val)) == 65


def test_tokenizer_round_trip_and_sorted_vocabulary():
    train, val = shakespeare()
    tok = CharTokenizer.from_text(train + val)
    assert tok.chars == "".join(sorted(set(train + val)))
    ids = tok.encode(val)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 65
    assert tok.decode(ids) == val
    assert CharTokenizer.from_config(tok.to_config()).chars == tok.chars


def test_unknown_characters_are_named():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"--prompt holds 2 character\(s\).*'z', 'é'"):
        tok.encode("abzé", name="--prompt")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        tok.decode([0, 3])
    with pytest.raises(TypeError, match="integers"):
        tok.decode(np.array([0.0]))
    with pytest.raises(ValueError, match="each character once"):
        CharTokenizer("aab")
    with pytest.raises(ValueError, match="chars"):
        CharTokenizer.from_config({"chars": 3})


def test_windows_are_a_view_and_batches_pair_inputs_with_next_tokens():
    tokens = np.arange(100)
    view = windows(tokens, 8)
    assert view.shape == (92, 9) and np.shares_memory(view, tokens) and not view.flags.writeable
    x, y = random_batch(view, 5, rng=0)
    assert x.shape == y.shape == (5, 8)
    np.testing.assert_array_equal(y, x + 1)  # the targets are the inputs shifted by one
    starts = np.concatenate([random_batch(view, 50, rng=i)[0][:, 0] for i in range(40)])
    assert starts.min() == 0 and starts.max() == 91  # every window start can be drawn


def test_sequential_windows_cover_without_overlap():
    x, y = sequential_windows(np.arange(20), 6)
    assert x.shape == (3, 6)
    np.testing.assert_array_equal(x.ravel(), np.arange(18))
    np.testing.assert_array_equal(y, x + 1)


@pytest.mark.parametrize(
    ("tokens", "context", "error", "match"),
    [
        (np.arange(5), 5, ValueError, "longer than context"),
        (np.arange(5.0), 2, TypeError, "integer token ids"),
        (np.arange(6).reshape(2, 3), 2, TypeError, "1-D"),
        (np.arange(5), 0, ValueError, "context"),
    ],
)
def test_bad_windows(tokens, context, error, match):
    with pytest.raises(error, match=match):
        windows(tokens, context)
