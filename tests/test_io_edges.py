"""Model files at the edges: damaged bytes, out-of-range configs, odd paths, killed writers."""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import _archive, _files
from glassnet._checks import short


def _base_file(tmp_path):
    model = gn.Sequential(
        gn.Conv2d(1, 2, 3, padding=1, rng=0), gn.BatchNorm2d(2), gn.Flatten(), gn.Linear(2 * 4 * 4, 3, rng=1)
    )
    path = tmp_path / "base.gn"
    model.save(path, metadata={"classes": ["a", "b", "c"]})
    return path


def _mutate(data, rng):
    b = bytearray(data)
    kind = int(rng.integers(7))
    i = int(rng.integers(len(b) - 4))
    if kind == 0:  # flip a few bits
        for _ in range(int(rng.integers(1, 5))):
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # overwrite a span with noise
        n = int(rng.integers(1, 16))
        b[i : i + n] = rng.bytes(n)
    elif kind == 2:  # truncate
        b = b[:i]
    elif kind == 3:  # insert noise
        b[i:i] = rng.bytes(int(rng.integers(1, 64)))
    elif kind == 4:  # delete a span
        del b[i : i + int(rng.integers(1, 64))]
    elif kind == 5:  # a 4-byte field (size, offset, CRC) set to an extreme
        value = int(rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0, 1, len(b)]))
        b[i : i + 4] = value.to_bytes(4, "little")
    else:  # a 2-byte field (count, name length) set to an extreme
        b[i : i + 2] = int(rng.choice([0xFFFF, 0, 1, 0x8000])).to_bytes(2, "little")
    return bytes(b)


def test_byte_level_mutations_give_only_value_errors_naming_the_file(tmp_path):
    # Before the archive checks, about 13% of these raised OSError (Errno 22) from zipfile's seek.
    data = _base_file(tmp_path).read_bytes()
    rng = np.random.default_rng(0)
    path = tmp_path / "mutated.gn"
    outcomes = {"loaded": 0, "refused": 0}
    for trial in range(1500):
        path.write_bytes(_mutate(data, rng))
        try:
            gn.load(path)
            outcomes["loaded"] += 1
        except ValueError as err:
            assert str(path) in str(err), (trial, err)
            assert len(str(err)) < 2000
            outcomes["refused"] += 1
    assert outcomes["refused"] > 1000  # the mutations did damage the files


@pytest.mark.parametrize(
    ("layer", "config", "match"),
    [
        ("Linear", {"in_features": 3, "out_features": 2, "bias": "false"}, "bias must be True or False"),
        ("Linear", {"in_features": 3, "out_features": 2, "bias": 0}, "bias must be True or False"),
        (
            "Conv2d",
            {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": 2**31},
            "padding must be at most",
        ),
        ("Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "stride": 10**18}, "stride must be at most"),
        ("Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "bias": "no"}, "bias must be"),
        ("MaxPool2d", {"kernel_size": 10**18}, "kernel_size must be at most"),
        ("Softmax", {"axis": 10**18}, r"axis must be an integer in \[-64, 63\]"),
        ("Softmax", {"axis": 1.5}, "axis must be an integer"),
        ("BatchNorm1d", {"num_features": 2, "affine": "false"}, "affine must be True or False"),
        ("LSTM", {"input_size": 2, "hidden_size": 2, "bias": "false"}, "bias must be True or False"),
        ("Linear", {"in_features": "x" * 10_000_000, "out_features": 2}, r"in_features='xxx.*\.\.\."),
    ],
)
def test_out_of_range_configs_are_refused_on_loading(tmp_path, layer, config, match):
    header = {
        "format": "glassnet-model",
        "version": 1,
        "architecture": {"class": "Sequential", "config": {"layers": [{"class": layer, "config": config}]}},
        "arrays": {},
    }
    path = tmp_path / "bad-config.gn"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.json", json.dumps(header))
    with pytest.raises(ValueError, match=match) as info:
        gn.load(path)
    assert str(path) in str(info.value)
    assert len(str(info.value)) < 1500  # the 10 MB string is not echoed


def test_constructors_share_the_strict_checks():
    with pytest.raises(TypeError, match="bias must be True or False. Received: bias='false'"):
        gn.Linear(3, 2, bias="false")
    with pytest.raises(ValueError, match=r"padding must be at most 2147483647. Received: padding=2147483648"):
        gn.Conv2d(1, 1, 3, padding=2**31)
    with pytest.raises(ValueError, match="axis"):
        gn.Softmax(axis=-65)
    assert gn.Softmax(axis=-1).axis == -1 and gn.Linear(3, 2, bias=np.bool_(False)).bias is None
    assert gn.Conv2d(1, 1, (3, 5), padding=(7, 1)).padding == (7, 1)  # past the kernel, as PyTorch allows


def test_short_bounds_every_echo():
    assert len(short("x" * 10**7)) <= 200
    assert short(10**5000) == "<an integer of 16610 bits>"
    assert len(short(list(range(10**6)))) <= 200

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert short(Broken()).startswith("<Broken")


def test_save_to_an_empty_path_or_a_folder_is_a_value_error(tmp_path):
    model = gn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match="path must name a file. Received: path=''"):
        model.save("")
    with pytest.raises(ValueError, match="not a folder"):
        model.save(tmp_path)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        model.save(42)
    assert list(tmp_path.iterdir()) == []


def test_metadata_nested_thousands_deep_is_a_value_error(tmp_path):
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValueError, match="not JSON-safe"):  # json.dumps itself gives up: RecursionError
        gn.Linear(3, 2).save(tmp_path / "m.gn", metadata={"deep": deep})
    deep = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="nested 303 levels deep, more than 256"):  # what load would refuse
        gn.Linear(3, 2).save(tmp_path / "m.gn", metadata={"deep": deep})
    assert list(tmp_path.iterdir()) == []


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_save_removes_old_temporary_files_of_killed_saves_only(tmp_path):
    stale = tmp_path / ".model.gn.glassnet-abcd1234.tmp"  # left by a save killed an hour ago
    fresh = tmp_path / ".model.gn.glassnet-efgh5678.tmp"  # a save running right now
    other = tmp_path / ".model.gn.abcd1234.tmp"  # not glassnet's pattern
    mine = tmp_path / "notes.tmp"
    for p in (stale, fresh, other, mine):
        p.write_bytes(b"x" * 100)
    for p in (stale, other, mine):
        _age(p, 2 * _files.STALE_AFTER)
    gn.Linear(3, 2, rng=0).save(tmp_path / "model.gn")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, other.name, mine.name, "model.gn"])


def test_a_killed_save_leaves_a_temporary_file_the_next_save_removes(tmp_path):
    script = (
        "import os, sys, glassnet as gn\n"
        "from glassnet import _archive\n"
        "real = os.replace\n"
        "def die(*a): os._exit(9)\n"  # killed between writing and renaming
        "_archive.os.replace = die\n"
        "gn.Linear(3, 2, rng=0).save(sys.argv[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(gn.__file__).resolve().parents[1])}
    target = tmp_path / "model.gn"
    run = subprocess.run([sys.executable, "-c", script, str(target)], env=env, timeout=120, capture_output=True)
    assert run.returncode == 9, run.stderr
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".model.gn.glassnet-") and left.name.endswith(".tmp")
    gn.Linear(3, 2, rng=0).save(target)
    assert left.exists()  # too recent: it could belong to a save still running
    _age(left, 2 * _files.STALE_AFTER)
    gn.Linear(3, 2, rng=0).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gn"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.gn"
    os.mkfifo(fifo)
    script = (
        "import sys, glassnet as gn\n"
        "from glassnet.datasets import read_idx\n"
        "for call in (gn.load, read_idx):\n"
        "    try:\n"
        "        call(sys.argv[1])\n"
        "    except ValueError as err:\n"
        "        print(err)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(gn.__file__).resolve().parents[1])}
    run = subprocess.run([sys.executable, "-c", script, str(fifo)], env=env, timeout=60, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count(f"{fifo} is a FIFO: only regular files can be read") == 2


def test_folders_and_devices_are_refused(tmp_path):
    from glassnet.datasets import read_idx

    for call in (gn.load, read_idx):
        with pytest.raises(ValueError, match="is a folder"):
            call(tmp_path)
        if os.path.exists("/dev/zero"):
            with pytest.raises(ValueError, match="/dev/zero is not a regular file"):
                call("/dev/zero")
    with pytest.raises(FileNotFoundError):
        gn.load(tmp_path / "missing.gn")


def test_the_archive_functions_round_trip_any_header_and_arrays(tmp_path):
    # the pieces a checkpoint reuses: an atomic writer and a checking reader
    arrays = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b/c": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.float16),
    }
    path = tmp_path / "state.gnck"
    _archive.write_archive(path, {"format": "something", "step": 7}, arrays, json_name="checkpoint.json")
    with _archive.open_archive(path, json_name="checkpoint.json") as archive:
        assert archive.header["step"] == 7 and archive.nbytes == 24 + 8
        for name, array in arrays.items():
            got = archive.read(name)
            assert got.dtype == array.dtype and got.flags.writeable and got.flags.owndata
            np.testing.assert_array_equal(got, array)
    with pytest.raises(ValueError, match="no model.json, so it is not a glassnet model file"):
        gn.load(path)
