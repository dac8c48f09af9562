from pathlib import Path

import numpy as np
import pytest

import glassnet.datasets as gd


def _check_matches(splits, arrays):
    (x_train, y_train), (x_test, y_test) = splits
    for x, y, prefix in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        images, labels = arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"]
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == np.float32
        assert y.shape == (len(labels),) and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        np.testing.assert_array_equal(x[:, 0], images / np.float32(255))
        np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("compress", [True, False])
def test_loads_from_path(isolated, idx, compress):
    arrays = idx.fake_set()
    folder = idx.write_set(isolated / "mine", arrays, compress=compress)
    _check_matches(gd.mnist(path=folder), arrays)
    _check_matches(gd.fashion_mnist(path=str(folder)), arrays)


def test_raw_and_flat(isolated, idx):
    arrays = idx.fake_set()
    folder = idx.write_set(isolated / "mine", arrays)
    (x_train, _), (x_test, _) = gd.mnist(folder, raw=True)
    assert x_train.dtype == np.uint8 and x_train.shape == (12, 1, 28, 28)
    np.testing.assert_array_equal(x_test[:, 0], arrays["t10k-images-idx3-ubyte"])
    (x_flat, _), _ = gd.mnist(folder, flat=True)
    assert x_flat.shape == (12, 784) and x_flat.dtype == np.float32


def test_search_order(isolated, idx, monkeypatch):
    sets = {where: idx.fake_set(seed=seed) for seed, where in enumerate(["path", "env_sub", "env", "cache", "system"])}
    env = isolated / "data"
    folders = {
        "path": isolated / "given",
        "env_sub": env / "fashion-mnist",
        "env": env,
        "cache": isolated / "home" / ".cache" / "glassnet" / "fashion-mnist",
        "system": isolated / "system" / "fashion-mnist",
    }
    for where, folder in folders.items():
        idx.write_set(folder, sets[where])
    monkeypatch.setenv("GLASSNET_DATA", str(env))

    def labels(**kwargs):
        return gd.fashion_mnist(raw=True, **kwargs)[0][1]

    def origin(**kwargs):
        found = labels(**kwargs)
        return next(w for w, s in sets.items() if np.array_equal(s["train-labels-idx1-ubyte"], found))

    assert origin(path=folders["path"]) == "path"
    assert origin() == "env_sub"
    (folders["env_sub"] / "t10k-labels-idx1-ubyte.gz").unlink()  # an incomplete folder is passed over
    assert origin() == "env"
    monkeypatch.delenv("GLASSNET_DATA")
    assert origin() == "cache"
    for f in folders["cache"].iterdir():
        f.unlink()
    assert origin() == "system"


def test_missing_files_error_lists_every_place_and_the_remedies(isolated, monkeypatch):
    env = isolated / "data"
    (env / "fashion-mnist").mkdir(parents=True)
    (env / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    monkeypatch.setenv("GLASSNET_DATA", str(env))
    given = isolated / "given"
    with pytest.raises(FileNotFoundError) as info:
        gd.fashion_mnist(path=given)
    message = str(info.value)
    for place in (
        given,
        env / "fashion-mnist",
        env,
        isolated / "home" / ".cache" / "glassnet" / "fashion-mnist",
        isolated / "system" / "fashion-mnist",
    ):
        assert str(place) in message
    assert "missing train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in message
    assert "no such folder" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message and "GLASSNET_DATA" in message


def test_missing_mnist_without_env_says_so(isolated):
    with pytest.raises(FileNotFoundError, match=r"\$GLASSNET_DATA is not set") as info:
        gd.mnist()
    assert str(isolated / "home" / ".cache" / "glassnet" / "mnist") in str(info.value)
    assert "apt-get" not in str(info.value)


def test_image_and_label_counts_must_agree(isolated, idx):
    arrays = idx.fake_set()
    arrays["t10k-labels-idx1-ubyte"] = arrays["t10k-labels-idx1-ubyte"][:-1]
    folder = idx.write_set(isolated / "mine", arrays)
    with pytest.raises(ValueError, match="holds 5 images but .*t10k-labels-idx1-ubyte.gz holds 4 labels"):
        gd.mnist(folder)


def test_labels_out_of_range_and_wrong_kinds_of_file(isolated, idx):
    arrays = idx.fake_set()
    arrays["train-labels-idx1-ubyte"][3] = 10
    folder = idx.write_set(isolated / "a", arrays)
    with pytest.raises(ValueError, match="labels must be 0..9, found 10"):
        gd.mnist(folder)
    arrays = idx.fake_set()
    arrays["train-images-idx3-ubyte"] = arrays["train-images-idx3-ubyte"].reshape(12, -1)
    folder = idx.write_set(isolated / "b", arrays)
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, H, W\)"):
        gd.mnist(folder)


def test_bad_arguments(isolated):
    afile = isolated / "a-file"
    afile.write_bytes(b"")
    with pytest.raises(ValueError, match="must be a folder"):
        gd.mnist(afile)
    with pytest.raises(TypeError, match="path=42"):
        gd.mnist(42)
    with pytest.raises(TypeError, match="download='yes'"):
        gd.mnist(download="yes")
    with pytest.raises(TypeError, match="raw=1"):
        gd.fashion_mnist(raw=1)


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    (x_train, y_train), (x_test, y_test) = gd.fashion_mnist(FASHION)
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert len(gd.FASHION_MNIST_CLASSES) == 10 and gd.FASHION_MNIST_CLASSES[9] == "Ankle boot"
