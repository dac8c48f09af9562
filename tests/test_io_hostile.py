"""Hostile files: each class costs memory in proportion to the file's size, never to what the file claims.

Every case runs in a fresh Python process that measures its peak resident
memory around the call: on Linux the peak is reset after the warm-up
(``/proc/self/clear_refs``) and read back as ``VmHWM``, so the increase is
the call's own; elsewhere ``resource.getrusage(...).ru_maxrss`` (the peak
since the process started, which hides allocations below the import peak).
The increase must stay within a small multiple of the file's size (plus a few
MiB of interpreter noise), where the same files used to cost up to gigabytes.
"""

import gzip
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

import glassnet as gn

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX-only")

SLACK = 8 * 2**20  # bytes of interpreter noise (imports, allocator arenas) allowed on top
SRC = str(Path(gn.__file__).resolve().parents[1])

_PROBE = """
import json, os, resource, sys, tempfile
import numpy as np
import glassnet as gn
from glassnet.datasets import read_idx

path, call, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
with tempfile.TemporaryDirectory() as folder:  # warm up: every module and code path loaded once
    tiny = os.path.join(folder, "tiny.gn")
    gn.Sequential(gn.Linear(2, 2, rng=0), gn.BatchNorm1d(2)).save(tiny)
    gn.load(tiny)
    with open(tiny, "wb") as f:
        f.write(b"PK\\x03\\x04junk")
    try:
        gn.load(tiny)
    except ValueError:
        pass
def status(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None

try:  # Linux: reset the peak to the current size, so the call's own peak is measured
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS:")
except OSError:
    before = None
if before is None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:
    if call == "predict":  # a hostile config whose cost shows only when the model runs
        result = gn.load(path).predict(np.zeros((1, 1, 8, 8), dtype=np.float32))
    elif call == "checkpoint":
        from glassnet.checkpoint import read_checkpoint
        result = read_checkpoint(path)
    else:
        result = gn.load(path) if call == "load" else read_idx(path, max_bytes=max_bytes)
    outcome = "ok"
except ValueError as err:
    outcome = "ValueError: " + str(err)[:400]
after = status("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"increase": after - before, "outcome": outcome}))
"""


def _probe(path, call="load", max_bytes=2**30):
    env = {**os.environ, "PYTHONPATH": SRC}
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), call, str(max_bytes)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


# -- building hostile files -------------------------------------------------
def _model_file(path, layers, arrays=None, entries=None, metadata=None):
    """A zip shaped like a model file: the given layer specs, array descriptions and entries."""
    header = {"format": "glassnet-model", "version": 1}
    header["architecture"] = {"class": "Sequential", "config": {"layers": layers}}
    header["arrays"] = arrays or {}
    if metadata is not None:
        header["metadata"] = metadata
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.json", json.dumps(header, separators=(",", ":")))
        for name, data in (entries or {}).items():
            zf.writestr(name, data)
    return path


_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")


def chained_overlap_zip(path, header, names, size):
    """Entries whose regions nest: entry i's data is entry i+1's local header followed by its data.

    Every entry holds ``size`` bytes, so n entries describe n * size bytes in
    a file of about size + n * 60 bytes: the zip form of a quine.
    """
    json_bytes = json.dumps(header, separators=(",", ":")).encode()

    def local(name, crc, n):
        return _LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, n, n, len(name), 0) + name

    encoded = [n.encode() for n in names]
    tail = bytes(size)  # the last entry's data
    crcs = []
    for name in reversed(encoded):
        crc = zlib.crc32(tail[:size])
        crcs.append(crc)
        tail = local(name, crc, size) + tail
    crcs.reverse()
    first = local(b"model.json", zlib.crc32(json_bytes), len(json_bytes)) + json_bytes
    body = first + tail
    directory = [(b"model.json", 0, zlib.crc32(json_bytes), len(json_bytes))]
    offset = len(first)
    for name, crc in zip(encoded, crcs):
        directory.append((name, offset, crc, size))
        offset += _LOCAL.size + len(name)
    central = b"".join(
        _CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, n, n, len(name), 0, 0, 0, 0, 0o644 << 16, off) + name
        for name, off, crc, n in directory
    )
    end = _END.pack(b"PK\x05\x06", 0, 0, len(directory), len(directory), len(central), len(body), 0)
    Path(path).write_bytes(body + central + end)
    return path


def _bn_layers(count, features):
    layers = [{"class": "BatchNorm1d", "config": {"num_features": features}} for _ in range(count)]
    arrays = {
        f"layers.{i}.{a}": {"dtype": "float32", "shape": [features]}
        for i in range(count)
        for a in ("weight", "bias", "running_mean", "running_var")
    }
    return layers, arrays


def _hostile(kind, tmp_path):
    path = tmp_path / f"{kind}.gn"
    if kind == "batchnorm-huge":  # running statistics of 10^9 features: 4 GB each
        return _model_file(path, [{"class": "BatchNorm1d", "config": {"num_features": 10**9}}])
    if kind == "linear-without-init":  # a 50,000 x 50,000 weight drawn at random: 10 GB
        return _model_file(path, [{"class": "Linear", "config": {"in_features": 50_000, "out_features": 50_000}}])
    if kind == "conv-without-init":
        config = {"in_channels": 8192, "out_channels": 8192, "kernel_size": 3}
        return _model_file(path, [{"class": "Conv2d", "config": config}])
    if kind == "embedding-huge":
        return _model_file(path, [{"class": "Embedding", "config": {"num_embeddings": 10**7, "embedding_dim": 1000}}])
    if kind == "lstm-huge":
        return _model_file(path, [{"class": "LSTM", "config": {"input_size": 50_000, "hidden_size": 50_000}}])
    if kind == "layernorm-huge":
        return _model_file(path, [{"class": "LayerNorm", "config": {"normalized_shape": [10**5, 10**5]}}])
    if kind == "gpt-huge":
        config = {"vocab_size": 100_000, "context": 100_000, "n_layer": 48, "n_head": 16, "n_embd": 8192}
        return _model_file(path, [{"class": "GPT", "config": config}])
    if kind == "arrays-claim-more-than-the-file":
        layers = [{"class": "Linear", "config": {"in_features": 50_000, "out_features": 50_000, "bias": False}}]
        arrays = {"layers.0.weight": {"dtype": "float32", "shape": [50_000, 50_000]}}
        return _model_file(path, layers, arrays, {"arrays/layers.0.weight": b"\x00" * 64})
    if kind == "overlapping-entries":  # 400 entries sharing one 256 KiB region: 100 MiB of arrays
        layers, arrays = _bn_layers(100, 65_536)
        header = {
            "format": "glassnet-model",
            "version": 1,
            "architecture": {"class": "Sequential", "config": {"layers": layers}},
            "arrays": arrays,
        }
        return chained_overlap_zip(path, header, ["arrays/" + name for name in arrays], 65_536 * 4)
    if kind == "json-of-empty-objects":  # 3 MB of {} used to cost ~25x its size to parse
        return _model_file(path, [], metadata={"x": [{}] * 1_000_000})
    if kind == "json-nested-deep":  # too deep for json.dumps to write: by hand
        _model_file(path, [], metadata={"x": "DEEP"})
        with zipfile.ZipFile(path) as zf:
            text = zf.read("model.json").decode().replace('"DEEP"', '{"padding-key":' * 5000 + "0" + "}" * 5000)
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("model.json", text)
        return path
    if kind == "json-too-large":
        return _model_file(path, [], metadata={"x": "a" * (17 * 2**20)})
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("batchnorm-huge", "cannot build BatchNorm1d.*more array memory than the file holds"),
        ("linear-without-init", "cannot build Linear.*more array memory than the file holds"),
        ("conv-without-init", "cannot build Conv2d.*more array memory than the file holds"),
        ("embedding-huge", "cannot build Embedding.*more array memory than the file holds"),
        ("lstm-huge", "cannot build LSTM.*more array memory than the file holds"),
        ("layernorm-huge", "cannot build LayerNorm.*more array memory than the file holds"),
        ("gpt-huge", "cannot build GPT.*more array memory than the file holds"),
        ("arrays-claim-more-than-the-file", "holds 64 bytes, expected 10000000000"),
        ("overlapping-entries", "overlap"),
        ("json-of-empty-objects", "objects and arrays"),
        ("json-nested-deep", "nested 5002 levels deep"),
        ("json-too-large", "more than 16777216"),
    ],
)
def test_hostile_model_files_cost_memory_in_proportion_to_their_size(tmp_path, kind, match):
    path = _hostile(kind, tmp_path)
    size = path.stat().st_size
    report = _probe(path)
    assert report["outcome"].startswith("ValueError: ")
    assert str(path) in report["outcome"]
    assert re.search(match, report["outcome"]), report["outcome"]
    assert report["increase"] <= 4 * size + SLACK, (kind, size, report)


def test_an_honest_model_costs_about_its_size(tmp_path):
    model = gn.Sequential(gn.Linear(1000, 4000, rng=0), gn.BatchNorm1d(4000), gn.Linear(4000, 1000, rng=1))
    path = tmp_path / "honest.gn"
    model.save(path)
    size = path.stat().st_size  # 32 MB of weights
    report = _probe(path)
    assert report["outcome"] == "ok"
    assert report["increase"] <= 1.5 * size + SLACK, (size, report)


def _idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def test_a_small_gzip_that_truthfully_declares_a_lot_streams_into_one_array(tmp_path):
    dims = (64, 1024, 1024)  # 64 MiB of uint8 zeros: a gzip of about 64 KB
    path = tmp_path / "big-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(_idx_header(0x08, dims))
        for _ in range(dims[0]):
            f.write(bytes(dims[1] * dims[2]))
    data = 64 * 2**20
    refused = _probe(path, "idx", max_bytes=data - 1)  # the limit is the caller's to raise
    assert refused["outcome"].startswith("ValueError: ") and "max_bytes" in refused["outcome"]
    assert refused["increase"] <= SLACK
    read = _probe(path, "idx", max_bytes=data)
    assert read["outcome"] == "ok"
    assert read["increase"] <= 1.25 * data + SLACK, read  # one copy of the data, not two


def test_a_gzip_that_declares_more_than_it_holds_touches_only_what_arrives(tmp_path):
    path = tmp_path / "liar-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_header(0x08, (2**29,)) + bytes(2**20)))  # claims 512 MiB, holds 1 MiB
    report = _probe(path, "idx", max_bytes=2**30)
    assert report["outcome"].startswith("ValueError: ") and "truncated" in report["outcome"]
    assert report["increase"] <= 4 * 2**20 + SLACK, report


def test_a_declared_size_over_the_default_limit_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_header(0x0E, (2**16, 2**16, 2**4))))  # 512 GiB of float64
    from glassnet.datasets import read_idx
    from glassnet.datasets.idx import MAX_BYTES

    with pytest.raises(ValueError, match=f"more than max_bytes={MAX_BYTES}; pass a larger max_bytes") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_two_overlapping_entries_are_refused(tmp_path):
    layers, arrays = _bn_layers(1, 4)
    header = {
        "format": "glassnet-model",
        "version": 1,
        "architecture": {"class": "Sequential", "config": {"layers": layers}},
        "arrays": arrays,
    }
    path = chained_overlap_zip(tmp_path / "overlap.gn", header, ["arrays/" + n for n in arrays], 16)
    with pytest.raises(ValueError, match="overlap") as info:
        gn.load(path)
    assert str(path) in str(info.value)


def test_a_checkpoint_whose_history_holds_small_dicts_costs_about_its_size(tmp_path):
    """15 MiB of {"a":0} in a checkpoint's history used to cost +617 MiB to read."""
    model = gn.Sequential(gn.Linear(4, 2, rng=0))
    path = tmp_path / "ck.gnet"
    x = [[0.0, 1.0, 2.0, 3.0]] * 8
    model.fit(
        x,
        [0] * 8,
        loss=gn.CrossEntropyLoss(),
        optimizer=gn.SGD(model.parameters(), lr=0.1),
        epochs=1,
        verbose=0,
        callbacks=[gn.ModelCheckpoint(path)],
    )
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    header = json.loads(entries["checkpoint.json"])
    header["history"]["history"]["loss"] = "LOSSES"
    text = json.dumps(header, separators=(",", ":"))
    entries["checkpoint.json"] = text.replace('"LOSSES"', "[" + ",".join(['{"a":0}'] * 1_970_000) + "]").encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    size = path.stat().st_size
    assert size > 15 * 2**20
    report = _probe(path, call="checkpoint")
    assert re.search("objects and arrays", report["outcome"]), report["outcome"]
    assert report["increase"] <= 4 * size + SLACK, (size, report)


@pytest.mark.parametrize("padding", [6000, 2**31 - 1])
def test_a_model_file_with_a_huge_conv_padding_is_refused_before_it_costs(tmp_path, padding):
    """Any padding PyTorch takes is built, but one whose workspace would be gigabytes is refused, not allocated."""
    config = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": padding, "bias": False}
    path = _model_file(
        tmp_path / "padded.gn",
        [{"class": "Conv2d", "config": config}],
        arrays={"layers.0.weight": {"dtype": "float32", "shape": [1, 1, 3, 3]}},
        entries={"arrays/layers.0.weight": bytes(36)},
    )
    size = path.stat().st_size
    report = _probe(path, call="predict")
    assert report["outcome"].startswith("ValueError: "), report
    assert "workspace of" in report["outcome"] and "only adds outputs that see zeros" in report["outcome"]
    assert report["increase"] <= 4 * size + SLACK, (size, report)
