"""Fetch data files over HTTP(S): mirrors in order, checksum verified, atomic writes.

Only the standard library (``urllib``) is used. A file is streamed into a
temporary file in the destination folder (``.<name>.glassnet-XXXXXXXX.part``),
its MD5 is checked, and only then is it renamed into place with
``os.replace``; a failed download leaves nothing behind, and the ``.part``
files of killed ones are removed by the next download into the folder once
they are an hour old.

Two clocks bound a download: ``timeout``, the longest wait for the next
bytes, and ``deadline``, the longest the whole download may take (connecting,
headers and body), so a server that trickles a byte at a time can't hold it
for ever.

``MIRRORS`` and ``MD5`` are plain module-level dicts, so tests and users
behind a proxy or with a local copy can point them elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from glassnet._checks import clip, positive_float, positive_int, short
from glassnet._files import temp_file

__all__ = ["DownloadError", "ChecksumError", "download_file", "fetch", "MIRRORS", "MD5", "DEADLINE"]

# Base URLs, tried in order; a file's URL is the base plus its file name.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

# MD5 of each .gz file as the mirrors serve it (the official checksums).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

TIMEOUT = 30.0  # seconds without progress before a connection is given up
DEADLINE = 900.0  # seconds a whole download may take (26 MB at 30 kB/s)
MAX_BYTES = 128 * 2**20  # the largest file here (Fashion-MNIST training images) is about 26 MB
_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be fetched: HTTP error, network failure, cut-off or oversized response."""


class ChecksumError(DownloadError, ValueError):
    """A file arrived whole but its checksum is wrong; it was not saved.

    Both a DownloadError (catch every download failure in one place) and a
    ValueError (the data are wrong, not the network).
    """


class _Watchdog:
    """Shuts down every socket a download opened once its deadline passes.

    A per-read timeout can't stop a server that sends one byte just before
    each timeout; shutting the socket down from a timer thread wakes the
    blocked read at the deadline, wherever it is (connecting, headers, body).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds, self.expired = seconds, False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self._timer.start()
        try:
            yield
        finally:
            self._timer.cancel()


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """A urllib opener whose connections report their sockets to ``watchdog``."""

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)

    class SecureConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)

    # do_open is given the standard connection class; swap in ours, keep every other argument
    class Handler(urllib.request.HTTPHandler):
        def do_open(self, http_class: Any, req: urllib.request.Request, **kwargs: Any) -> Any:
            return super().do_open(Connection, req, **kwargs)

    class SecureHandler(urllib.request.HTTPSHandler):
        def do_open(self, http_class: Any, req: urllib.request.Request, **kwargs: Any) -> Any:
            return super().do_open(SecureConnection, req, **kwargs)

    return urllib.request.build_opener(Handler, SecureHandler)


def _stream(url: str, out: Path, timeout: float, max_bytes: int, deadline: float) -> str:
    """Write the body of ``url`` into ``out``; return its MD5 hex digest."""
    request = urllib.request.Request(url, headers={"User-Agent": "glassnet"})
    digest = hashlib.md5(usedforsecurity=False)
    watchdog = _Watchdog(deadline)
    start = time.monotonic()
    try:
        with (
            watchdog.running(),
            _opener(watchdog).open(request, timeout=min(timeout, deadline)) as response,
            open(out, "wb") as sink,
        ):
            header = response.headers.get("Content-Length")
            length = int(header) if header is not None and header.strip().isdigit() else None
            if length is not None and length > max_bytes:
                raise DownloadError(
                    f"{url}: the server announces {length} bytes, more than the limit of {max_bytes} bytes"
                )
            received = 0
            # read1: whatever has arrived (up to a chunk), so the deadline is checked as bytes trickle in
            while chunk := response.read1(_CHUNK):
                if watchdog.expired or time.monotonic() - start > deadline:
                    raise DownloadError(f"{url}: the download took longer than the deadline of {deadline:g} s")
                received += len(chunk)
                if received > max_bytes:
                    raise DownloadError(f"{url}: the response exceeds the limit of {max_bytes} bytes")
                digest.update(chunk)
                sink.write(chunk)
            if watchdog.expired:
                raise DownloadError(f"{url}: the download took longer than the deadline of {deadline:g} s")
            if length is not None and received != length:
                raise DownloadError(f"{url}: the connection closed after {received} of {length} bytes")
    except DownloadError:
        raise
    except urllib.error.HTTPError as err:
        err.close()
        raise DownloadError(f"{url}: HTTP error {err.code} {clip(str(err.reason))}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:  # timeouts, resets, TLS errors
        if watchdog.expired:
            raise DownloadError(f"{url}: the download took longer than the deadline of {deadline:g} s") from None
        reason = err.reason if isinstance(err, urllib.error.URLError) else f"{type(err).__name__}: {err}"
        raise DownloadError(f"{url}: {clip(str(reason))}") from err
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
    deadline: float = DEADLINE,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its MD5 if given.

    The body goes to a hidden temporary file in ``dest``'s folder (created if
    needed); once complete and verified it replaces ``dest`` in one step
    (``os.replace``). On any failure the temporary file is removed and
    ``dest`` is left as it was. ``.part`` files of killed downloads in the
    folder, unchanged for an hour, are removed first.

    Args:
        url: an ``http://`` or ``https://`` URL.
        dest: the file to create or replace.
        md5: expected MD5 hex digest of the bytes as served, or None to skip
            the check.
        timeout: seconds to wait for the connection or for the next bytes.
        max_bytes: refuse a response larger than this.
        deadline: seconds the whole download may take, however steadily
            bytes arrive (default ``DEADLINE``, 15 minutes).

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        DownloadError (an OSError): HTTP error, network failure, timeout,
            the deadline passed, a response cut off before its
            Content-Length, or one over ``max_bytes``; the message names the URL.
        ChecksumError (a DownloadError and a ValueError): the MD5 does not
            match; nothing is saved.
        ValueError: a URL that is not http(s).
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be an http:// or https:// URL. Received: url={short(url)}")
    if md5 is not None and not isinstance(md5, str):
        raise TypeError(f"md5 must be a hex string or None. Received: md5={short(md5)}")
    timeout = positive_float(timeout, "timeout")
    deadline = positive_float(deadline, "deadline")
    max_bytes = positive_int(max_bytes, "max_bytes")
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = temp_file(target, ".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        got = _stream(url, tmp, timeout, max_bytes, deadline)
        if md5 is not None and got != md5.lower():
            raise ChecksumError(f"{url}: MD5 {got} does not match the expected {md5.lower()}; the file was not saved")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def fetch(
    filename: str,
    folder: str | os.PathLike[str],
    mirrors: Sequence[str],
    *,
    md5: str | None = None,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
    deadline: float = DEADLINE,
) -> Path:
    """Download ``filename`` into ``folder`` from the first mirror that serves it intact.

    Each mirror is a base URL; the file's URL is the base, a ``/``, and
    ``filename``. A mirror that fails (HTTP error, network error, wrong
    checksum) is skipped for the next one.

    Returns:
        The path of the saved file, ``folder / filename``.

    Raises:
        ChecksumError (a DownloadError and a ValueError): no mirror delivered
            the file and at least one served it with a wrong checksum.
        DownloadError: no mirror delivered the file. Either way the message
            lists every URL tried and what went wrong with it.
        ValueError: ``mirrors`` is empty.
    """
    if isinstance(mirrors, str) or not mirrors:
        raise ValueError(f"mirrors must be a non-empty list of base URLs. Received: mirrors={short(mirrors)}")
    errors: list[DownloadError] = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            return download_file(
                url, Path(folder) / filename, md5=md5, timeout=timeout, max_bytes=max_bytes, deadline=deadline
            )
        except DownloadError as err:
            errors.append(err)
    report = f"could not download {filename} from any of {len(errors)} mirror(s):\n" + "\n".join(
        f"  - {err}" for err in errors
    )
    # Wrong data from some mirror matters more than an unreachable other one.
    if any(isinstance(err, ChecksumError) for err in errors):
        raise ChecksumError(report)
    raise DownloadError(report)
