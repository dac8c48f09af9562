"""Model files: exact round trips, and hostile or broken files rejected without running anything."""

import json
import os
import pathlib
import pickle
import warnings
import zipfile

import numpy as np
import pytest

import glassnet as gn
from glassnet import registry


def _trained_model(dtype):
    rng = np.random.default_rng(0)
    model = gn.Sequential(
        gn.BatchNorm2d(2, dtype=dtype),
        gn.Flatten(),
        gn.Linear(2 * 3 * 3, 6, rng=1, dtype=dtype),
        gn.BatchNorm1d(6, momentum=0.3, dtype=dtype),
        gn.LeakyReLU(0.1),
        gn.Dropout(0.2, rng=2),
        gn.Sequential(gn.Linear(6, 4, init="he_normal", rng=3, dtype=dtype), gn.Tanh()),
        gn.Linear(4, 3, bias=False, rng=4, dtype=dtype),
        gn.Softmax(),
    )
    x = rng.normal(1.0, 2.0, size=(8, 2, 3, 3)).astype(dtype)
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, size=8)]
    model.fit(
        x,
        y,
        loss=gn.MSELoss(),
        optimizer=gn.Adam(model.parameters(), lr=0.01),
        epochs=3,
        batch_size=4,
        seed=0,
        verbose=0,
    )
    return model, x


def _entries(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _write(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data if isinstance(data, bytes) else json.dumps(data))


def _small_file(tmp_path):
    path = tmp_path / "small.gn"
    gn.Sequential(gn.Linear(3, 2, rng=0), gn.BatchNorm1d(2)).save(path)
    entries = _entries(path)
    return path, entries, json.loads(entries["model.json"])


def _rewritten(tmp_path, change, name="changed.gn"):
    """The small model's file with ``change(entries, header)`` applied."""
    _, entries, header = _small_file(tmp_path)
    change(entries, header)
    entries["model.json"] = json.dumps(header).encode()
    path = tmp_path / name
    _write(path, entries)
    return path


# -- round trips ------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_gives_bit_identical_predictions(tmp_path, dtype):
    model, x = _trained_model(dtype)
    assert not np.array_equal(model.layers[0].running_mean, 0)  # buffers carry trained values
    path = tmp_path / "model.gn"
    model.save(path)
    loaded = gn.load(path)
    assert type(loaded) is gn.Sequential
    assert loaded.get_config() == model.get_config()
    expected, got = model.state_dict(), loaded.state_dict()
    assert list(got) == list(expected)
    for name in expected:
        assert got[name].dtype == expected[name].dtype
        np.testing.assert_array_equal(got[name], expected[name])
    out = loaded.predict(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, model.predict(x))


def test_a_small_cnn_round_trips(tmp_path):
    model = gn.Sequential(
        gn.Conv2d(1, 3, 3, padding=1, rng=0),
        gn.BatchNorm2d(3),
        gn.ReLU(),
        gn.MaxPool2d(2),
        gn.AvgPool2d(2),
        gn.Flatten(),
        gn.Linear(3 * 2 * 2, 2, rng=1),
    )
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    model.train()
    model(x)  # one training pass moves the running statistics
    model.save(tmp_path / "cnn.gn")
    np.testing.assert_array_equal(gn.load(tmp_path / "cnn.gn").predict(x), model.predict(x))


def test_single_layer_round_trip_and_str_path(tmp_path):
    layer = gn.Linear(4, 2, rng=0, dtype=np.float64)
    gn.io.save(layer, str(tmp_path / "linear.gn"))
    loaded = gn.load(str(tmp_path / "linear.gn"))
    assert isinstance(loaded, gn.Linear) and loaded.weight.data.dtype == np.float64
    np.testing.assert_array_equal(loaded.weight.data, layer.weight.data)


def test_file_layout(tmp_path):
    path, entries, header = _small_file(tmp_path)
    assert list(entries)[0] == "model.json"
    assert set(entries) == {
        "model.json",
        "arrays/layers.0.weight",
        "arrays/layers.0.bias",
        "arrays/layers.1.weight",
        "arrays/layers.1.bias",
        "arrays/layers.1.running_mean",
        "arrays/layers.1.running_var",
    }
    assert header["format"] == "glassnet-model" and header["version"] == 1
    assert header["architecture"]["class"] == "Sequential"
    assert [layer["class"] for layer in header["architecture"]["config"]["layers"]] == ["Linear", "BatchNorm1d"]
    assert header["arrays"]["layers.0.weight"] == {"dtype": "float32", "shape": [3, 2]}
    with zipfile.ZipFile(path) as zf:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
    weight = np.frombuffer(entries["arrays/layers.0.weight"], dtype="<f4").reshape(3, 2)
    np.testing.assert_array_equal(weight, gn.Linear(3, 2, rng=0).weight.data)


def test_the_same_model_gives_the_same_bytes(tmp_path):
    model = gn.Sequential(gn.Linear(3, 2, rng=0), gn.Sigmoid())
    model.save(tmp_path / "a.gn")
    model.save(tmp_path / "b.gn")
    assert (tmp_path / "a.gn").read_bytes() == (tmp_path / "b.gn").read_bytes()


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "model.gn"
    gn.Linear(3, 2, rng=0).save(path)
    gn.Linear(3, 5, rng=0).save(path)
    assert gn.load(path).out_features == 5
    assert os.listdir(tmp_path) == ["model.gn"]


class _Unregistered(gn.Module):
    def forward(self, x):
        return x


def test_a_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.gn"
    gn.Linear(3, 2, rng=0).save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="register_layer"):
        gn.Sequential(gn.Linear(3, 2), _Unregistered()).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.gn"]


def test_registered_user_layers_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Scale(gn.Module):
        def __init__(self, factor=2.0):
            super().__init__()
            if not isinstance(factor, float):
                raise TypeError(f"factor must be a float. Received: factor={factor!r}")
            self.factor = factor

        def forward(self, x):
            return x * self.factor

        def get_config(self):
            return {"factor": self.factor}

    assert gn.register_layer(Scale) is Scale
    gn.register_layer(Scale)  # registering the same class again is harmless
    model = gn.Sequential(gn.Linear(2, 2, rng=0), Scale(3.0))
    model.save(tmp_path / "m.gn")
    x = np.ones((1, 2), dtype=np.float32)
    np.testing.assert_array_equal(gn.load(tmp_path / "m.gn").predict(x), model.predict(x))


def test_register_layer_refuses_clashes_and_non_layers(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Linear(gn.Module):
        pass

    with pytest.raises(ValueError, match="already registered"):
        gn.register_layer(Linear)
    with pytest.raises(TypeError, match="Module"):
        gn.register_layer(dict)
    with pytest.raises(TypeError, match="Module"):
        gn.register_layer(gn.Linear(2, 2))


def test_the_registry_holds_every_public_layer():
    public = {n for n in gn.layers.__all__ if isinstance(getattr(gn.layers, n), type)}
    assert public <= set(registry._REGISTRY)
    assert registry._REGISTRY["Sequential"] is gn.Sequential
    assert "Module" not in registry._REGISTRY


def test_unsaveable_configs_and_arrays(tmp_path):
    layer = gn.LeakyReLU(0.1)
    layer.get_config = lambda: {"negative_slope": float("nan")}
    with pytest.raises(ValueError, match="JSON"):
        gn.io.save(layer, tmp_path / "x.gn")
    with pytest.raises(TypeError, match="Module"):
        gn.io.save("not a model", tmp_path / "x.gn")


def test_metadata_round_trip(tmp_path):
    path = tmp_path / "m.gn"
    meta = {"class_names": ["cat", "dog"], "test_accuracy": 0.9, "input_shape": [1, 8, 8]}
    gn.io.save(gn.Linear(3, 2, rng=0), path, metadata=meta)
    assert gn.load(path).metadata == meta
    gn.io.save(gn.Linear(3, 2, rng=0), path)
    assert gn.load(path).metadata == {}
    with pytest.raises(ValueError, match="metadata"):
        gn.io.save(gn.Linear(3, 2), path, metadata={"bad": object()})
    with pytest.raises(TypeError, match="metadata"):
        gn.io.save(gn.Linear(3, 2), path, metadata=[1, 2])


# -- hostile and broken files ------------------------------------------------
class _Touch:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Touch(marker)))
    pickle.loads(path.read_bytes())  # the payload works when unpickled...
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ValueError, match="pickle"):
        gn.load(path)
    assert not marker.exists()  # ...but load never unpickles


def test_a_pickle_inside_the_archive_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Touch(marker))
    path = _rewritten(tmp_path, lambda e, h: e.update({"arrays/evil": payload}))
    with pytest.raises(ValueError, match=r"stored but not described \['evil'\]"):
        gn.load(path)
    path = _rewritten(tmp_path, lambda e, h: e.update({"arrays/layers.0.weight": payload}))
    with pytest.raises(ValueError, match="bytes, expected 24"):
        gn.load(path)
    assert not marker.exists()


def test_npz_with_object_arrays_is_rejected(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="model.json"):
        gn.load(path)
    np.save(tmp_path / "objects.npy", np.array([None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a glassnet model file"):
        gn.load(tmp_path / "objects.npy")


@pytest.mark.parametrize(
    "content",
    [b"", b"hello", np.random.default_rng(0).bytes(1000), b"PK\x03\x04" + np.random.default_rng(1).bytes(500)],
    ids=["empty", "text", "random", "random-after-zip-magic"],
)
def test_junk_files_are_value_errors(tmp_path, content):
    path = tmp_path / "junk.gn"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        gn.load(path)


def test_truncated_and_corrupted_files(tmp_path):
    path, _, _ = _small_file(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        (tmp_path / "cut.gn").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="zip"):
            gn.load(tmp_path / "cut.gn")
    start = data.index(b"arrays/layers.0.weight") + len("arrays/layers.0.weight")
    flipped = bytearray(data)
    flipped[start + 2] ^= 0xFF  # a byte of the weight: the CRC no longer matches
    (tmp_path / "flipped.gn").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="CRC"):
        gn.load(tmp_path / "flipped.gn")


def test_missing_path():
    with pytest.raises(FileNotFoundError):
        gn.load("/nonexistent/folder/model.gn")


def test_zip_without_model_json(tmp_path):
    _write(tmp_path / "a.zip", {"weights.bin": b"\x00" * 8})
    with pytest.raises(ValueError, match="no model.json"):
        gn.load(tmp_path / "a.zip")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"format": "glassnet-model", "format": "glassnet-model"}', "duplicate key"),
        (b'{"format": "glassnet-model", "version": NaN}', "NaN"),
        (b"[" * 100000 + b"]" * 100000, "objects and arrays"),
        (b"[" * 300 + b"]" * 300, "nested 300 levels deep"),
    ],
)
def test_bad_json(tmp_path, text, match):
    _, entries, _ = _small_file(tmp_path)
    entries["model.json"] = text
    _write(tmp_path / "bad.gn", entries)
    with pytest.raises(ValueError, match=match):
        gn.load(tmp_path / "bad.gn")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format", "keras-model", "not a glassnet model"),
        ("version", 2, "newer glassnet"),
        ("version", "1", "invalid format version"),
        ("version", True, "invalid format version"),
        ("extra", 1, "must have the keys"),
        ("metadata", [1], "'metadata' must be"),
        ("arrays", [], "'arrays' must be"),
    ],
)
def test_bad_header_fields(tmp_path, key, value, match):
    with pytest.raises(ValueError, match=match):
        gn.load(_rewritten(tmp_path, lambda e, h: h.update({key: value})))


@pytest.mark.parametrize("name", ["os.system", "Evil", "Module", "__import__", "builtins.eval", 42, None])
def test_unknown_layer_classes(tmp_path, name):
    def change(entries, header):
        header["architecture"]["config"]["layers"][0]["class"] = name

    with pytest.raises(ValueError, match="unknown layer class"):
        gn.load(_rewritten(tmp_path, change))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"in_features": 3, "out_features": 2, "evil": "x"}, "unexpected keyword"),
        ({"in_features": -3, "out_features": 2}, "in_features"),
        ({"in_features": "3", "out_features": 2}, "in_features"),
        ({"in_features": 3, "out_features": 2, "init": "os.system"}, "init"),
        ({"in_features": 3, "out_features": 2, "dtype": "object"}, "dtype"),
        ([3, 2], "must be a JSON object"),
    ],
)
def test_bad_configs(tmp_path, config, match):
    def change(entries, header):
        header["architecture"]["config"]["layers"][0]["config"] = config

    with pytest.raises(ValueError, match=match):
        gn.load(_rewritten(tmp_path, change))


def test_bad_architecture_structure(tmp_path):
    with pytest.raises(ValueError, match="'class'"):
        gn.load(_rewritten(tmp_path, lambda e, h: h.update({"architecture": "Sequential"})))
    with pytest.raises(ValueError, match="Sequential must be"):
        gn.load(_rewritten(tmp_path, lambda e, h: h["architecture"]["config"].update({"extra": 1})))
    deep = {"class": "Sequential", "config": {"layers": []}}
    for _ in range(200):
        deep = {"class": "Sequential", "config": {"layers": [deep]}}
    with pytest.raises(ValueError, match="nested"):
        gn.load(_rewritten(tmp_path, lambda e, h: h.update({"architecture": deep})))


def test_wrong_shape_and_byte_length(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(2, 3\), but the model expects \(3, 2\)"):
        gn.load(_rewritten(tmp_path, lambda e, h: h["arrays"]["layers.0.weight"].update({"shape": [2, 3]})))
    with pytest.raises(ValueError, match="holds 20 bytes, expected 24"):
        gn.load(_rewritten(tmp_path, lambda e, h: e.update({"arrays/layers.0.weight": b"\x00" * 20})))
    with pytest.raises(ValueError, match="holds 28 bytes, expected 24"):
        gn.load(_rewritten(tmp_path, lambda e, h: e.update({"arrays/layers.0.weight": b"\x00" * 28})))
    with pytest.raises(ValueError, match="invalid shape"):
        gn.load(_rewritten(tmp_path, lambda e, h: h["arrays"]["layers.0.weight"].update({"shape": [3, -2]})))


@pytest.mark.parametrize("dtype", ["object", "<U3", "int64", "float64", "|O", 7])
def test_bad_dtypes(tmp_path, dtype):
    with pytest.raises(ValueError, match="layers.0.weight"):
        gn.load(_rewritten(tmp_path, lambda e, h: h["arrays"]["layers.0.weight"].update({"dtype": dtype})))


def test_missing_and_extra_arrays(tmp_path):
    with pytest.raises(ValueError, match=r"stored but not described \['layers.1.running_var'\]"):
        gn.load(_rewritten(tmp_path, lambda e, h: h["arrays"].pop("layers.1.running_var")))
    with pytest.raises(ValueError, match=r"described but not stored \['layers.1.running_var'\]"):
        gn.load(_rewritten(tmp_path, lambda e, h: e.pop("arrays/layers.1.running_var")))

    def both(entries, header):
        header["arrays"].pop("layers.1.running_var")
        entries.pop("arrays/layers.1.running_var")

    # the model's arrays would need more bytes than the file holds: refused while building
    with pytest.raises(ValueError, match=r"cannot build BatchNorm1d.*more than the 56 bytes the file stores"):
        gn.load(_rewritten(tmp_path, both))

    def extra(entries, header):
        header["arrays"]["layers.9.weight"] = {"dtype": "float32", "shape": [1]}
        entries["arrays/layers.9.weight"] = b"\x00" * 4

    with pytest.raises(ValueError, match=r"unexpected \['layers.9.weight'\]"):
        gn.load(_rewritten(tmp_path, extra))


def test_zip_hazards(tmp_path):
    _, entries, _ = _small_file(tmp_path)
    _write(tmp_path / "deflated.gn", entries, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="compressed"):
        gn.load(tmp_path / "deflated.gn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is told to write
        with zipfile.ZipFile(tmp_path / "twice.gn", "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
            zf.writestr("arrays/layers.0.bias", b"\x00" * 8)
    with pytest.raises(ValueError, match="two entries"):
        gn.load(tmp_path / "twice.gn")
    entries["../../escape"] = b"x"
    _write(tmp_path / "escape.gn", entries)
    with pytest.raises(ValueError, match="unexpected entries"):
        gn.load(tmp_path / "escape.gn")
    assert not (tmp_path.parent.parent / "escape").exists()


def test_a_config_asking_for_a_huge_layer_fails_without_filling_memory(tmp_path):
    import resource

    def change(entries, header):
        header["architecture"]["config"]["layers"][0]["config"].update({"in_features": 40_000, "out_features": 40_000})

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"shape \(40000, 40000\) \(6400000000 bytes\).* more than the 64 bytes"):
        gn.load(_rewritten(tmp_path, change))
    # a 40,000 x 40,000 float32 weight is 6.4 GB (12.8 GB while drawn in float64): it was never touched
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 1_000_000  # KiB


def test_loaded_layers_keep_their_initialiser_name(tmp_path):
    model = gn.Sequential(gn.Linear(3, 2, init="he_normal", rng=0), gn.ReLU())
    model.save(tmp_path / "m.gnet")
    loaded = gn.load(tmp_path / "m.gnet")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.layers[0].weight.data, model.layers[0].weight.data)


def test_module_save_keeps_the_models_metadata_under_explicit_keys(tmp_path):
    model = gn.Sequential(gn.Linear(2, 2, rng=0))
    model.save(tmp_path / "none.gnet")
    assert gn.load(tmp_path / "none.gnet").metadata == {}
    model.metadata = {"preprocessing": {"kind": "images"}, "data": "old"}
    model.save(tmp_path / "merged.gnet", metadata={"data": "new", "seed": 3})
    assert gn.load(tmp_path / "merged.gnet").metadata == {"preprocessing": {"kind": "images"}, "data": "new", "seed": 3}
    assert model.metadata == {"preprocessing": {"kind": "images"}, "data": "old"}  # the model's own is unchanged
    gn.io.save(model, tmp_path / "own.gnet")  # io.save without metadata writes the model's own
    assert gn.load(tmp_path / "own.gnet").metadata == {"preprocessing": {"kind": "images"}, "data": "old"}
    gn.io.save(model, tmp_path / "exact.gnet", metadata={})  # and exactly what it is given otherwise
    assert gn.load(tmp_path / "exact.gnet").metadata == {}
