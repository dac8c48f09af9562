"""Fixtures for the data set tests: IDX files written on the spot, a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from glassnet.datasets import download, idx_sets

TYPE_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D, "float64": 0x0E}
STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: header, then big-endian data in C order."""
    header = bytes([0, 0, TYPE_CODES[array.dtype.name], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def fake_set(n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """A tiny MNIST-shaped data set: uint8 images (N, 28, 28) and labels 0..9."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the range
        arrays[f"{prefix}-images-idx3-ubyte"] = images
        arrays[f"{prefix}-labels-idx1-ubyte"] = rng.integers(0, 10, size=n, dtype=np.uint8)
    return arrays


def write_set(folder: Path, arrays: dict[str, np.ndarray], *, compress: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(folder / (f"{stem}.gz" if compress else stem), array, compress=compress)
    return folder


@pytest.fixture(scope="session")
def idx() -> SimpleNamespace:
    """The helpers above, for test modules (conftest can't be imported under --import-mode=importlib)."""
    return SimpleNamespace(bytes=idx_bytes, write=write_idx, fake_set=fake_set, write_set=write_set, stems=STEMS)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $GLASSNET_DATA, a fresh home folder, no system folders: only what a test puts there."""
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setitem(idx_sets.SYSTEM_DIRS, "fashion-mnist", [str(tmp_path / "system" / "fashion-mnist")])
    monkeypatch.setitem(idx_sets.SYSTEM_DIRS, "mnist", [])
    return tmp_path


class _Handler(http.server.BaseHTTPRequestHandler):
    server: LocalServer

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, mode = route
        if mode.startswith("trickle"):
            self._trickle(body, headers_too=mode == "trickle-headers")
            return
        self.send_response(200)
        if mode != "no-length":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # "cut": announce the whole body, send half, then close the connection.
        self.wfile.write(body[: len(body) // 2] if mode == "cut" else body)

    def _trickle(self, body: bytes, headers_too: bool) -> None:
        """One byte every 0.25 s (of the headers too, if asked): never idle long enough for a timeout."""
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        slow = head + body if headers_too else body
        try:
            if not headers_too:
                self.wfile.write(head)
                self.wfile.flush()
            for i in range(len(slow)):
                self.wfile.write(slow[i : i + 1])
                self.wfile.flush()
                time.sleep(0.25)
        except OSError:  # the client gave up, as the test expects
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (keep the quiet server quiet)
        pass


class LocalServer(http.server.HTTPServer):
    routes: dict[str, tuple[bytes, str]]
    requests: list[str]

    def add(self, path: str, body: bytes, mode: str = "ok") -> str:
        """Serve ``body`` at ``path``; return its URL."""
        self.routes[path] = (body, mode)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """An HTTP server on 127.0.0.1 (free port) in a thread, shut down and closed afterwards."""
    srv = LocalServer(("127.0.0.1", 0), _Handler)
    srv.routes, srv.requests = {}, []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def serve_set(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, np.ndarray]]:
    """Serve a fake MNIST as .gz files under /good/ with its MD5s; /missing/ answers 404.

    MIRRORS["mnist"] points at /missing/ first, then /good/.
    """

    def serve(arrays: dict[str, np.ndarray] | None = None, md5_of: Callable[[bytes], str] | None = None):
        arrays = fake_set() if arrays is None else arrays
        checksums = {}
        for stem, array in arrays.items():
            blob = gzip.compress(idx_bytes(array))
            server.add(f"/good/{stem}.gz", blob)
            checksums[f"{stem}.gz"] = (md5_of or (lambda b: hashlib.md5(b).hexdigest()))(blob)
        monkeypatch.setitem(download.MIRRORS, "mnist", [server.url("/missing/"), server.url("/good/")])
        monkeypatch.setitem(download.MD5, "mnist", checksums)
        return arrays

    return serve
