import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassnet.datasets import read_idx


def test_reads_raw_uint8(tmp_path, idx):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = read_idx(idx.write(tmp_path / "a-idx3-ubyte", a))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)
    assert out.flags.writeable


def test_gzip_is_detected_by_magic_not_name(tmp_path, idx):
    a = np.arange(10, dtype=np.uint8)
    gz_named_plain = idx.write(tmp_path / "labels-idx1-ubyte", a, compress=True)
    plain_named_gz = idx.write(tmp_path / "labels-idx1-ubyte.gz", a, compress=False)
    np.testing.assert_array_equal(read_idx(gz_named_plain), a)
    np.testing.assert_array_equal(read_idx(str(plain_named_gz)), a)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_other_type_codes_come_back_native_and_writable(tmp_path, idx, dtype):
    a = (np.arange(-6, 6).reshape(3, 4) * 3).astype(dtype)
    out = read_idx(idx.write(tmp_path / "x.idx", a, compress=True))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, a)
    assert out.flags.writeable


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    dtype=st.sampled_from(["uint8", "int8", "int16", "int32", "float32", "float64"]),
    compress=st.booleans(),
)
def test_round_trip_any_shape(tmp_path_factory, idx, shape, dtype, compress):
    a = np.arange(int(np.prod(shape))).astype(dtype).reshape(shape)
    path = idx.write(tmp_path_factory.mktemp("idx") / "a.idx", a, compress=compress)
    out = read_idx(path)
    assert out.shape == tuple(shape) and out.dtype == a.dtype
    np.testing.assert_array_equal(out, a)


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def test_truncated_file_names_the_file_and_both_sizes(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(_header(0x08, (10, 28, 28)) + bytes(7000))
    with pytest.raises(ValueError, match="truncated") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "7840" in message and "7000" in message and "(10, 28, 28)" in message


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(_header(0x08, (5,)) + bytes(8))
    with pytest.raises(ValueError, match="longer than its header") as info:
        read_idx(path)
    assert str(path) in str(info.value) and " 5 bytes" in str(info.value) and " 8 bytes" in str(info.value)


def test_oversized_gzip_payload_is_refused(tmp_path):
    path = tmp_path / "long.gz"
    path.write_bytes(gzip.compress(_header(0x08, (2, 2)) + bytes(5)))
    with pytest.raises(ValueError, match=r"after gzip decompression\) is longer"):
        read_idx(path)


def test_huge_header_claim_on_a_tiny_file_fails_fast(tmp_path):
    path = tmp_path / "liar"
    path.write_bytes(_header(0x0E, (2**31, 2**31, 2**31)) + bytes(16))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "cut-header"
    path.write_bytes(_header(0x08, (3, 4, 5))[:9])
    with pytest.raises(ValueError, match="inside its header"):
        read_idx(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00", b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", b"PK\x03\x04 not idx", b"\x00\x08\x01"],
)
def test_bad_magic_is_not_an_idx_file(tmp_path, content):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is not an IDX file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_unknown_type_code_and_zero_dimensions(tmp_path):
    path = tmp_path / "odd"
    path.write_bytes(_header(0x0A, (1,)) + b"\x00")
    with pytest.raises(ValueError, match="unknown IDX type code 0x0A"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 0]) + b"\x01")
    with pytest.raises(ValueError, match="0 dimensions"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    blob = gzip.compress(_header(0x08, (100, 28, 28)) + np.random.default_rng(0).bytes(78400))
    path = tmp_path / "cut.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="gzip stream is truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gzip_of_a_truncated_idx(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(_header(0x08, (4, 4)) + bytes(10)))
    with pytest.raises(ValueError, match=r"after gzip decompression\) is truncated.*16 bytes.*10 bytes"):
        read_idx(path)


@pytest.mark.parametrize("where", ["middle", "crc"])
def test_corrupt_gzip(tmp_path, where):
    blob = bytearray(gzip.compress(_header(0x08, (50, 28, 28)) + np.random.default_rng(1).bytes(39200)))
    if where == "middle":
        blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)
    else:
        blob[-8] ^= 0xFF  # the CRC-32 of the uncompressed data
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="gzip stream is damaged") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_and_bad_path_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-here")
    with pytest.raises(TypeError, match="path=3"):
        read_idx(3)


# Real Fashion-MNIST, where Debian's dataset-fashion-mnist package installs it.
FASHION = Path("/usr/share/datasets/fashion-mnist")
SHA256 = {  # of the decompressed files (the official payload)
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
}


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
@pytest.mark.parametrize("stem", sorted(SHA256))
def test_reader_reproduces_the_official_fashion_mnist_payload(idx, stem):
    array = read_idx(FASHION / f"{stem}.gz")
    assert hashlib.sha256(idx.bytes(array)).hexdigest() == SHA256[stem]


@pytest.mark.parametrize("compress", [False, True])
def test_max_bytes_bounds_the_declared_size(tmp_path, idx, compress):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4)  # 96 bytes of data
    path = idx.write(tmp_path / "a-idx3-int", array, compress=compress)
    np.testing.assert_array_equal(read_idx(path, max_bytes=96), array)
    with pytest.raises(ValueError, match=r"which is 96 bytes of data, more than max_bytes=95") as info:
        read_idx(path, max_bytes=95)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        read_idx(path, max_bytes=0)
    with pytest.raises(TypeError, match="max_bytes must be an integer"):
        read_idx(path, max_bytes="96")


def test_a_gzip_bomb_after_the_data_is_not_counted_to_its_end(tmp_path, idx):
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx.bytes(np.zeros(4, dtype=np.uint8)))
        for _ in range(64):
            f.write(bytes(2**20))  # 64 MiB of trailing zeros
    with pytest.raises(ValueError, match=r"longer than its header says.*holds more than 1\d+ bytes"):
        read_idx(path, max_bytes=2**20)
