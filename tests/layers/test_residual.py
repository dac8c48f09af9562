import os

import numpy as np
import pytest

import glassnet as gn
from glassnet.testing import gradcheck

GRADCHECK_CASES = {
    "Residual": (
        lambda dtype: gn.Residual(
            gn.Sequential(gn.Linear(4, 6, rng=0, dtype=dtype), gn.Tanh(), gn.Linear(6, 4, rng=1, dtype=dtype))
        ),
        (3, 4),
        None,
    ),
}


def test_forward_adds_the_input_and_backward_adds_dy():
    inner = gn.Linear(3, 3, rng=0, dtype=np.float64)
    block = gn.Residual(inner)
    x = np.random.default_rng(0).normal(size=(2, 3))
    np.testing.assert_allclose(block(x), x + x @ inner.weight.data + inner.bias.data)
    dy = np.ones((2, 3))
    np.testing.assert_allclose(block.backward(dy), dy + dy @ inner.weight.data.T)


def test_transformer_block_gradcheck():
    rng = np.random.default_rng(2)
    block = gn.Residual(
        gn.Sequential(
            gn.LayerNorm(4, dtype=np.float64), gn.MultiHeadAttention(4, 2, causal=True, rng=rng, dtype=np.float64)
        )
    )
    assert gradcheck(block, rng.normal(size=(2, 3, 4))).ok


def test_shape_changing_module_is_a_value_error():
    with pytest.raises(ValueError, match="same shape"):
        gn.Residual(gn.Linear(3, 2))(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="module"):
        gn.Residual("Linear")


def test_saved_and_loaded_with_its_inner_module(tmp_path):
    model = gn.Sequential(gn.Residual(gn.Sequential(gn.LayerNorm(4), gn.Linear(4, 4, rng=0))), gn.Linear(4, 2, rng=1))
    path = os.path.join(tmp_path, "res.gnet")
    model.save(path)
    same = gn.load(path)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(same.predict(x), model.predict(x))
    assert isinstance(same[0], gn.Residual) and isinstance(same[0].module, gn.Sequential)


def test_matches_pytorch_in_float64():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours = gn.Residual(gn.Linear(3, 3, rng=0, dtype=np.float64))
    lin = torch.nn.Linear(3, 3, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(ours.module.weight.data.T))
        lin.bias.copy_(torch.from_numpy(ours.module.bias.data))
    x, dy = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    xt = torch.from_numpy(x).requires_grad_()
    yt = xt + lin(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.module.weight.grad, lin.weight.grad.numpy().T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.module.bias.grad, lin.bias.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_a_file_nesting_residuals_too_deep_is_a_value_error(tmp_path):
    import json
    import zipfile

    spec = {"class": "Linear", "config": {"in_features": 2, "out_features": 2}}
    for _ in range(100):  # deeper than the 64 modules load accepts, within the JSON header's own depth bound
        spec = {"class": "Residual", "config": {"module": spec}}
    path = tmp_path / "deep.gnet"
    header = {"format": "glassnet-model", "version": 1, "architecture": spec, "arrays": {}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.json", json.dumps(header))
    with pytest.raises(ValueError, match="nested more than"):
        gn.load(path)
