"""ONNX export: every exportable layer and the recipe models agree with onnxruntime to 1e-5 in float32."""

from __future__ import annotations

import errno
import os
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli, recipes

onnx = pytest.importorskip("onnx", reason='ONNX export tests need the onnx extra: pip install "glassnet[onnx]"')
ort = pytest.importorskip("onnxruntime", reason='ONNX export tests need onnxruntime: pip install "glassnet[onnx]"')
from glassnet import onnx as gonnx  # noqa: E402  (after the skips: the module is tested only with its extra)

TOLERANCE = 1e-5


def _random_stats(model: gn.Module, seed: int = 0) -> gn.Module:
    """Give every BatchNorm running statistics and affine parameters away from (0, 1), as training would."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (gn.BatchNorm1d, gn.BatchNorm2d)):
            c = m.num_features
            m.running_mean[...] = rng.normal(0.0, 0.5, c)
            m.running_var[...] = rng.uniform(0.5, 2.0, c)
            if m.weight is not None and m.bias is not None:
                m.weight.data[...] = rng.uniform(0.5, 1.5, c)
                m.bias.data[...] = rng.normal(0.0, 0.3, c)
    return model


def _bn(layer: gn.Module) -> gn.Module:
    return _random_stats(layer)


# name -> (make the layer, one sample's input shape, input scale)
CASES = {
    "Linear": (lambda: gn.Linear(5, 3, rng=0), (5,), 1.0),
    "Linear-no-bias": (lambda: gn.Linear(5, 3, bias=False, rng=0), (5,), 1.0),
    "Conv2d": (lambda: gn.Conv2d(2, 3, 3, padding=1, rng=0), (2, 6, 7), 1.0),
    "Conv2d-strided": (lambda: gn.Conv2d(2, 4, (2, 3), stride=(2, 1), padding=(1, 0), rng=0), (2, 7, 6), 1.0),
    "Conv2d-no-bias": (lambda: gn.Conv2d(3, 2, 1, bias=False, rng=0), (3, 4, 4), 1.0),
    "MaxPool2d": (lambda: gn.MaxPool2d(2), (3, 6, 6), 1.0),
    "MaxPool2d-overlapping": (lambda: gn.MaxPool2d(3, stride=2), (2, 7, 8), 1.0),
    "AvgPool2d": (lambda: gn.AvgPool2d(2), (3, 6, 6), 1.0),
    "AvgPool2d-rect": (lambda: gn.AvgPool2d((2, 3), stride=1), (2, 5, 7), 1.0),
    "BatchNorm1d": (lambda: _bn(gn.BatchNorm1d(4)), (4,), 2.0),
    "BatchNorm1d-sequence": (lambda: _bn(gn.BatchNorm1d(4)), (4, 6), 2.0),
    "BatchNorm1d-no-affine": (lambda: _bn(gn.BatchNorm1d(4, affine=False)), (4,), 2.0),
    "BatchNorm2d": (lambda: _bn(gn.BatchNorm2d(3, eps=1e-3)), (3, 4, 5), 2.0),
    "Sigmoid": (gn.Sigmoid, (7,), 4.0),
    "Tanh": (gn.Tanh, (7,), 3.0),
    "ReLU": (gn.ReLU, (7,), 1.0),
    "LeakyReLU": (lambda: gn.LeakyReLU(0.2), (7,), 1.0),
    "ELU": (lambda: gn.ELU(0.7), (7,), 2.0),
    "GELU": (gn.GELU, (7,), 3.0),
    "GELU-tanh": (lambda: gn.GELU("tanh"), (7,), 3.0),
    "Softmax": (gn.Softmax, (6,), 3.0),
    "Softmax-axis1": (lambda: gn.Softmax(axis=1), (4, 3), 3.0),
    "Identity": (gn.Identity, (3, 2), 1.0),
    "Dropout": (lambda: gn.Dropout(0.5, rng=0), (6,), 1.0),
    "Flatten": (gn.Flatten, (2, 3, 4), 1.0),
    "Sequential-nested": (
        lambda: gn.Sequential(gn.Linear(4, 6, rng=0), gn.Sequential(gn.Tanh(), gn.Linear(6, 2, rng=1))),
        (4,),
        1.0,
    ),
}

# Public layers ONNX can't express, with the reason; a new layer must land in one of the two lists.
NOT_EXPORTABLE: dict[str, str] = {}


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _max_diff(model: gn.Module, input_shape: tuple[int, ...], path, scale: float = 1.0, batch: int = 9) -> float:
    gonnx.export(model, path, input_shape)
    x = (np.random.default_rng(1).normal(size=(batch, *input_shape)) * scale).astype(np.float32)
    (got,) = _session(path).run(None, {"input": x})
    expected = model.predict(x)
    assert got.shape == expected.shape and got.dtype == np.float32
    return float(np.abs(got - expected).max())


def test_every_public_layer_exports_or_is_listed():
    exported = {name.split("-")[0] for name in CASES}
    public = {
        name
        for name in gn.__all__
        if isinstance(getattr(gn, name), type) and issubclass(getattr(gn, name), gn.Module) and name != "Module"
    }
    assert public - exported - set(NOT_EXPORTABLE) == set()
    assert set(gonnx.converters()) >= exported


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_onnxruntime(name, tmp_path):
    make, input_shape, scale = CASES[name]
    assert _max_diff(make(), input_shape, tmp_path / "layer.onnx", scale) <= TOLERANCE


@pytest.mark.parametrize(
    ("data", "kind", "input_shape"),
    [("digits", "mlp", (1, 8, 8)), ("digits", "cnn", (1, 8, 8)), ("fashion-mnist", "mlp", (1, 28, 28))]
    + [("fashion-mnist", "cnn", (1, 28, 28))],
)
def test_recipe_model_matches_onnxruntime(data, kind, input_shape, tmp_path):
    model = _random_stats(recipes.build_model(data, kind, input_shape, 10, seed=3))
    assert _max_diff(model, input_shape, tmp_path / "model.onnx") <= TOLERANCE


def test_trained_digits_cnn_matches_onnxruntime(tmp_path):
    data = recipes.load_data("digits", seed=0)
    model = recipes.build_model("digits", "cnn", (1, 8, 8), 10, seed=0)
    model.fit(
        data.x_train[:512],
        data.y_train[:512],
        loss=gn.CrossEntropyLoss(),
        optimizer=gn.Adam(model.parameters(), lr=2e-3),
        epochs=2,
        batch_size=64,
        seed=0,
        verbose=0,
    )
    path = tmp_path / "digits.onnx"
    gonnx.export(model, path, (1, 8, 8))
    (logits,) = _session(path).run(None, {"input": data.x_test})
    assert np.abs(logits - model.predict(data.x_test)).max() <= TOLERANCE
    assert np.array_equal(logits.argmax(axis=1), model.predict(data.x_test).argmax(axis=1))


def test_file_is_opset_17_ir_8_with_a_dynamic_batch_and_passes_the_full_check(tmp_path):
    model = gn.Sequential(gn.Flatten(), gn.Linear(12, 3, rng=0), gn.Softmax())
    path = tmp_path / "m.onnx"
    gonnx.export(model, path, (3, 4))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 8
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [3, 4]
    session = _session(path)
    for batch in (1, 2, 37):
        x = np.random.default_rng(batch).normal(size=(batch, 3, 4)).astype(np.float32)
        (y,) = session.run(None, {"input": x})
        assert y.shape == (batch, 3)
        np.testing.assert_allclose(y, model.predict(x), atol=TOLERANCE, rtol=0)


def test_float64_model_exports_as_float32(tmp_path):
    model = gn.Sequential(gn.Linear(3, 4, rng=0, dtype=np.float64), gn.ELU())
    assert _max_diff(model, (3,), tmp_path / "m.onnx") <= TOLERANCE


def test_a_layer_without_converter_is_refused_by_name(tmp_path):
    class Scale(gn.Module):
        def forward(self, x):
            return 2 * x

        def output_shape(self, input_shape):
            return input_shape

    model = gn.Sequential(gn.Linear(3, 3, rng=0), gn.Sequential(gn.ReLU(), Scale()))
    path = tmp_path / "m.onnx"
    with pytest.raises(
        ValueError, match=r"cannot export Scale \(at model\.layers\[1\]\.layers\[1\]\).*register_converter"
    ):
        gonnx.export(model, path, (3,))
    assert not path.exists()


def test_register_converter_adds_a_layer(tmp_path):
    class Double(gn.Module):
        def forward(self, x):
            return 2 * x

        def output_shape(self, input_shape):
            return input_shape

    @gonnx.register_converter(Double)
    def _double(graph, layer, x, shape):
        return graph.node("Add", [x, x])

    assert _max_diff(gn.Sequential(gn.Linear(3, 2, rng=0), Double()), (3,), tmp_path / "m.onnx") <= TOLERANCE


def test_bad_input_shape_is_reported(tmp_path):
    model = gn.Sequential(gn.Linear(3, 2, rng=0))
    with pytest.raises(ValueError, match="expects"):
        gonnx.export(model, tmp_path / "m.onnx", (4,))
    with pytest.raises(ValueError, match="positive sizes"):
        gonnx.export(model, tmp_path / "m.onnx", (0,))
    with pytest.raises(ValueError, match="input_shape is needed"):
        gonnx.export(model, tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="glassnet Module"):
        gonnx.export("model", tmp_path / "m.onnx", (3,))


def test_input_shape_recorded_in_a_model_file_is_used(tmp_path):
    model = gn.Sequential(gn.Flatten(), gn.Linear(4, 2, rng=0))
    model.save(tmp_path / "m.gnet", metadata={"input_shape": [1, 2, 2], "class_names": ["a", "b"]})
    loaded = gn.load(tmp_path / "m.gnet")
    proto = gonnx.export(loaded, tmp_path / "m.onnx")
    assert {p.key: p.value for p in proto.metadata_props}["class_names"] == '["a", "b"]'
    assert _max_diff(loaded, (1, 2, 2), tmp_path / "again.onnx") <= TOLERANCE


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="the folder .* does not exist"):
        gonnx.export(gn.Sequential(gn.ReLU()), tmp_path / "nowhere" / "m.onnx", (2,))


def _previous_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"the previous export")
    return path


def test_read_only_folder_leaves_the_previous_file(tmp_path):
    path = _previous_file(tmp_path)
    os.chmod(tmp_path, 0o500)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as a user who can write into read-only folders (root)")
        with pytest.raises(PermissionError, match="cannot write .*m.onnx"):
            gonnx.export(gn.Sequential(gn.ReLU()), path, (2,))
    finally:
        os.chmod(tmp_path, 0o700)
    assert path.read_bytes() == b"the previous export"


def test_permission_error_leaves_the_previous_file(tmp_path, monkeypatch):
    # the same failure as a read-only folder, also where the tests run as root
    path = _previous_file(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(gonnx.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match="no permission to write in the folder"):
        gonnx.export(gn.Sequential(gn.ReLU()), path, (2,))
    assert path.read_bytes() == b"the previous export"


def test_full_disk_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = _previous_file(tmp_path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gonnx.os, "fsync", full)
    with pytest.raises(OSError, match="the disk is full; any previous file is unchanged"):
        gonnx.export(gn.Sequential(gn.ReLU()), path, (2,))
    assert path.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"glassnet\[onnx\]"):
        gonnx.to_onnx(gn.Sequential(gn.ReLU()), (2,))


def test_glassnet_onnx_is_an_attribute():
    assert gn.onnx is gonnx


def test_cli_export(tmp_path, capsys):
    model = recipes.build_model("digits", "mlp", (1, 8, 8), 10, seed=0)
    model.save(tmp_path / "model.gnet", metadata={"input_shape": [1, 8, 8]})
    assert cli.main(["export", str(tmp_path / "model.gnet"), str(tmp_path / "model.onnx")]) == 0
    assert "opset 17, IR version 8" in capsys.readouterr().out
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    (y,) = _session(tmp_path / "model.onnx").run(None, {"input": x})
    assert np.abs(y - model.predict(x)).max() <= TOLERANCE


def test_cli_export_reports_bad_files_in_one_line(tmp_path, capsys):
    model = gn.Sequential(gn.Linear(3, 2, rng=0))
    model.save(tmp_path / "plain.gnet")
    assert cli.main(["export", str(tmp_path / "plain.gnet"), str(tmp_path / "m.onnx")]) == 1
    assert "--input-shape" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "plain.gnet"), str(tmp_path / "m.onnx"), "--input-shape", "3"]) == 0
    (tmp_path / "cut.gnet").write_bytes((tmp_path / "plain.gnet").read_bytes()[:100])
    assert cli.main(["export", str(tmp_path / "cut.gnet"), str(tmp_path / "cut.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("glassnet export: error:") and err.count("\n") == 1
    assert not (tmp_path / "cut.onnx").exists()
    assert (
        cli.main(["export", str(tmp_path / "plain.gnet"), str(tmp_path / "no" / "m.onnx"), "--input-shape", "3"]) == 1
    )
    assert "does not exist" in capsys.readouterr().err
