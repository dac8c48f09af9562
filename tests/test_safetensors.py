"""safetensors read and written with NumPy: agreement with the reference library, and hostile files refused."""

import json
import struct
import tracemalloc

import numpy as np
import pytest

from glassnet import safetensors
from glassnet.models import gpt2

ref_numpy = pytest.importorskip("safetensors.numpy")


def raw_file(path, header, data=b"", length=None):
    """A file with the given header (a dict, or raw bytes) and data, its length field possibly lying."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def test_round_trips_with_the_reference_library(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "w": rng.normal(size=(3, 5)).astype(np.float32),
        "d": rng.normal(size=(2, 2, 2)),
        "h": rng.normal(size=(7,)).astype(np.float16),
        "i": np.arange(4, dtype=np.int64),
        "b": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.array(2.5, np.float32),
    }
    safetensors.save(tensors, tmp_path / "ours.safetensors", metadata={"format": "pt"})
    theirs = ref_numpy.load_file(tmp_path / "ours.safetensors")
    ref_numpy.save_file(tensors, tmp_path / "theirs.safetensors")
    ours = safetensors.load(tmp_path / "theirs.safetensors")
    for name, value in tensors.items():
        for got in (theirs[name], ours[name]):
            assert got.dtype == value.dtype and got.shape == value.shape
            assert np.array_equal(got, value)
    header_len = struct.unpack("<Q", (tmp_path / "ours.safetensors").read_bytes()[:8])[0]
    assert header_len % 8 == 0  # padded as the reference library pads


def test_bfloat16_widens_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    values = torch.randn(4, 6).to(torch.bfloat16)
    save_file({"x": values}, tmp_path / "b.safetensors")
    got = safetensors.load(tmp_path / "b.safetensors")["x"]
    assert got.dtype == np.float32
    assert np.array_equal(got, values.float().numpy())
    assert safetensors.load(tmp_path / "b.safetensors", dtype=np.float64)["x"].dtype == np.float64


@pytest.mark.parametrize(
    ("header", "data", "length", "words"),
    [
        ({}, b"", 2**63, "more than"),  # a header length of 8 EiB
        ({}, b"", 10_000, "the file holds"),  # longer than the file
        (b"{not json", b"", None, "not UTF-8 JSON"),
        (b"\xff\xfe{}", b"", None, "not UTF-8 JSON"),
        (b"[1, 2]", b"", None, "not an object"),
        ({"x": entry("F32", [2], 0, 8)}, b"\0" * 4, None, "the file holds 4"),  # offsets past the end
        ({"x": entry("F32", [2], 0, 8), "y": entry("F32", [1], 4, 8)}, b"\0" * 8, None, "overlaps"),
        ({"x": entry("F32", [1], 0, 4), "y": entry("F32", [1], 8, 12)}, b"\0" * 12, None, "gap"),
        ({"x": entry("F32", [1], 0, 4)}, b"\0" * 12, None, "belong to none"),  # data not covered
        ({"x": entry("F32", [3], 0, 8)}, b"\0" * 8, None, "needs 12 bytes"),  # shape vs offsets
        ({"x": entry("F32", [2], 8, 0)}, b"\0" * 8, None, "needs 8 bytes"),  # end before begin
        ({"x": entry("Q4", [2], 0, 8)}, b"\0" * 8, None, "unknown dtype"),
        ({"x": entry("F32", [-2], 0, 8)}, b"\0" * 8, None, "non-negative"),
        ({"x": entry("F32", [2**40, 2**40], 0, 8)}, b"\0" * 8, None, "needs"),  # a huge shape, tiny data
        ({"x": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, None, "exactly dtype"),
        ({"__metadata__": {"a": 1}}, b"", None, "__metadata__"),
    ],
)
def test_hostile_headers_are_refused(tmp_path, header, data, length, words):
    path = raw_file(tmp_path / "x.safetensors", header, data, length)
    with pytest.raises(ValueError, match=words):
        safetensors.read_header(path)


def test_short_files_and_pickles_are_refused(tmp_path):
    (tmp_path / "short.safetensors").write_bytes(b"\1\0")
    with pytest.raises(ValueError, match="fewer than the 8"):
        safetensors.read_header(tmp_path / "short.safetensors")
    (tmp_path / "p.safetensors").write_bytes(b"\x80\x02}q\x00" + b"\0" * 20)
    with pytest.raises(ValueError, match="pickle"):
        safetensors.read_header(tmp_path / "p.safetensors")
    (tmp_path / "pytorch_model.bin").write_bytes(b"PK\3\4" + b"\0" * 20)
    with pytest.raises(ValueError, match="never loads.*huggingface-cli download"):
        safetensors.read_header(tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="only pytorch_model.bin.*never unpickles.*safetensors"):
        gpt2.load_pretrained(tmp_path)


def test_names_not_in_the_file_are_refused(tmp_path):
    safetensors.save({"a": np.zeros(2, np.float32)}, tmp_path / "a.safetensors")
    with pytest.raises(ValueError, match="no tensor named 'b'"):
        safetensors.load(tmp_path / "a.safetensors", names=["b"])


# -- a GPT-2 folder whose file and config disagree ----------------------------------
CONFIG = {"vocab_size": 40, "n_positions": 16, "n_embd": 8, "n_layer": 2, "n_head": 2, "model_type": "gpt2"}


def folder_with(tmp_path, change=None, config=None):
    model = gpt2.build(CONFIG, rng=0)
    tensors = {f"transformer.{n}": p.data.copy() for n, p in gpt2.hf_parameters(model).items()}
    if change is not None:
        change(tensors)
    safetensors.save(tensors, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(config or CONFIG))
    return tmp_path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda t: t.update({"transformer.wte.weight": t["transformer.wte.weight"].T.copy()}),
            r"wte.weight has shape \[8, 40\]",
        ),
        (lambda t: t.update({"transformer.h.1.ln_1.bias": np.zeros(8, np.int32)}), "dtype I32, not a float"),
        (lambda t: t.pop("transformer.h.1.mlp.c_fc.weight"), "c_fc.weight is missing"),
        (lambda t: t.update({"transformer.extra": np.zeros(1, np.float32)}), "extra is not a GPT-2 tensor"),
        (lambda t: t.update({"lm_head.weight": np.zeros((3, 8), np.float32)}), "lm_head.weight has shape"),
    ],
)
def test_file_and_config_must_agree(tmp_path, change, words):
    folder = folder_with(tmp_path, change)
    with pytest.raises(ValueError, match=words):
        gpt2.load_pretrained(folder)


def test_nan_tensors_are_refused_by_name(tmp_path):
    def poison(t):
        t["transformer.h.0.attn.c_proj.weight"][1, 2] = np.nan

    folder = folder_with(tmp_path, poison)
    with pytest.raises(ValueError, match=r"'transformer.h.0.attn.c_proj.weight'.* 1 NaN or infinite values of 64"):
        gpt2.load_pretrained(folder)
    assert np.isnan(
        gpt2.load_pretrained(folder, finite=False).blocks.layers[0].module.layers[1].out_proj.weight.data
    ).any()


def test_old_checkpoints_with_mask_buffers_and_no_prefix_load(tmp_path):
    def old_style(t):
        for name in list(t):
            t[name.removeprefix("transformer.")] = t.pop(name)
        t["h.0.attn.bias"] = np.tril(np.ones((1, 1, 16, 16), np.float32))
        t["lm_head.weight"] = t["wte.weight"].copy()

    folder = folder_with(tmp_path, old_style)
    model = gpt2.load_pretrained(folder)
    assert model.n_layer == 2 and model(np.array([[1, 2]])).shape == (1, 2, 40)


def test_a_config_asking_for_a_huge_model_is_refused_before_allocation(tmp_path):
    huge = {**CONFIG, "vocab_size": 100_000, "n_embd": 65536, "n_head": 64, "n_layer": 20}  # about 1e12 parameters
    folder = folder_with(tmp_path, config=huge)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="asks for 1.0[0-9]e\\+12 parameters"):
            gpt2.load_pretrained(folder)
        big = {**CONFIG, "n_embd": 4096, "n_head": 32}  # under the cap, but not what the file holds
        (folder / "config.json").write_text(json.dumps(big))
        with pytest.raises(ValueError, match="does not match its config.json"):
            gpt2.load_pretrained(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # the configs ask for 4 TB and 1.6 GB: neither was allocated


def test_peak_memory_is_the_model_plus_a_few_tensors(tmp_path):
    config = {**CONFIG, "vocab_size": 4000, "n_embd": 64, "n_layer": 2, "n_positions": 64}
    model = gpt2.build(config, rng=0)
    gpt2.save_pretrained(model, tmp_path)
    model_bytes = sum(p.data.nbytes for p in model.parameters())
    largest = max(p.data.nbytes for p in model.parameters())
    del model
    tracemalloc.start()
    try:
        loaded = gpt2.load_pretrained(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(p.data.nbytes for p in loaded.parameters()) == model_bytes
    # the parameters, their gradients (calloc: counted here, but no page is touched before backward),
    # and one tensor's stored bytes at a time; nothing drawn at random first
    assert peak < 2 * model_bytes + largest + 2**20
