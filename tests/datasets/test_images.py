"""Folders of images as arrays: layout, colour, sizes, hostile files, predict-time loading, real digits."""

from __future__ import annotations

import json
import os
import struct
import sys
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.datasets import (
    ImagePreprocessing,
    RecordError,
    apply,
    decode,
    from_image_folder,
    preprocessing_from_json,
    preprocessing_from_metadata,
)
from glassnet.datasets._prep import split_indices

Image = pytest.importorskip("PIL.Image")


def save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def gray_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 5, side: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        for i in range(per_class):
            save(root / c / f"{i}.png", rng.integers(0, 256, size=(side, side), dtype=np.uint8))
    return root


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG of a few dozen bytes whose header declares width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_gray_folder_becomes_nchw_in_unit_range_with_sorted_classes(tmp_path: Path) -> None:
    root = gray_folder(tmp_path / "pets", classes=("dog", "cat", "bird"))
    data = from_image_folder(root, val_size=0.0, test_size=0.2, seed=0)
    prep = data.preprocessing
    assert prep.classes == ["bird", "cat", "dog"] and prep.channels == 1
    assert prep.size == (16, 16)  # the median side, 12, clipped up to 16
    assert data.x_train.shape == (12, 1, 16, 16) and data.x_train.dtype == np.float32
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert sorted([*data.y_train.tolist(), *data.y_test.tolist()]) == [0] * 5 + [1] * 5 + [2] * 5
    # a file's pixels, resized as Pillow does, divided by 255
    first = from_image_folder(root, size=12, val_size=0.0, test_size=0.2, seed=0)
    train, _, _ = split_indices(15, 0.0, 0.2, 0)
    files = sorted((root / c / f"{i}.png" for c in ("bird", "cat", "dog") for i in range(5)), key=str)
    expected = np.asarray(Image.open(files[train[0]]), dtype=np.float32) / 255
    np.testing.assert_array_equal(first.x_train[0, 0], expected)


def test_any_colour_image_makes_every_image_rgb_and_mixed_sizes_are_resized(tmp_path: Path) -> None:
    root = gray_folder(tmp_path / "d", per_class=3, side=40)
    save(root / "cat" / "wide.jpg", np.full((20, 70, 3), (255, 0, 0), dtype=np.uint8))
    save(root / "dog" / "rgba.png", np.full((30, 30, 4), 200, dtype=np.uint8))
    data = from_image_folder(root, val_size=0.0, test_size=0.0 + 0.1)
    assert data.preprocessing.channels == 3 and data.preprocessing.size == (40, 40)
    assert data.x_train.shape[1:] == (3, 40, 40)
    gray = from_image_folder(root, color="L", size=(8, 10), val_size=0.0, test_size=0.1)
    assert gray.x_train.shape[1:] == (1, 8, 10)
    with pytest.raises(ValueError, match="color must be None, 'L' or 'RGB'"):
        from_image_folder(root, color="CMYK")


def test_every_listed_format_is_read_and_gray_gifs_stay_gray(tmp_path: Path) -> None:
    ramp = np.arange(100, dtype=np.uint8).reshape(10, 10) * 2
    for i, ext in enumerate(("png", "jpg", "jpeg", "bmp", "gif", "PNG")):
        save(tmp_path / "d" / ("a" if i % 2 else "b") / f"{i}.{ext}", ramp)
    Image.fromarray(ramp).convert("P").save(tmp_path / "d" / "a" / "palette.png")
    data = from_image_folder(tmp_path / "d", size=10, val_size=0.0, test_size=0.1)
    assert data.preprocessing.channels == 1 and len(data.x_train) + len(data.x_test) == 7
    lossless = np.concatenate([data.x_train, data.x_test])[:, 0]
    assert sum(np.array_equal(image, ramp / np.float32(255)) for image in lossless) >= 4  # png, bmp, gif, palette


def test_corrupt_and_truncated_files_are_named_skipped_and_counted(tmp_path: Path) -> None:
    root = gray_folder(tmp_path / "d")
    (root / "cat" / "junk.png").write_bytes(b"not an image at all")
    whole = save(root / "dog" / "whole.png", np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8))
    (root / "dog" / "cut.png").write_bytes(whole.read_bytes()[:-200])
    (root / "dog" / "notes.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning, match=r"skipped 2 of 13 files .*cat/junk\.png .*dog/cut\.png"):
        data = from_image_folder(root, val_size=0.0, test_size=0.1)
    assert [name for name, _ in data.skipped] == ["cat/junk.png", "dog/cut.png"]
    assert len(data.x_train) + len(data.x_test) == 11
    with pytest.raises(ValueError, match=r"cat/junk\.png can't be read as an image .*strict=True refuses it"):
        from_image_folder(root, strict=True)


def test_a_decompression_bomb_is_refused_before_it_allocates(tmp_path: Path) -> None:
    root = gray_folder(tmp_path / "d")
    (root / "cat" / "bomb.png").write_bytes(png_declaring(100_000, 100_000))
    (root / "dog" / "big.png").write_bytes(png_declaring(9_000, 9_000))  # under Pillow's limit, over ours
    tracemalloc.start()
    try:
        with pytest.warns(UserWarning, match="skipped 2 of 12"):
            data = from_image_folder(root, val_size=0.0, test_size=0.1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # 100,000 x 100,000 gray pixels would be 9.3 GiB
    reasons = dict(data.skipped)
    assert "decompression bomb" in reasons["cat/bomb.png"]
    assert "declares 9000 x 9000 pixels, more than max_pixels=50,000,000" in reasons["dog/big.png"]
    with pytest.raises(ValueError, match="bomb.png can't be read"):
        from_image_folder(root, strict=True)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({"cat": 3}, "has one class folder ('cat'); a classifier needs at least two"),
        ({"cat": 3, "dog": 0}, "dog holds no images"),
        ({}, "has no class folders; expected"),
        ({"": 3}, "holds images directly: put each class's images in a sub-folder"),
    ],
)
def test_folders_that_are_not_a_class_layout_are_refused(tmp_path: Path, layout: dict[str, int], expected: str) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for name, count in layout.items():
        (root / name).mkdir(exist_ok=True)
        if count:
            gray_folder(root / name, classes=("",), per_class=count)
    with pytest.raises(ValueError) as err:
        from_image_folder(root)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_unreadable_everything_not_a_folder_and_too_many_images(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        (root / c / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="none of its 2 image files could be read"):
        from_image_folder(root)
    with pytest.raises(ValueError, match="is not a folder"):
        from_image_folder(root / "a" / "x.png")
    with pytest.raises(ValueError, match="more than max_images=3 images"):
        from_image_folder(gray_folder(tmp_path / "e"), max_images=3)


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_symlink_loops_are_not_followed(tmp_path: Path) -> None:
    root = gray_folder(tmp_path / "d", per_class=2)
    os.symlink(root / "cat", root / "cat" / "again")  # a loop: cat/again/again/...
    os.symlink(root, root / "dog" / "up")
    data = from_image_folder(root, val_size=0.0, test_size=0.25)
    assert len(data.x_train) + len(data.x_test) == 4


def test_predict_time_loading_equals_what_training_saw(tmp_path: Path) -> None:
    root = gray_folder(tmp_path / "d")
    data = from_image_folder(root, size=10, val_size=0.2, test_size=0.2, seed=5)
    prep = ImagePreprocessing.from_json(json.loads(json.dumps(data.preprocessing.to_json())))
    labelled = apply(prep, root)
    assert labelled.y is not None and labelled.names[0].endswith(os.path.join("cat", "0.png"))
    train, val, test = split_indices(10, 0.2, 0.2, 5)
    assert np.array_equal(labelled.x[train], data.x_train) and np.array_equal(labelled.y[test], data.y_test)
    one = apply(prep, root / "dog" / "3.png")
    assert one.y is None and one.names == [str(root / "dog" / "3.png")]
    assert np.array_equal(one.x[0], labelled.x[8])
    several = apply(prep, [root / "cat", root / "dog" / "0.png"])
    assert several.x.shape == (6, 1, 10, 10) and several.y is None
    with pytest.raises(ValueError, match="is neither an image file nor a folder"):
        apply(prep, tmp_path / "missing.png")
    other = gray_folder(tmp_path / "o", classes=("cat", "fox"), per_class=1)
    assert apply(prep, other).y is None  # 'fox' is no class of the model: read as plain images
    with pytest.raises(ValueError, match="the model knows no class 'fox'"):
        prep.load_labelled(other)


def test_a_saved_model_keeps_the_record_and_names_its_classes(tmp_path: Path) -> None:
    root = gray_folder(tmp_path / "d")
    data = from_image_folder(root, size=8, val_size=0.0, test_size=0.2)
    prep = data.preprocessing
    model = gn.Sequential(gn.Flatten(), gn.Linear(64, 2, rng=0))
    model.fit(data.x_train, data.y_train, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1),
              epochs=1, verbose=0, preprocessing=prep)  # fmt: skip
    model.save(tmp_path / "m.gnet", metadata=model.metadata)
    loaded = gn.load(tmp_path / "m.gnet")
    again = preprocessing_from_metadata(loaded.metadata)
    assert isinstance(again, ImagePreprocessing) and again.to_json() == prep.to_json()
    prepared = apply(again, root / "cat")
    names, probabilities = decode(again, loaded.predict(prepared.x))
    assert names is not None and len(names) == 5 and set(names) <= {"cat", "dog"}
    assert np.array_equal(loaded.predict(prepared.x), model.predict(prepared.x))
    assert ((probabilities >= 0.5) & (probabilities <= 1)).all()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"size": [0, 8]}, "size must be an integer in [1, 4096]"),
        ({"size": [8]}, "size must be [height, width]"),
        ({"size": [10**12, 10**12]}, "size must be an integer in [1, 4096]"),
        ({"channels": 4}, "channels must be 1 or 3"),
        ({"channels": True}, "channels must be 1 or 3"),
        ({"classes": ["a"]}, "classes must be a list of 2 to"),
        ({"classes": ["a", 3]}, "classes[1] must be a string"),
        ({"version": 99}, "version 99"),
    ],
)
def test_hostile_image_records_are_refused(change: dict, expected: str) -> None:
    record = {**ImagePreprocessing((8, 8), 1, ["a", "b"]).to_json(), **change}
    with pytest.raises(RecordError) as err:
        preprocessing_from_json(record)
    assert expected in str(err.value)


def test_without_pillow_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = gray_folder(tmp_path / "d", per_class=1)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "glassnet\[images\]"'):
        from_image_folder(root)


def test_digits_as_png_folders_score_as_scikit_learns_mlp(tmp_path: Path) -> None:
    """scikit-learn's 8x8 digits written as PNG files, one folder per digit."""
    datasets = pytest.importorskip("sklearn.datasets")
    neural_network = pytest.importorskip("sklearn.neural_network")
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    bunch = datasets.load_digits()
    for i, (image, label) in enumerate(zip(bunch.images, bunch.target)):
        save(tmp_path / "digits" / str(label) / f"{i:04d}.png", np.uint8(np.round(image * 255 / 16)))
    data = from_image_folder(tmp_path / "digits", size=8, val_size=0.0, test_size=0.25, seed=0)
    assert data.preprocessing.classes == [str(i) for i in range(10)] and data.x_train.shape == (1347, 1, 8, 8)
    x_train, x_test = data.x_train.reshape(1347, 64), data.x_test.reshape(450, 64)
    rng = np.random.default_rng(0)
    model = gn.Sequential(
        gn.Linear(64, 100, init="xavier_uniform", rng=rng),
        gn.ReLU(),
        gn.Linear(100, 10, init="xavier_uniform", rng=rng),
    )
    with threadpool_limits(1):  # one BLAS thread: on a small shared machine more only wait for each other
        model.fit(x_train, data.y_train, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters(), lr=1e-3),
                  epochs=200, batch_size=200, seed=0, verbose=0)  # fmt: skip
        ours = float((model.predict(x_test).argmax(axis=1) == data.y_test).mean())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # its default 200 iterations may stop short
            theirs = neural_network.MLPClassifier(random_state=0).fit(x_train, data.y_train).score(x_test, data.y_test)
    assert ours >= theirs - 0.01 and ours > 0.95
