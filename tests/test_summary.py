import re

import numpy as np
import pytest

import glassnet as gn
from glassnet.summary import summary


def _cnn_like():
    return gn.Sequential(
        gn.BatchNorm2d(2),
        gn.Flatten(),
        gn.Linear(2 * 3 * 4, 5, rng=0),
        gn.ReLU(),
        gn.Dropout(0.25),
        gn.Sequential(gn.Linear(5, 3, bias=False, rng=0)),
        gn.Softmax(),
    )


def test_rows_show_names_classes_shapes_and_counts():
    text = summary(_cnn_like(), (2, 3, 4))
    lines = text.splitlines()
    expected_rows = [
        ("layers.0", "BatchNorm2d(2)", "(None, 2, 3, 4)", "4"),
        ("layers.1", "Flatten()", "(None, 24)", "0"),
        ("layers.2", "Linear(24, 5)", "(None, 5)", "125"),
        ("layers.3", "ReLU()", "(None, 5)", "0"),
        ("layers.4", "Dropout(p=0.25)", "(None, 5)", "0"),
        ("layers.5.layers.0", "Linear(5, 3, bias=False)", "(None, 3)", "15"),
        ("layers.6", "Softmax()", "(None, 3)", "0"),
    ]
    rows = lines[2 : 2 + len(expected_rows)]
    assert [tuple(re.split(r"\s{2,}", line.strip())) for line in rows] == expected_rows
    assert "Input: (None, 2, 3, 4)" in text
    assert "Trainable parameters: 144" in text
    assert "Buffers: 4 values" in text
    assert "float32" in text


def test_columns_line_up():
    lines = summary(_cnn_like(), (2, 3, 4)).splitlines()
    table = [line for line in lines[:10] if not line.startswith("=")]
    starts = {line.index("(None") for line in table[1:]}
    assert starts == {table[0].index("Output shape")}
    assert len({len(line) for line in table}) == 1  # the counts are right-aligned to one edge


def test_single_module_and_other_input_shape_forms():
    text = summary(gn.Linear(3, 2, rng=0), [3])
    assert "(model)" in text and "Linear(3, 2)" in text and "(None, 2)" in text
    assert "Trainable parameters: 8" in text
    assert summary(gn.Linear(3, 2, rng=0), 3) == text


def test_large_counts_get_thousands_separators():
    text = summary(gn.Linear(100, 200, rng=0, dtype=np.float64), (100,))
    assert "20,200" in text and "float64" in text and "KiB" in text


def test_a_shape_mismatch_names_the_layer():
    model = gn.Sequential(gn.Linear(4, 3), gn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"layers\.1 \(Linear\(5, 2\)\) cannot take an input of shape \(None, 3\)"):
        summary(model, (4,))
    with pytest.raises(ValueError, match=r"layers\.0.*\(N, 4\)"):
        summary(model, (7,))


@pytest.mark.parametrize(("shape", "error"), [("x", TypeError), ((0, 3), ValueError), ((2.5,), TypeError)])
def test_bad_input_shape(shape, error):
    with pytest.raises(error, match="input_shape"):
        summary(gn.Linear(3, 2), shape)


def test_module_summary_prints_the_table_and_returns_none(capsys):
    model = gn.Sequential(gn.Linear(3, 4), gn.Tanh())
    assert model.summary((3,)) is None  # a REPL shows the table once
    assert capsys.readouterr().out == summary(model, (3,)) + "\n"
    printed = []
    assert model.summary((3,), print_fn=printed.append) is None
    assert printed == [summary(model, (3,))]


def test_summary_keeps_the_training_mode():
    model = gn.Sequential(gn.Linear(3, 4), gn.Dropout(0.5), gn.Tanh())
    summary(model, (3,))
    assert all(m.training for m in model.modules())


def test_conv_sizes_are_shown_compactly():
    text = summary(gn.Sequential(gn.Conv2d(1, 4, 3, padding=1, rng=0), gn.MaxPool2d(2)), (1, 6, 6))
    assert "Conv2d(1, 4, 3, padding=1)" in text and "(None, 4, 6, 6)" in text
    assert "MaxPool2d(2, stride=2)" in text and "(None, 4, 3, 3)" in text
    assert "Conv2d(1, 4, (3, 2))" in summary(gn.Conv2d(1, 4, (3, 2), rng=0), (1, 6, 6))
