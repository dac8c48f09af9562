"""ONNX export of subclasses: a CharRNN (a Sequential) and any subclass of an exportable layer export as their parent."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.models import GPT, CharRNN

pytest.importorskip("onnx", reason='ONNX export tests need the onnx extra: pip install "glassnet[onnx]"')
ort = pytest.importorskip("onnxruntime", reason='ONNX export tests need onnxruntime: pip install "glassnet[onnx]"')
from glassnet import onnx as gonnx  # noqa: E402  (after the skips)

TOLERANCE = 1e-5


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
def test_cli_exports_a_char_rnn_that_matches_onnxruntime(cell, tmp_path, capsys):
    model = CharRNN(11, embedding_dim=6, hidden_size=9, cell=cell, rng=0)
    model.save(tmp_path / "model.gnet", metadata={"input_shape": [16]})
    assert cli.main(["export", str(tmp_path / "model.gnet"), str(tmp_path / "m.onnx")]) == 0
    said = capsys.readouterr().out
    assert "input 'input' (N, T)" in said and "T <=" not in said  # a recurrent model takes any length
    for length in (3, 16, 40):
        ids = np.random.default_rng(length).integers(0, 11, size=(2, length)).astype(np.int64)
        (got,) = _session(tmp_path / "m.onnx").run(None, {"input": ids})
        assert np.abs(got - model.predict(ids)).max() <= TOLERANCE


def test_cli_export_of_a_gpt_prints_the_onnx_input(tmp_path, capsys):
    model = GPT(13, context=8, n_layer=1, n_head=2, n_embd=8, rng=0)
    model.save(tmp_path / "gpt.gnet", metadata={"input_shape": [8]})
    assert cli.main(["export", str(tmp_path / "gpt.gnet"), str(tmp_path / "gpt.onnx")]) == 0
    assert "input 'input' (N, T, T <= 8) -> output 'output' (N, T, 13)" in capsys.readouterr().out
    (dims,) = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in _graph_inputs(tmp_path)]
    assert dims == ["N", "T"]


def _graph_inputs(tmp_path):
    import onnx

    return onnx.load(str(tmp_path / "gpt.onnx")).graph.input


class _Scaled(gn.Linear):
    """A subclass that adds nothing the export needs: it exports as Linear."""


class _Twice(gn.ReLU):
    """A subclass with its own converter: that one is used, not ReLU's."""

    def forward(self, x):
        return 2 * super().forward(x)


def test_a_subclass_exports_as_its_parent_unless_it_registers_its_own(tmp_path):
    @gonnx.register_converter(_Twice)
    def _twice(graph, layer, x, shape):
        return graph.node("Mul", [graph.node("Relu", [x]), graph.constant(2.0, "two")])

    model = gn.Sequential(_Scaled(4, 5, rng=0), _Twice(), _Scaled(5, 3, bias=False, rng=1))
    assert gonnx.converter_for(_Scaled) is gonnx.converter_for(gn.Linear)
    gonnx.export(model, tmp_path / "m.onnx", (4,))
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    (got,) = _session(tmp_path / "m.onnx").run(None, {"input": x})
    assert np.abs(got - model.predict(x)).max() <= TOLERANCE
