"""A small CNN learns real images: Fashion-MNIST, a few thousand images, one epoch."""

import numpy as np
import pytest

import glassnet as gn


@pytest.fixture(scope="module")
def fashion():
    try:
        return gn.datasets.fashion_mnist()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


def test_small_cnn_one_epoch_on_fashion_mnist(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    rng = np.random.default_rng(0)
    model = gn.Sequential(
        gn.Conv2d(1, 8, 3, padding=1, rng=rng), gn.ReLU(), gn.MaxPool2d(2),
        gn.Conv2d(8, 16, 3, padding=1, rng=rng), gn.ReLU(), gn.MaxPool2d(2),
        gn.Flatten(), gn.Linear(16 * 7 * 7, 64, init="he_uniform", rng=rng), gn.ReLU(), gn.Linear(64, 10, rng=rng),
    )  # fmt: skip
    history = model.fit(
        x_train[:4000], y_train[:4000], loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=2e-3),
        epochs=1, batch_size=32, seed=0, verbose=0,
    )  # fmt: skip
    assert np.isfinite(history["loss"][0])
    accuracy = model.evaluate(x_test[:2000], y_test[:2000], metrics=["accuracy"])["accuracy"]
    assert accuracy >= 0.75, accuracy  # chance is 0.10
