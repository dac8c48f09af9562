from importlib import resources

import numpy as np
import pytest

import glassnet.datasets as gd
from glassnet.datasets import shipped


def test_default_is_scaled_float32_nchw():
    x, y = gd.digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.shape == (1797,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.size == 10 and counts.min() >= 170 and counts.sum() == 1797


def test_first_row_matches_the_file():
    # The file's first row: a zero, whose top row of pixels is 0,0,5,13,9,1,0,0.
    x, y = gd.digits(raw=True)
    assert y[0] == 0
    assert x[0, 0, 0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]


def test_raw_and_flat():
    raw, _ = gd.digits(raw=True, flat=True)
    assert raw.shape == (1797, 64) and raw.dtype == np.uint8 and raw.max() == 16
    scaled, _ = gd.digits(flat=True)
    np.testing.assert_array_equal(scaled, raw / np.float32(16))
    np.testing.assert_array_equal(gd.digits()[0].reshape(1797, 64), scaled)


def test_each_call_returns_fresh_writable_arrays():
    x, y = gd.digits(raw=True)
    x[:] = 99
    y[:] = 99
    x2, y2 = gd.digits(raw=True)
    assert x2.max() == 16 and y2.max() == 9


def test_flags_must_be_bool():
    with pytest.raises(TypeError, match="flat=1"):
        gd.digits(flat=1)
    with pytest.raises(TypeError, match="raw='yes'"):
        gd.digits(raw="yes")


def test_damaged_file_is_refused(monkeypatch):
    monkeypatch.setattr(shipped, "_SHA256", "0" * 64)
    shipped._load_raw.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="damaged"):
            gd.digits()
    finally:
        shipped._load_raw.cache_clear()


def test_notice_credits_the_creators_and_licence():
    notice = (resources.files("glassnet.datasets") / "data" / "NOTICE").read_text()
    for words in ("Alpaydin", "Kaynak", "1998", "Bogazici", "CC BY 4.0", "Optical Recognition of"):
        assert words in notice
