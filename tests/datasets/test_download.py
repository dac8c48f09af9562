"""The download path, against a local HTTP server on 127.0.0.1 only: never the internet."""

import gzip
import hashlib
import os
import socket
import time

import numpy as np
import pytest

import glassnet.datasets as gd
from glassnet._files import STALE_AFTER
from glassnet.datasets.download import DownloadError, download_file, fetch

BODY = bytes(range(256)) * 40  # 10,240 bytes
BODY_MD5 = hashlib.md5(BODY).hexdigest()


def test_download_file_saves_the_body(server, tmp_path):
    url = server.add("/f.bin", BODY)
    dest = download_file(url, tmp_path / "sub" / "f.bin", md5=BODY_MD5, timeout=5)
    assert dest == tmp_path / "sub" / "f.bin"
    assert dest.read_bytes() == BODY
    assert sorted(p.name for p in dest.parent.iterdir()) == ["f.bin"]  # no temporary file left


def test_without_content_length(server, tmp_path):
    url = server.add("/f.bin", BODY, mode="no-length")
    assert download_file(url, tmp_path / "f.bin", md5=BODY_MD5.upper(), timeout=5).read_bytes() == BODY


def test_wrong_checksum_saves_nothing(server, tmp_path):
    url = server.add("/f.bin", BODY)
    with pytest.raises(ValueError, match="MD5 .* does not match") as info:
        download_file(url, tmp_path / "f.bin", md5="0" * 32, timeout=5)
    assert url in str(info.value)
    assert isinstance(info.value, gd.ChecksumError) and isinstance(info.value, DownloadError)
    assert list(tmp_path.iterdir()) == []


def test_response_cut_off_midway_leaves_no_partial_file(server, tmp_path):
    url = server.add("/f.bin", BODY, mode="cut")
    with pytest.raises(DownloadError, match=f"{url}: the connection closed after 5120 of 10240 bytes"):
        download_file(url, tmp_path / "f.bin", timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_existing_file(server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old")
    with pytest.raises(DownloadError):
        download_file(server.add("/f.bin", BODY, mode="cut"), dest, timeout=5)
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_http_error_names_the_url(server, tmp_path):
    url = server.url("/nowhere.gz")
    with pytest.raises(DownloadError, match="nowhere.gz: HTTP error 404") as info:
        download_file(url, tmp_path / "x", timeout=5)
    assert isinstance(info.value, OSError) and url in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["ok", "no-length"])
def test_size_cap(server, tmp_path, mode):
    url = server.add("/big", BODY, mode=mode)
    with pytest.raises(DownloadError, match="limit of 1000 bytes"):
        download_file(url, tmp_path / "big", max_bytes=1000, timeout=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_connection_refused_names_the_url(tmp_path, scheme):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"{scheme}://127.0.0.1:{port}/f.gz"
    with pytest.raises(DownloadError, match=f"{url}: "):
        download_file(url, tmp_path / "f.gz", timeout=5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"url": "file:///etc/passwd"}, ValueError, "url='file:///etc/passwd'"),
        ({"url": 5}, ValueError, "url=5"),
        ({"md5": 123}, TypeError, "md5=123"),
        ({"timeout": 0}, ValueError, "timeout=0"),
        ({"max_bytes": -1}, ValueError, "max_bytes=-1"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, error, match):
    args = {"url": "http://127.0.0.1:9/x", "dest": tmp_path / "x"} | kwargs
    with pytest.raises(error, match=match):
        download_file(**args)


def test_fetch_falls_back_after_a_404(server, tmp_path):
    server.add("/second/f.bin", BODY)
    path = fetch("f.bin", tmp_path, [server.url("/first"), server.url("/second/")], md5=BODY_MD5, timeout=5)
    assert path.read_bytes() == BODY
    assert server.requests == ["/first/f.bin", "/second/f.bin"]


def test_fetch_reports_every_mirror(server, tmp_path):
    server.add("/a/f.bin", BODY)
    server.add("/b/f.bin", BODY)
    with pytest.raises(ValueError, match="any of 2 mirror") as info:
        fetch("f.bin", tmp_path, [server.url("/a/"), server.url("/b/")], md5="0" * 32, timeout=5)
    assert server.url("/a/f.bin") in str(info.value) and server.url("/b/f.bin") in str(info.value)
    server.add("/c/f.bin", BODY, mode="cut")
    with pytest.raises(DownloadError, match="HTTP error 404(.|\n)*connection closed"):
        fetch("f.bin", tmp_path, [server.url("/none/"), server.url("/c/")], timeout=5)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="mirrors"):
        fetch("f.bin", tmp_path, [])


def test_mnist_downloads_end_to_end(isolated, server, serve_set):
    arrays = serve_set()
    target = isolated / "mnist-here"
    (x_train, y_train), (x_test, y_test) = gd.mnist(path=target, download=True)
    assert x_train.shape == (12, 1, 28, 28) and x_train.dtype == np.float32
    np.testing.assert_array_equal(x_train[:, 0], arrays["train-images-idx3-ubyte"] / np.float32(255))
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert y_train.dtype == np.int64
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{s}.gz" for s in arrays)
    # Every file came from the second mirror after a 404 on the first.
    assert len(server.requests) == 8 and all(r.startswith(("/missing/", "/good/")) for r in server.requests)
    # Found on disk now: no more requests.
    gd.mnist(path=target, download=True)
    assert len(server.requests) == 8


def test_download_goes_to_the_cache_or_glassnet_data(isolated, server, serve_set, monkeypatch):
    serve_set()
    gd.mnist(download=True)
    cache = isolated / "home" / ".cache" / "glassnet" / "mnist"
    assert len(list(cache.iterdir())) == 4
    for f in cache.iterdir():
        f.unlink()
    monkeypatch.setenv("GLASSNET_DATA", str(isolated / "data"))
    gd.mnist(download=True)
    assert len(list((isolated / "data" / "mnist").iterdir())) == 4


def test_only_missing_files_are_fetched(isolated, idx, server, serve_set):
    arrays = serve_set()
    target = isolated / "partial"
    idx.write_set(target, {"train-images-idx3-ubyte": arrays["train-images-idx3-ubyte"]}, compress=False)
    gd.mnist(path=target, download=True)
    assert not any("train-images" in r for r in server.requests)


def test_mnist_download_with_a_wrong_checksum_leaves_nothing(isolated, server, serve_set):
    serve_set(md5_of=lambda blob: hashlib.md5(blob + b"!").hexdigest())
    target = isolated / "mnist-here"
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*does not match"):
        gd.mnist(path=target, download=True)
    assert list(target.iterdir()) == []


def test_downloaded_file_that_is_not_idx_is_caught_on_load(isolated, server, serve_set, monkeypatch):
    arrays = serve_set()
    bad = gzip.compress(b"<html>not the data</html>")
    server.add("/good/t10k-labels-idx1-ubyte.gz", bad)
    monkeypatch.setitem(gd.download.MD5["mnist"], "t10k-labels-idx1-ubyte.gz", hashlib.md5(bad).hexdigest())
    assert len(arrays) == 4
    with pytest.raises(ValueError, match="is not an IDX file"):
        gd.mnist(path=isolated / "x", download=True)


@pytest.mark.parametrize("mode", ["trickle-body", "trickle-headers"])
def test_a_trickling_server_is_cut_off_at_the_deadline(server, tmp_path, mode):
    # a byte every 0.25 s never trips the 5 s per-read timeout; only the overall deadline stops it
    url = server.add("/slow.bin", bytes(40), mode=mode)
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"took longer than the deadline of 1 s") as info:
        download_file(url, tmp_path / "slow.bin", timeout=5, deadline=1.0)
    assert time.monotonic() - start < 5  # the 40 bytes would take 10 s
    assert url in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_deadline_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="deadline must be positive"):
        download_file("http://127.0.0.1:9/x", tmp_path / "x", deadline=0)


def test_a_download_removes_stale_part_files_of_killed_downloads_only(server, tmp_path):
    stale = tmp_path / ".f.bin.glassnet-abcd1234.part"
    fresh = tmp_path / ".f.bin.glassnet-efgh5678.part"  # a download running right now
    foreign = tmp_path / "f.bin.part"  # another program's
    for path in (stale, fresh, foreign):
        path.write_bytes(b"partial")
    old = time.time() - 2 * STALE_AFTER
    for path in (stale, foreign):
        os.utime(path, (old, old))
    download_file(server.add("/f.bin", BODY), tmp_path / "f.bin", md5=BODY_MD5, timeout=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["f.bin", fresh.name, foreign.name])
