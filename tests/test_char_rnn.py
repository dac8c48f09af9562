"""The recurrent language model (CharRNN) and the `glassnet train --data shakespeare --model lstm|rnn` recipes."""

import re

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli.text_recipes import RECIPES
from glassnet.models import CharRNN
from glassnet.testing import gradcheck


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_gradcheck_through_the_whole_model(cell):
    model = CharRNN(7, embedding_dim=3, hidden_size=4, cell=cell, rng=0, dtype=np.float64)
    ids = np.random.default_rng(1).integers(0, 7, size=(2, 5))
    result = gradcheck(model, ids)
    assert {"layers.0.weight", "layers.1.weight_hh", "layers.2.weight"} <= set(result.errors)


def test_it_is_the_recipes_three_layers_with_pytorchs_initial_ranges():
    model = CharRNN(65, rng=0)
    embed, lstm, head = model.layers
    assert (type(embed), type(lstm), type(head)) == (gn.Embedding, gn.LSTM, gn.Linear)
    assert (lstm.input_size, lstm.hidden_size, head.out_features) == (64, 256, 65)
    assert sum(p.data.size for p in model.parameters()) == 350_593  # torch's count for the same model
    bound = 1 / 16
    for p in (head.weight, head.bias, lstm.weight_hh):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.9 * bound
    assert 0.9 < embed.weight.data.std() < 1.1  # nn.Embedding: N(0, 1)


def _recompute_generate(model, prompt, length, temperature, top_k, seed):
    """The slow reference: every token from a fresh forward pass over the whole prefix."""
    from glassnet.models import sample as _sample

    rng = np.random.default_rng(seed)
    ids = prompt
    model.eval()
    for _ in range(length):
        model.layers[1].reset_state()
        token = _sample(model.forward(ids)[:, -1], temperature, top_k, rng)
        ids = np.concatenate([ids, token[:, None]], axis=1)
    return ids[:, prompt.shape[1] :]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_incremental_generation_equals_recomputing_the_prefix(cell):
    model = CharRNN(11, embedding_dim=5, hidden_size=6, cell=cell, rng=2, dtype=np.float64)
    prompt = np.array([[1, 4, 2], [3, 3, 0]])
    fast = model.generate(prompt, 12, temperature=0.8, top_k=5, rng=7)
    assert model.training  # generate restores the mode it found
    assert not model.layers[1].stateful
    np.testing.assert_array_equal(fast, _recompute_generate(model, prompt, 12, 0.8, 5, 7))


def test_generation_is_seeded():
    model = CharRNN(11, embedding_dim=5, hidden_size=6, rng=2)
    a, b = (model.generate(np.array([[1, 2]]), 30, rng=3) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.generate(np.array([[1, 2]]), 30, rng=4))
    assert a.dtype == np.int64 and a.min() >= 0 and a.max() < 11


def test_save_and_load_keep_the_class_and_the_outputs(tmp_path):
    model = CharRNN(9, embedding_dim=4, hidden_size=5, cell="gru", rng=0)
    model.save(tmp_path / "m.gnet", metadata={"note": "x"})
    loaded = gn.load(tmp_path / "m.gnet")
    assert isinstance(loaded, CharRNN) and loaded.cell == "gru"
    ids = np.array([[1, 2, 3, 8]])
    np.testing.assert_array_equal(loaded.predict(ids), model.predict(ids))
    np.testing.assert_array_equal(loaded.generate(ids, 5, rng=1), model.generate(ids, 5, rng=1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="cell='transformer'"):
        CharRNN(5, cell="transformer")
    with pytest.raises(ValueError, match="vocab_size=0"):
        CharRNN(0)
    model = CharRNN(5, embedding_dim=2, hidden_size=3)
    with pytest.raises(ValueError, match=r"ids must be a non-empty \(N, T\)"):
        model.generate(np.array([1, 2]), 3)
    with pytest.raises(ValueError, match="ids"):
        model.generate(np.array([[1, 7]]), 3)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([[1]]), 3, temperature=0)


def test_recipes_follow_the_reference_lstm_recipe():
    s = RECIPES["lstm"]
    assert (s.steps, s.batch_size, s.context, s.lr, s.clip, s.min_lr) == (2000, 32, 64, 2e-3, 1.0, None)
    assert isinstance(s.build(65, 64, 0), CharRNN) and s.build(65, 64, 0).cell == "lstm"
    assert isinstance(s.optimizer(s.build(65, 64, 0), s), gn.Adam)
    assert RECIPES["rnn"].build(65, 64, 0).cell == "rnn"


def test_train_and_generate_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "lstm"
    argv = ["train", "--data", "shakespeare", "--model", "lstm", "--steps", "3", "--context", "8"]
    assert cli.main([*argv, "--batch-size", "4", "--eval-interval", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^validation loss: \d+\.\d{4}$", text, re.M)
    loss = float(re.search(r"^validation loss: (\S+)$", text, re.M).group(1))
    assert 3.0 < loss < 4.6  # three steps: near log(65) = 4.17, the loss of a uniform guess
    model = gn.load(out / "model.gnet")
    assert isinstance(model, CharRNN) and model.metadata["model"] == "lstm"

    gen = ["generate", str(out / "model.gnet"), "--prompt", "ROMEO:", "--length", "40", "--seed", "0"]
    assert cli.main(gen) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) >= 46
    assert cli.main(gen) == 0
    assert capsys.readouterr().out == first  # the same seed, the same text
