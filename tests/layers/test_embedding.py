import numpy as np
import pytest

import glassnet as gn
from glassnet.layers.embedding import scatter_add
from glassnet.testing import gradcheck

GRADCHECK_CASES = {
    "Embedding": (
        lambda dtype: gn.Embedding(7, 3, rng=0, dtype=dtype),
        (2, 5),
        lambda rng, shape: rng.integers(0, 7, size=shape),
    ),
}


def test_forward_gathers_rows_and_keeps_ids_uncast():
    emb = gn.Embedding(5, 2, rng=0)
    ids = np.array([[4, 0, 4]])
    y = emb(ids)
    assert y.dtype == np.float32 and y.shape == (1, 3, 2)
    np.testing.assert_array_equal(y[0], emb.weight.data[[4, 0, 4]])
    assert gn.Embedding.casts_input is False


def test_backward_sums_repeated_ids():
    emb = gn.Embedding(4, 2, rng=0, dtype=np.float64)
    ids = np.array([[1, 3, 1], [1, 0, 3]])
    dy = np.random.default_rng(0).normal(size=(2, 3, 2))
    emb(ids)
    assert emb.backward(dy) is None
    expected = np.zeros((4, 2))
    np.add.at(expected, ids.reshape(-1), dy.reshape(-1, 2))
    np.testing.assert_allclose(emb.weight.grad, expected)
    assert gradcheck(emb, ids).ok


def test_scatter_add_matches_add_at_and_accumulates():
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 9, size=50)
    values = rng.normal(size=(50, 4))
    target = rng.normal(size=(9, 4))
    expected = target.copy()
    np.add.at(expected, rows, values)
    scatter_add(target, rows, values)
    np.testing.assert_allclose(target, expected)


def test_matches_pytorch_in_float64():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours = gn.Embedding(6, 4, rng=0, dtype=np.float64)
    theirs = torch.nn.Embedding(6, 4, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
    ids = rng.integers(0, 6, size=(3, 5))
    dy = rng.normal(size=(3, 5, 4))
    yt = theirs(torch.from_numpy(ids))
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(ours(ids), yt.detach().numpy(), rtol=0, atol=0)
    ours.backward(dy)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ids", [np.array([[0, 7]]), np.array([[-1, 2]])])
def test_ids_out_of_range_are_value_errors_that_echo_them(ids):
    with pytest.raises(ValueError, match=r"\[0, 7\).*such as \[(7|-1)\]"):
        gn.Embedding(7, 2)(ids)


@pytest.mark.parametrize("ids", [np.array([[0.0, 1.0]]), np.array([[True, False]])])
def test_non_integer_ids_are_type_errors(ids):
    with pytest.raises(TypeError, match="integer ids"):
        gn.Embedding(7, 2)(ids)


def test_bad_sizes_and_config_round_trip():
    with pytest.raises(ValueError, match="num_embeddings"):
        gn.Embedding(0, 2)
    with pytest.raises(TypeError, match="embedding_dim"):
        gn.Embedding(3, 2.5)
    emb = gn.Embedding(3, 2, std=0.02, rng=1)
    assert type(emb)(**emb.get_config()).get_config() == emb.get_config()
    assert abs(float(emb.weight.data.std()) - 0.02) < 0.02
