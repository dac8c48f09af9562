"""Generation and text at their edges: tiny temperatures, NaN weights, bad views, lone surrogates, huge batches."""

import warnings

import numpy as np
import pytest

from glassnet.datasets import CharTokenizer, random_batch, windows
from glassnet.models import GPT, CharRNN, gpt


def _models():
    return [
        gpt(vocab_size=7, context=8, n_layer=1, n_head=2, n_embd=8, rng=0),
        CharRNN(7, embedding_dim=3, hidden_size=4, cell="lstm", rng=0),
    ]


@pytest.mark.parametrize("model", _models(), ids=["gpt", "lstm"])
@pytest.mark.parametrize("temperature", [1e-310, 5e-324, 1e-7])
def test_a_tiny_temperature_is_greedy_without_warnings(model, temperature):
    prompt = np.array([[1, 2, 3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny = model.generate(prompt, 6, temperature=temperature, rng=0)
    # greedy: every seed gives the same text, the argmax of each step
    assert np.array_equal(tiny, model.generate(prompt, 6, temperature=temperature, rng=1))
    assert np.array_equal(tiny, model.generate(prompt, 6, temperature=1e-9, top_k=3, rng=2))
    if isinstance(model, GPT):  # the first token is the argmax of the prompt's last logits
        assert tiny[0, 0] == model.predict(prompt)[0, -1].argmax()


@pytest.mark.parametrize("model", _models(), ids=["gpt", "lstm"])
def test_a_model_with_nan_weights_is_an_error_not_newlines(model):
    for p in model.parameters():
        p.data[...] = np.nan
    with pytest.raises(ValueError, match="logits hold NaN or infinite values.*weights are probably not finite"):
        model.generate(np.array([[1, 2]]), 5, rng=0)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf")])
def test_a_temperature_that_is_no_temperature_names_it(temperature):
    with pytest.raises(ValueError, match="temperature"):
        _models()[0].generate(np.array([[1]]), 2, temperature=temperature)


@pytest.mark.parametrize(
    ("view", "match"),
    [
        (np.zeros((0, 4), dtype=np.int64), r"shape \(0, 4\)"),
        (np.arange(5), r"shape \(5,\)"),
        (np.zeros((3, 1), dtype=np.int64), r"shape \(3, 1\)"),
        ([[1, 2], [3, 4]], "Received: view of shape list"),
    ],
)
def test_random_batch_refuses_what_is_not_a_view_of_windows(view, match):
    with pytest.raises(ValueError, match="view must be the windows of a token array.*" + match):
        random_batch(view, 2, rng=0)
    with pytest.raises(TypeError, match="integer token ids"):
        random_batch(np.zeros((3, 4)), 2, rng=0)


def test_random_batch_refuses_a_batch_far_too_large_before_drawing():
    view = windows(np.arange(30_000) % 7, 20_000)
    with pytest.raises(
        ValueError, match=r"batch_size=1000000 windows of context \+ 1 = 20001 tokens.*lower batch_size"
    ):
        random_batch(view, 1_000_000, rng=0)
    x, y = random_batch(view, 2, rng=0)
    assert x.shape == y.shape == (2, 20_000)


@pytest.mark.parametrize("call", ["init", "from_text", "encode"])
def test_a_lone_surrogate_is_named_not_a_unicode_error(call):
    text = "ab\ud800c"
    with pytest.raises(ValueError, match=r"lone surrogate '\\ud800' at position 2") as err:
        if call == "init":
            CharTokenizer(text)
        elif call == "from_text":
            CharTokenizer.from_text(text)
        else:
            CharTokenizer("abc").encode(text, name="prompt")
    assert not isinstance(err.value, UnicodeError)
    assert ("prompt" if call == "encode" else "chars" if call == "init" else "text") in str(err.value)
