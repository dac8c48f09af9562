"""GPT-2's byte-level BPE against Hugging Face tokenizers, on Shakespeare and on hostile Unicode."""

import json

import pytest

import glassnet.datasets as gd
from glassnet.datasets.bpe import BPETokenizer, bytes_to_unicode, pre_tokenize

tokenizers = pytest.importorskip("tokenizers")

HOSTILE = [
    "",
    " ",
    "Hello world! It's 2024, isn't it? I'LL go   now...\n\n\t end  ",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 keycap 1️⃣",
    "combining: e\u0301 a\u0300\u0323 Z\u0335\u0321\u0358a\u0336l\u0337g\u0338o, decomposed ñ vs n\u0303",
    "CJK 日本語のテキスト、中文字符。한국어 텍스트 ４２ 一二三",
    "control \x00\x01\x07\x1b[31m\x1c\x1d\x1e\x1f\x7f\x85 and \u200b\u200d\u2028\u2029\ufeff zero widths",
    "spaces\u00a0\u1680\u2000\u2003\u202f\u205f\u3000ideographic",
    "numbers ² ½ Ⅻ ٣ ४ 𝟙 and letters ǅ ʰ ß ﬁ 𝔘",
    "\ufffd replacement, private \ue000, astral 𐍈 𝄞, non-characters \ufdd0\uffff",
    "'s 're 've 'm 'll 'd 'S 'RE x's y'know ' '' '''",
    "  leading and trailing   \n  \r\n",
    "tabs\t\t\tand\x0b\x0cfeeds",
    "<|endoftext|>text<|endoftext|> <|endoftext|>",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A byte-level BPE trained by Hugging Face tokenizers on the shipped Shakespeare, saved both ways."""
    folder = tmp_path_factory.mktemp("bpe")
    train, _ = gd.shakespeare()
    theirs = tokenizers.ByteLevelBPETokenizer()  # GPT-2's: models.BPE + pre_tokenizers.ByteLevel, no prefix space
    theirs.train_from_iterator([train[:200_000]], vocab_size=1000, min_frequency=2, special_tokens=["<|endoftext|>"])
    theirs.save_model(str(folder))  # vocab.json + merges.txt
    theirs.save(str(folder / "tokenizer.json"))
    return theirs, folder


def test_shakespeare_ids_match_tokenizers_both_file_layouts(trained):
    theirs, folder = trained
    train, val = gd.shakespeare()
    text = train + val
    expected = theirs.encode(text).ids
    for ours in (
        BPETokenizer.from_files(folder / "vocab.json", folder / "merges.txt"),
        BPETokenizer.from_tokenizer_json(folder / "tokenizer.json"),
    ):
        ids = ours.encode(text)
        assert ids == expected
        assert ours.decode(ids) == text == theirs.decode(expected)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_unicode_matches_tokenizers(trained, text):
    theirs, folder = trained
    ours = BPETokenizer.load(folder)
    ids = ours.encode(text)
    assert ids == theirs.encode(text).ids
    assert ours.decode(ids) == text


def test_pre_tokenizer_matches_gpt2_pattern_on_every_code_point_class():
    split = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    table = bytes_to_unicode()
    # one sample of every general category, plus the ASCII range, around letters, digits and spaces
    samples = [chr(c) for c in range(0x250)] + list("ǅʰ٣४ⅫⅯ²½㆒〇𝟙𐍈\u0301\u20dd\u00ad\u200b\u2028\u3000\U000e0001")
    for sample in samples:
        text = f"a{sample}b 1{sample}2 {sample}{sample} x {sample} "
        theirs = [piece for piece, _ in split.pre_tokenize_str(text)]
        ours = ["".join(table[b] for b in piece.encode("utf-8")) for piece in pre_tokenize(text)]
        assert ours == theirs, repr(sample)


def test_cut_characters_decode_as_gpt2_does(trained):
    theirs, folder = trained
    ours = BPETokenizer.load(folder)
    ids = ours.encode("😀")
    assert len(ids) > 1  # an emoji's 4 bytes are several tokens here
    assert ours.decode(ids[:-1]) == theirs.decode(ids[:-1]) == "\ufffd"


def test_lone_surrogates_are_refused_as_gpt2_refuses_them(trained):
    _, folder = trained
    ours = BPETokenizer.load(folder)
    with pytest.raises(ValueError, match=r"lone surrogate U\+D800 at position 1"):
        ours.encode("a\ud800b")
    with pytest.raises(TypeError):
        tokenizers.ByteLevelBPETokenizer.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")).encode(
            "a\ud800b"
        )


def test_training_reproduces_the_textbook_merges_and_tokenizers():
    text = "low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3
    ours = BPETokenizer.train(text, vocab_size=300)
    # by hand: "es" and "est" occur 9 times (newest x6, widest x3); then "lo", "low" 7 times
    assert ours.merges[:4] == [("e", "s"), ("es", "t"), ("l", "o"), ("lo", "w")]
    theirs = tokenizers.ByteLevelBPETokenizer()
    theirs.train_from_iterator([text], vocab_size=300, min_frequency=2, special_tokens=["<|endoftext|>"])
    assert ours.vocab == theirs.get_vocab()
    assert ours.decode(ours.encode("the lowest newer")) == "the lowest newer"


def test_training_on_shakespeare_matches_tokenizers(trained):
    train, _ = gd.shakespeare()
    lines = []
    ours = BPETokenizer.train(train[:200_000], vocab_size=1000, report=lines.append)
    theirs, _ = trained
    assert ours.vocab == theirs.get_vocab()
    assert lines[0].startswith("merge 1: ") and len(lines) == 1000 - 257


def test_save_round_trip_and_transformers_reads_it(tmp_path):
    transformers = pytest.importorskip("transformers")
    text = "To be, or not to be, that is the question: 😀 ünïcödé"
    ours = BPETokenizer.train(text * 20, vocab_size=300)
    ours.save(tmp_path)
    again = BPETokenizer.load(tmp_path)
    assert again.vocab == ours.vocab and again.merges == ours.merges
    assert again.encode(text) == ours.encode(text)
    fast = transformers.GPT2TokenizerFast.from_pretrained(tmp_path)  # a folder of vocab.json + merges.txt
    assert fast(text)["input_ids"] == ours.encode(text)
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["<|endoftext|>"] == 0


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(TypeError, match="text must be a str"):
        BPETokenizer.train(b"bytes", vocab_size=300)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vocab_size must be at least 257"):
        BPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(ValueError, match="lacks"):
        BPETokenizer({"a": 0}, [])
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b c\n")
    (tmp_path / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(bytes_to_unicode().values())}))
    with pytest.raises(ValueError, match="line 2 is not 'a b'"):
        BPETokenizer.load(tmp_path)
    tok = BPETokenizer.train("abc abc", vocab_size=260)
    with pytest.raises(ValueError, match="not a token id"):
        tok.decode([10**6])
    with pytest.raises(ValueError, match="neither vocab.json"):
        BPETokenizer.load(tmp_path / "nothing")


def test_tokenizer_json_with_options_gpt2_lacks_is_refused(trained, tmp_path):
    _, folder = trained
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    for change, words in [
        (lambda s: s["model"].update(ignore_merges=True), "ignore_merges"),
        (lambda s: s["model"].update(dropout=0.1), "dropout"),
        (lambda s: s.update(normalizer={"type": "NFC"}), "normalizer"),
        (lambda s: s.update(pre_tokenizer={"type": "Whitespace"}), "only GPT-2's pre-tokenizer"),
    ]:
        altered = json.loads(json.dumps(spec))
        change(altered)
        (tmp_path / "tokenizer.json").write_text(json.dumps(altered), encoding="utf-8")
        with pytest.raises(ValueError, match=words):
            BPETokenizer.from_tokenizer_json(tmp_path / "tokenizer.json")


def test_config_round_trip_through_a_model_files_metadata(tmp_path):
    import numpy as np

    import glassnet as gn

    tok = BPETokenizer.train("the quick brown fox jumps over the lazy dog " * 10, vocab_size=290)
    model = gn.Sequential(gn.Linear(2, 2, rng=0))
    model.save(tmp_path / "m.gnet", metadata={"tokenizer": tok.to_config()})
    again = BPETokenizer.from_config(gn.load(tmp_path / "m.gnet").metadata["tokenizer"])
    assert again.vocab == tok.vocab and again.merges == tok.merges and again.special_tokens == tok.special_tokens
    assert again.encode("the lazy fox") == tok.encode("the lazy fox")
    assert np.array_equal(np.array(again.encode("dog")), np.array(tok.encode("dog")))
    with pytest.raises(ValueError, match="must be"):
        BPETokenizer.from_config({"chars": "abc"})
