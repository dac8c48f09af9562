"""The API as a newcomer guesses it: signatures, defaults, and the mistakes it warns about."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import glassnet as gn
from glassnet import training


@pytest.mark.parametrize("name", ["fit", "evaluate", "predict"])
def test_module_methods_show_the_real_arguments(name):
    method = inspect.signature(getattr(gn.Module, name)).parameters
    function = inspect.signature(getattr(training, name)).parameters
    described = [(p.name, p.kind, p.default) for p in method.values()][1:]  # without self
    expected = [(p.name, p.kind, p.default) for p in function.values()][1:]  # without model
    assert described == expected
    assert "kwargs" not in method


def test_fit_trains_in_batches_of_32_by_default():
    x, y = gn.datasets.moons(n=100, rng=0)
    steps = []

    class Count(gn.Callback):
        def on_batch_end(self, batch: int, loss: float) -> None:
            steps.append(batch)

    model = gn.Sequential(gn.Linear(2, 4, rng=0), gn.ReLU(), gn.Linear(4, 2, rng=1))
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=1,
              callbacks=[Count()], verbose=0)  # fmt: skip
    assert steps == [0, 1, 2, 3]  # 100 samples: 32 + 32 + 32 + 4
    steps.clear()
    model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=1,
              batch_size=None, callbacks=[Count()], verbose=0)  # fmt: skip
    assert steps == [0]  # None: the whole set, one batch


def test_the_tutorial_is_one_full_batch_under_the_default():
    from glassnet.cli.commands.demo import train_tutorial as run
    from glassnet.models import tutorial_network

    x, y = gn.datasets.tutorial()
    result = run()
    model = tutorial_network()
    history = model.fit(x, y, loss=gn.SSELoss(), optimizer=gn.SGD(model.parameters(), lr=1.0), epochs=1500,
                        batch_size=None, verbose=0)  # fmt: skip
    assert result.losses == history.history["loss"]


def test_softmax_before_cross_entropy_warns():
    x, y = gn.datasets.moons(n=40, rng=0)
    model = gn.Sequential(gn.Linear(2, 2, rng=0), gn.Sequential(gn.Softmax()))
    with pytest.warns(UserWarning, match="ends in Softmax.*applies its own softmax") as record:
        model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=1, verbose=0)
    assert record[0].filename == __file__  # the warning points at the caller's line, not at glassnet
    plain = gn.Sequential(gn.Linear(2, 2, rng=0))
    plain.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.SGD(plain.parameters(), lr=0.1), epochs=1, verbose=0)


def test_one_sample_without_the_batch_axis_gets_a_hint():
    model = gn.Sequential(gn.Linear(3, 2, rng=0))
    with pytest.raises(ValueError, match=r"one sample without the batch axis: pass x\[None\] \(shape \(1, 3\)\)"):
        model.predict(np.ones(3))
    with pytest.raises(ValueError, match=r"expects \(N, 3\)$"):  # not one sample either: no hint
        model.predict(np.ones(4))
    conv = gn.Conv2d(1, 2, 3, rng=0)
    with pytest.raises(ValueError, match=r"pass x\[None\] \(shape \(1, 1, 5, 5\)\)"):
        conv.predict(np.ones((1, 5, 5)))
    assert model.predict(np.ones(3)[None]).shape == (1, 2)


def test_forward_and_backward_are_documented():
    assert "dy = dL/dy" in (gn.Module.backward.__doc__ or "")
    assert "training mode" in (gn.Module.forward.__doc__ or "")
    assert inspect.getdoc(gn.Conv2d.forward) and "--" not in inspect.getdoc(gn.Conv2d.forward)
