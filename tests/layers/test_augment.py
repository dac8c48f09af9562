import numpy as np
import pytest

import glassnet as gn

GRADCHECK_CASES = {
    "RandomShift": (lambda dtype: gn.RandomShift(2, rng=0), (5, 2, 6, 7), None),
    "RandomHorizontalFlip": (lambda dtype: gn.RandomHorizontalFlip(0.5, rng=0), (6, 2, 3, 4), None),
}


def _shift_reference(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """One image moved by (a, b): y[c, h, w] = x[c, h + a, w + b], zero outside."""
    C, H, W = x.shape
    y = np.zeros_like(x)
    for h in range(H):
        for w in range(W):
            if 0 <= h + a < H and 0 <= w + b < W:
                y[:, h, w] = x[:, h + a, w + b]
    return y


def test_shift_moves_each_image_by_its_own_offset():
    x = np.random.default_rng(0).normal(size=(40, 2, 5, 6)).astype(np.float32)
    layer = gn.RandomShift(2, rng=3)
    y = layer(x)
    i, j, _ = layer._cache
    for n in range(len(x)):
        np.testing.assert_array_equal(y[n], _shift_reference(x[n], i[n] - 2, j[n] - 2))
    # over many draws every offset from -2 to 2 occurs along each axis
    offsets = []
    for _ in range(20):
        layer(x)
        offsets.append(layer._cache[0])
    assert set(np.unique(offsets)) == set(range(5))


def test_shift_backward_is_the_adjoint_of_forward():
    rng = np.random.default_rng(1)
    x, dy = rng.normal(size=(2, 6, 3, 9, 8))
    layer = gn.RandomShift(3, rng=0)
    y = layer(x)
    dx = layer.backward(dy)
    # a linear map L and its backward L^T satisfy <L x, dy> = <x, L^T dy>
    assert np.vdot(y, dy) == pytest.approx(np.vdot(x, dx))
    assert dx.flags.c_contiguous and dx.dtype == dy.dtype


def test_flip_mirrors_the_chosen_images():
    x = np.random.default_rng(2).normal(size=(30, 3, 4, 5))
    layer = gn.RandomHorizontalFlip(0.5, rng=4)
    y = layer(x)
    flip = layer._flip
    assert 0 < flip.sum() < len(x)
    np.testing.assert_array_equal(y[flip], x[flip][..., ::-1])
    np.testing.assert_array_equal(y[~flip], x[~flip])
    dy = np.random.default_rng(3).normal(size=x.shape)
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dx[flip], dy[flip][..., ::-1])
    np.testing.assert_array_equal(dx[~flip], dy[~flip])


@pytest.mark.parametrize("layer", [gn.RandomShift(2, rng=0), gn.RandomHorizontalFlip(0.5, rng=0)])
def test_eval_mode_is_the_identity_and_keeps_no_cache(layer):
    x = np.ones((2, 1, 4, 4), dtype=np.float32)
    layer.eval()
    assert layer(x) is x
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(x)


def test_fit_seed_fixes_the_augmentation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=16)

    def run():
        model = gn.Sequential(
            gn.RandomShift(1), gn.RandomHorizontalFlip(), gn.Flatten(), gn.Linear(36, 3, rng=0)
        )  # fmt: skip
        opt = gn.SGD(model.parameters(), lr=0.1)
        model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=opt, epochs=2, batch_size=8, seed=5, verbose=0)
        return model.predict(x)

    np.testing.assert_array_equal(run(), run())


def test_saved_and_loaded_with_the_model(tmp_path):
    model = gn.Sequential(gn.RandomShift(3), gn.RandomHorizontalFlip(0.25), gn.Flatten(), gn.Linear(16, 2, rng=0))
    gn.io.save(model, tmp_path / "m.gnet")
    loaded = gn.load(tmp_path / "m.gnet")
    assert [type(m).__name__ for m in loaded.layers[:2]] == ["RandomShift", "RandomHorizontalFlip"]
    assert loaded.layers[0].max_shift == 3 and loaded.layers[1].p == 0.25
    x = np.ones((2, 1, 4, 4), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: gn.RandomShift(0), ValueError),
        (lambda: gn.RandomShift(1.5), TypeError),
        (lambda: gn.RandomHorizontalFlip(1.5), ValueError),
    ],
)
def test_bad_arguments(make, error):
    with pytest.raises(error):
        make()


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gn.RandomShift(1)(np.ones((3, 4)))
    with pytest.raises(TypeError, match="numpy array"):
        gn.RandomHorizontalFlip()([[1.0]])
