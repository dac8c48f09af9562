"""Every public layer passes the shared layer test (check_layer: dtypes, config, state, float64 gradcheck).

Each tests/layers/test_*.py file lists its layers in a module-level dict
GRADCHECK_CASES = {name: (make, input_shape, input_fn)}; this file collects
them all, runs them, and fails when a public layer has no case.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.testing import check_layer

HERE = Path(__file__).parent


def _collect() -> dict[str, tuple]:
    cases: dict[str, tuple] = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        spec = importlib.util.spec_from_file_location(f"_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, case in getattr(module, "GRADCHECK_CASES", {}).items():
            cases[name] = case
    return cases


CASES = _collect()


def _public_layers() -> set[str]:
    return {
        name
        for name in gn.__all__
        if inspect.isclass(getattr(gn, name))
        and issubclass(getattr(gn, name), gn.Module)
        and name not in ("Module", "Sequential")
    }


def test_every_public_layer_has_a_gradient_check():
    missing = _public_layers() - set(CASES)
    assert not missing, f"public layers without a gradient check case: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_passes_check_layer(name):
    make, input_shape, input_fn = CASES[name]
    result = check_layer(make, input_shape, input_fn=input_fn)
    assert result.ok, str(result)
    if "x" in result.errors:  # integer inputs (token ids) have no gradient to check
        assert result.errors["x"][1] < 1e-3


def test_sequential_gradcheck_through_a_small_mlp():
    rng = np.random.default_rng(3)
    model = gn.Sequential(
        gn.Linear(5, 7, rng=rng, dtype=np.float64),
        gn.Tanh(),
        gn.Linear(7, 3, rng=rng, dtype=np.float64),
        gn.Softmax(),
    )
    result = gn.testing.gradcheck(model, rng.normal(size=(4, 5)))
    assert result.ok
    assert set(result.errors) == {"x", "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"}
