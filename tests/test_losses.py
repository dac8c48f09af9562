import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet.testing import gradcheck


def _cases(rng, n, c):
    probs = rng.dirichlet(np.ones(c), n)
    return {
        "SSELoss": (rng.normal(size=(n, c)), rng.normal(size=(n, c))),
        "MSELoss": (rng.normal(size=(n, c)), rng.normal(size=(n, c))),
        "BCELoss": (rng.uniform(0.05, 0.95, size=(n, c)), rng.uniform(size=(n, c))),
        "BCEWithLogitsLoss": (rng.normal(scale=3, size=(n, c)), rng.uniform(size=(n, c))),
        "CrossEntropyLoss": (rng.normal(size=(n, c)), rng.integers(0, c, n)),
        "CrossEntropyLoss/probs": (rng.normal(size=(n, c)), probs),
    }


def test_every_public_loss_has_a_gradient_check():
    losses = {
        name
        for name in gn.__all__
        if inspect.isclass(getattr(gn, name)) and issubclass(getattr(gn, name), gn.Loss) and name != "Loss"
    }
    checked = {k.split("/")[0] for k in _cases(np.random.default_rng(0), 2, 3)}
    assert losses <= checked, losses - checked


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 5), c=st.integers(2, 5), seed=st.integers(0, 1000))
def test_losses_gradcheck_random_shapes(n, c, seed):
    for name, (pred, target) in _cases(np.random.default_rng(seed), n, c).items():
        loss = getattr(gn, name.split("/")[0])()
        result = gradcheck(loss, pred, target)
        assert result.ok, (name, str(result))


def test_sse_is_the_tutorials_sum_of_squares():
    pred, y = np.array([[0.2], [0.9]]), np.array([[0.0], [1.0]])
    loss = gn.SSELoss()
    assert loss(pred, y) == pytest.approx(0.2**2 + 0.1**2)
    np.testing.assert_allclose(loss.backward(), 2 * (pred - y))


def test_cross_entropy_matches_a_direct_transcription():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = gn.CrossEntropyLoss()
    assert loss(z, y) == pytest.approx(-np.mean(np.log(p[np.arange(6), y])))
    np.testing.assert_allclose(loss.backward(), (p - np.eye(4)[y]) / 6)
    assert loss(z, np.eye(4)[y]) == pytest.approx(-np.mean(np.log(p[np.arange(6), y])))


def test_cross_entropy_is_stable_for_huge_logits():
    loss = gn.CrossEntropyLoss()
    value = loss(np.array([[1000.0, -1000.0]], dtype=np.float32), np.array([1]))
    assert value == pytest.approx(2000.0)
    assert np.isfinite(loss.backward()).all()


def test_bce_with_logits_is_stable_and_matches_bce():
    z = np.array([[-30.0, -2.0, 0.0, 3.0, 800.0]])
    t = np.array([[0.0, 1.0, 0.5, 1.0, 1.0]])
    value = gn.BCEWithLogitsLoss()(z, t)
    assert np.isfinite(value)
    mid = slice(1, 4)
    p = 1 / (1 + np.exp(-z[:, mid]))
    assert gn.BCEWithLogitsLoss()(z[:, mid], t[:, mid]) == pytest.approx(gn.BCELoss()(p, t[:, mid]))


def test_bce_clamps_log_at_minus_100_like_pytorch():
    assert gn.BCELoss()(np.array([0.0]), np.array([1.0])) == pytest.approx(100.0)


def test_float32_losses_return_float32_gradients():
    rng = np.random.default_rng(0)
    for name, (pred, target) in _cases(rng, 3, 4).items():
        loss = getattr(gn, name.split("/")[0])()
        loss(pred.astype(np.float32), target)
        assert loss.backward().dtype == np.float32, name


@pytest.mark.parametrize("loss", [gn.MSELoss(), gn.SSELoss(), gn.BCELoss(), gn.BCEWithLogitsLoss()])
def test_mismatched_shapes_are_value_errors(loss):
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 4\)"):
        loss(np.full((3, 2), 0.5), np.zeros((3, 4)))


def test_n_targets_fit_an_n_by_1_output():
    assert gn.MSELoss()(np.ones((3, 1)), np.zeros(3)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        (np.array([0, 3]), ValueError, r"\[0, 3\].*3 classes"),
        (np.array([-1, 0]), ValueError, r"\[-1, 0\]"),
        (np.array([0.5, 1.0]), TypeError, "integer"),
        (np.array(["a", "b"]), TypeError, "integer"),
        (np.zeros((2, 5)), ValueError, r"\(2,\).*\(2, 3\)"),
    ],
)
def test_cross_entropy_rejects_bad_labels(target, error, match):
    with pytest.raises(error, match=match):
        gn.CrossEntropyLoss()(np.zeros((2, 3)), target)


def test_float_labels_with_integer_values_are_accepted():
    assert gn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, 2.0])) == pytest.approx(np.log(3))


def test_bce_rejects_values_outside_0_1():
    with pytest.raises(ValueError, match="BCEWithLogitsLoss"):
        gn.BCELoss()(np.array([1.5]), np.array([1.0]))


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="loss"):
        gn.MSELoss().backward()


def test_cross_entropy_on_sequences_gradcheck_and_pytorch():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(2, 3, 5)), rng.integers(0, 5, (2, 3))
    assert gradcheck(gn.CrossEntropyLoss(), z, y).ok
    torch = pytest.importorskip("torch")
    zt = torch.from_numpy(z).requires_grad_()
    lt = torch.nn.functional.cross_entropy(zt.reshape(-1, 5), torch.from_numpy(y).reshape(-1))
    lt.backward()
    loss = gn.CrossEntropyLoss()
    assert loss(z, y) == pytest.approx(lt.item(), rel=1e-12)
    grad = loss.backward()
    assert grad.shape == z.shape
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_on_sequences_rejects_wrong_label_shapes():
    with pytest.raises(ValueError, match=r"\(N, T\).*\(2, 3\).*target \(2,\)"):
        gn.CrossEntropyLoss()(np.zeros((2, 3, 4)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, T, V\)"):
        gn.CrossEntropyLoss()(np.zeros((2, 3, 4, 5)), np.zeros(2, dtype=int))
