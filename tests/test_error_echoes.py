"""Errors quote at most a few hundred characters of what they were given, however large it is."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn

HUGE = "x" * 1_000_000
PARAMS = gn.Linear(2, 2, rng=0).parameters()

CALLS = {
    "Linear": lambda: gn.Linear(HUGE, 2),
    "Conv2d": lambda: gn.Conv2d(1, 1, HUGE),
    "Dropout": lambda: gn.Dropout(HUGE),
    "Softmax": lambda: gn.Softmax(axis=HUGE),
    "BatchNorm1d": lambda: gn.BatchNorm1d(2, momentum=HUGE),
    "LayerNorm": lambda: gn.LayerNorm(2, eps=HUGE),
    "Embedding": lambda: gn.Embedding(HUGE, 2),
    "LSTM": lambda: gn.LSTM(HUGE, 2),
    "MultiHeadAttention": lambda: gn.MultiHeadAttention(HUGE, 2),
    "SGD": lambda: gn.SGD(PARAMS, lr=HUGE),
    "Adam": lambda: gn.Adam(PARAMS, betas=HUGE),
    "EarlyStopping": lambda: gn.EarlyStopping(mode=HUGE),
    "moons": lambda: gn.datasets.moons(n=HUGE),
    "one_hot": lambda: gn.datasets.one_hot(np.array([0, 1]), classes=HUGE),
    "train_test_split": lambda: gn.datasets.train_test_split(np.zeros((4, 1)), np.zeros(4), test_size=HUGE),
    "fit": lambda: gn.Sequential(gn.Linear(2, 1, rng=0)).fit(
        np.zeros((4, 2)), np.zeros((4, 1)), loss=gn.MSELoss(), optimizer=gn.SGD(PARAMS, lr=0.1), epochs=1, verbose=HUGE
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_huge_argument_is_echoed_short(name):
    with pytest.raises((TypeError, ValueError)) as caught:
        CALLS[name]()
    assert len(str(caught.value)) < 1000, str(caught.value)[:300]
