"""The dtype rule (glassnet.module), over every public layer: a layer computes
in its own dtype whatever it is given.

A layer with parameters (or a ``dtype``) casts float64 and integer input to
its dtype; a layer without either follows float32 and float64 input and casts
integers to float32; a Sequential computes in its parameters' dtype; a layer
with ``casts_input = False`` (Embedding) takes its input as given.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn

HERE = Path(__file__).parent


def _cases() -> dict[str, tuple]:
    cases: dict[str, tuple] = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.name in (Path(__file__).name, "test_all_layers.py"):
            continue
        spec = importlib.util.spec_from_file_location(f"_dtype_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases.update(getattr(module, "GRADCHECK_CASES", {}))
    return cases


CASES = _cases()


def _own_dtype(layer: gn.Module) -> np.dtype | None:
    """What the rule calls the layer's own dtype: its parameters', or its ``dtype``; None if it has neither."""
    params = layer.parameters()
    if params:
        return params[0].data.dtype
    return np.dtype(layer.dtype) if getattr(layer, "dtype", None) is not None else None


def test_every_public_layer_is_covered():
    public = {
        name
        for name in gn.__all__
        if inspect.isclass(getattr(gn, name))
        and issubclass(getattr(gn, name), gn.Module)
        and name not in ("Module", "Sequential")
    }
    assert not public - set(CASES), sorted(public - set(CASES))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_a_layer_computes_in_its_own_dtype_whatever_it_is_given(name, layer_dtype):
    make, input_shape, input_fn = CASES[name]
    rng = np.random.default_rng(0)
    x = np.asarray((input_fn or (lambda r, s: r.normal(size=s)))(rng, input_shape), dtype=np.float64)
    layer = make(dtype=layer_dtype)
    if not layer.casts_input:
        pytest.skip(f"{name} takes its input uncast")
    layer.eval()  # Dropout: the identity, so calls can be compared
    own = _own_dtype(layer)
    for given in (np.float64, np.float32, np.int64, np.int32, np.uint8):
        xg = x.astype(given) if np.dtype(given).kind == "f" else np.round(np.abs(x) * 3).astype(given)
        expected = own or (np.dtype(given) if np.dtype(given).kind == "f" else np.dtype(np.float32))
        y = layer(xg)
        assert y.dtype == expected, f"{name} ({layer_dtype.__name__}) turned {np.dtype(given)} into {y.dtype}"
        # computed in that dtype, not merely cast at the end: the same as calling it on the cast input
        np.testing.assert_array_equal(y, layer.forward(xg.astype(expected)))
    assert layer.input_dtype(np.dtype(np.int64)) == (own or np.float32)


def test_a_float32_model_computes_in_float32_whatever_its_first_layer():
    x = np.random.default_rng(0).normal(size=(5, 1, 4, 4))
    for dtype in (np.float32, np.float64):
        model = gn.Sequential(gn.Flatten(), gn.ReLU(), gn.Linear(16, 3, rng=0, dtype=dtype), gn.Sigmoid())
        assert model(x).dtype == dtype and model(x.astype(np.float32)).dtype == dtype
        assert model(np.ones((2, 1, 4, 4), dtype=np.int64)).dtype == dtype
        assert model.predict(x).dtype == dtype
        assert model.predict(np.ones((2, 1, 4, 4), dtype=np.int16)).dtype == dtype
    assert gn.Sequential(gn.Tanh())(x).dtype == np.float64  # no parameters: it follows its input


def test_a_layer_that_takes_ids_uncast_is_not_cast_and_nor_is_a_model_starting_with_it():
    class Lookup(gn.Module):
        casts_input = False

        def __init__(self):
            super().__init__()
            self.table = gn.Parameter(np.arange(12, dtype=np.float32).reshape(4, 3))

        def forward(self, ids):
            assert ids.dtype.kind == "i"  # a test of the rule, not of user input
            return self.table.data[ids]

    ids = np.array([0, 3, 2, 1])
    assert Lookup()(ids).dtype == np.float32
    model = gn.Sequential(Lookup(), gn.Linear(3, 2, rng=0))
    assert not model.casts_input and model.input_dtype(ids.dtype) == ids.dtype
    assert model(ids).shape == (4, 2) and model(ids).dtype == np.float32
    assert model.predict(ids).dtype == np.float32
