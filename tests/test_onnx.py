"""ONNX export: every exportable layer and the recipe models agree with onnxruntime to 1e-5 in float32."""

from __future__ import annotations

import errno
import os
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import _files as glassnet_files
from glassnet import cli
from glassnet.cli import recipes

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
    "RandomHorizontalFlip": (lambda: gn.RandomHorizontalFlip(rng=0), (2, 4, 5), 1.0),  # eval mode: the identity
    "RandomShift": (lambda: gn.RandomShift(2, rng=0), (2, 4, 5), 1.0),
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

# Sequence layers: (make, one sample's shape, ids vocabulary or None for float input, a second length).
# Each runs at two sequence lengths through the same file: the time axis is dynamic.
SEQUENCE_CASES = {
    "Embedding": (lambda: gn.Embedding(11, 4, rng=0), (5,), 11, 9),
    "LayerNorm": (lambda: _affine(gn.LayerNorm(6)), (5, 6), None, 2),
    "LayerNorm-2-axes": (lambda: _affine(gn.LayerNorm((3, 4), eps=1e-3)), (3, 4), None, None),
    "LayerNorm-no-affine": (lambda: gn.LayerNorm(6, elementwise_affine=False), (5, 6), None, 8),
    "Residual": (lambda: gn.Residual(gn.Sequential(gn.LayerNorm(4), gn.Linear(4, 4, rng=0))), (5, 4), None, 3),
    "MultiHeadAttention": (lambda: gn.MultiHeadAttention(8, 2, rng=0), (5, 8), None, 9),
    "MultiHeadAttention-causal": (lambda: gn.MultiHeadAttention(12, 3, causal=True, rng=0), (6, 12), None, 1),
    "MultiHeadAttention-no-bias": (
        lambda: gn.MultiHeadAttention(8, 4, causal=True, bias=False, rng=0),
        (4, 8),
        None,
        7,
    ),
    "RNN": (lambda: gn.RNN(3, 5, rng=0), (6, 3), None, 13),
    "RNN-relu": (lambda: gn.RNN(3, 5, nonlinearity="relu", rng=0), (6, 3), None, 2),
    "RNN-no-bias": (lambda: gn.RNN(3, 5, bias=False, rng=0), (6, 3), None, 2),
    "LSTM": (lambda: gn.LSTM(3, 5, rng=0), (6, 3), None, 17),
    "GRU": (lambda: gn.GRU(3, 5, rng=0), (6, 3), None, 17),
    "Linear-sequence": (lambda: gn.Sequential(gn.LSTM(3, 4, rng=0), gn.Linear(4, 2, rng=1)), (6, 3), None, 2),
    "GPT": (lambda: gn.models.gpt(vocab_size=13, context=16, n_layer=2, n_head=2, n_embd=8, rng=0), (6,), 13, 16),
    "GPT-bias": (
        lambda: gn.models.gpt(vocab_size=13, context=8, n_layer=1, n_head=4, n_embd=8, bias=True, rng=1),
        (8,),
        13,
        3,
    ),
}


def _affine(layer: gn.Module) -> gn.Module:
    rng = np.random.default_rng(0)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, layer.weight.shape)
    layer.bias.data[...] = rng.normal(0.0, 0.3, layer.bias.shape)
    return layer


# Public layers ONNX can't express, with the reason; a new layer must land in one of the two lists.
NOT_EXPORTABLE: dict[str, str] = {}


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _max_diff(model: gn.Module, input_shape: tuple[int, ...], path, scale: float = 1.0, **options) -> float:
    gonnx.export(model, path, input_shape, **options)
    batch = 9
    x = (np.random.default_rng(1).normal(size=(batch, *input_shape)) * scale).astype(np.float32)
    (got,) = _session(path).run(None, {"input": x})
    expected = model.predict(x)
    assert got.shape == expected.shape and got.dtype == np.float32
    return float(np.abs(got - expected).max())


def test_every_public_layer_exports_or_is_listed():
    exported = {name.split("-")[0] for name in [*CASES, *SEQUENCE_CASES]}
    public = {
        name
        for name in gn.__all__
        if isinstance(getattr(gn, name), type) and issubclass(getattr(gn, name), gn.Module) and name != "Module"
    }
    assert public - exported - set(NOT_EXPORTABLE) == set()
    assert set(gonnx.converters()) >= exported
    assert not set(NOT_EXPORTABLE) & exported


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_onnxruntime(name, tmp_path):
    make, input_shape, scale = CASES[name]
    assert _max_diff(make(), input_shape, tmp_path / "layer.onnx", scale) <= TOLERANCE


@pytest.mark.parametrize("name", sorted(SEQUENCE_CASES))
def test_sequence_layer_matches_onnxruntime_at_two_lengths(name, tmp_path):
    make, input_shape, vocab, other_length = SEQUENCE_CASES[name]
    model = make()
    path = tmp_path / "seq.onnx"
    proto = gonnx.export(model, path, input_shape, dynamic_time=other_length is not None)
    session = _session(path)
    rng = np.random.default_rng(2)
    for length in [input_shape[0]] + ([other_length] if other_length else []):
        shape = (3, length, *input_shape[1:])
        x = rng.integers(0, vocab, size=shape) if vocab else rng.normal(size=shape).astype(np.float32)
        (got,) = session.run(None, {"input": x})
        assert np.abs(got - model.predict(x)).max() <= TOLERANCE
    elem = proto.graph.input[0].type.tensor_type.elem_type
    assert elem == (onnx.TensorProto.INT64 if vocab else onnx.TensorProto.FLOAT)


def test_lstm_and_gru_gates_are_reordered_for_onnx():
    # ONNX's LSTM keeps the gate blocks as (i, o, f, c), its GRU as (z, r, h); glassnet as PyTorch (i, f, g, o), (r, z, n)
    lstm = gn.LSTM(2, 3, rng=0)
    proto = gonnx.to_onnx(lstm, (4, 2))
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    W = next(v for k, v in weights.items() if k.startswith("W"))[0]  # (4H, F)
    w = lstm.weight_ih.data  # (F, 4H)
    for onnx_block, glassnet_block in enumerate((0, 3, 1, 2)):
        np.testing.assert_array_equal(
            W[3 * onnx_block : 3 * onnx_block + 3], w[:, 3 * glassnet_block : 3 * glassnet_block + 3].T
        )
    gru = gn.GRU(2, 3, rng=0)
    proto = gonnx.to_onnx(gru, (4, 2))
    node = next(n for n in proto.graph.node if n.op_type == "GRU")
    assert {a.name: a.i for a in node.attribute}["linear_before_reset"] == 1


def test_recurrent_layer_with_an_initial_state_is_refused(tmp_path):
    rnn = gn.RNN(2, 3, rng=0)
    rnn.initial_state = np.zeros((1, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"cannot export RNN \(at model\.layers\[0\]\) with an initial_state"):
        gonnx.export(gn.Sequential(rnn), tmp_path / "m.onnx", (4, 2))


def test_dynamic_time_needs_a_kept_time_axis(tmp_path):
    model = gn.Sequential(gn.LSTM(2, 3, rng=0), gn.Flatten(), gn.Linear(12, 2, rng=0))
    with pytest.raises(ValueError, match="dynamic_time=False"):
        gonnx.export(model, tmp_path / "m.onnx", (4, 2))
    assert _max_diff(model, (4, 2), tmp_path / "fixed.onnx", dynamic_time=False) <= TOLERANCE  # a fixed length


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

    monkeypatch.setattr(glassnet_files.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match="no permission to write in the folder"):
        gonnx.export(gn.Sequential(gn.ReLU()), path, (2,))
    assert path.read_bytes() == b"the previous export"


def test_full_disk_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = _previous_file(tmp_path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(glassnet_files.os, "fsync", full)
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
