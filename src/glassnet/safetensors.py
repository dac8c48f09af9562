"""Reading and writing safetensors files with NumPy alone: a JSON header, then raw tensors.

The format (Hugging Face's, https://huggingface.co/docs/safetensors)::

    8 bytes      N, the header's length, an unsigned little-endian integer
    N bytes      a UTF-8 JSON object: {"name": {"dtype": "F32", "shape": [2, 3],
                 "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "text"}}
    the rest     the tensors' bytes, little-endian, C order; each tensor's bytes are
                 data[begin:end], counted from the end of the header

Nothing in the file is executed (unlike a pickled ``pytorch_model.bin``). Reading
checks the header before anything is allocated: its length is at most
``MAX_HEADER`` bytes and inside the file, it is a JSON object of known dtypes and
non-negative shapes, every tensor's byte count is ``prod(shape) * itemsize``, and
the tensors' byte ranges tile the data exactly (no overlap, no gap, nothing past
the end). Tensors are then read one at a time (``read_tensor``), so the memory a
load needs is the result plus the largest single tensor.

Example:
    >>> import os, tempfile, numpy as np
    >>> from glassnet import safetensors
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> safetensors.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, path)
    >>> safetensors.load(path)["w"]
    array([[0., 1., 2.],
           [3., 4., 5.]], dtype=float32)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from glassnet._files import display_name, open_regular, temp_file

__all__ = ["TensorInfo", "read_header", "read_tensor", "load", "save", "MAX_HEADER", "DTYPES"]

MAX_HEADER = 100 * 2**20  # bytes; the safetensors library's own limit
# safetensors dtype name -> NumPy dtype of the stored bytes (BF16 is read as its 16 raw bits)
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {np.dtype(v).newbyteorder("<") if v.itemsize > 1 else v: k for k, v in DTYPES.items() if k != "BF16"}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in a header: its dtype name, shape and byte range (absolute, in the file)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _bad(where: str, what: str) -> ValueError:
    return ValueError(f"{where} is not a valid safetensors file: {what}")


def _parse_header(raw: bytes, where: str, data_start: int, file_size: int) -> dict[str, TensorInfo]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise _bad(where, f"the header is not UTF-8 JSON ({str(err)[:100]})") from None
    if not isinstance(header, dict):
        raise _bad(where, f"the header is a JSON {type(header).__name__}, not an object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _bad(where, "__metadata__ must map names to strings")
    infos: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        shown = repr(name[:80])
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _bad(where, f"tensor {shown} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise _bad(where, f"tensor {shown} has the unknown dtype {str(dtype)[:20]!r} (known: {', '.join(DTYPES)})")
        if not isinstance(shape, list) or len(shape) > 16 or not all(_natural(d) for d in shape):
            raise _bad(where, f"tensor {shown} has the shape {str(shape)[:80]}, not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_natural(o) for o in offsets)):
            raise _bad(where, f"tensor {shown} has data_offsets {str(offsets)[:80]}, not [begin, end]")
        begin, end = offsets
        nbytes = math.prod(shape) * DTYPES[dtype].itemsize
        if end < begin or end - begin != nbytes:
            raise _bad(
                where,
                f"tensor {shown} of dtype {dtype} and shape {shape} needs {nbytes} bytes, its offsets give {end - begin}",
            )
        infos[name] = TensorInfo(name, dtype, tuple(shape), data_start + begin, data_start + end)
    # the byte ranges must tile [data_start, file_size): nothing overlaps, nothing is left over
    position = data_start
    for info in sorted(infos.values(), key=lambda i: (i.start, i.end)):
        if info.start != position:
            what = "overlaps the tensor before it" if info.start < position else "starts after a gap"
            raise _bad(where, f"tensor {info.name[:80]!r} {what} (offset {info.start - data_start})")
        position = info.end
    if position > file_size:
        raise _bad(
            where, f"the tensors need {position - data_start} bytes of data, the file holds {file_size - data_start}"
        )
    if position < file_size:
        raise _bad(where, f"{file_size - position} bytes after the last tensor belong to none")
    return infos


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _refuse_pickle(path: Path) -> None:
    if path.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt"):
        raise ValueError(
            f"{display_name(path)} is a pickled PyTorch file, which glassnet never loads (unpickling runs code). "
            "Get the model.safetensors file instead: `huggingface-cli download MODEL model.safetensors config.json`, "
            "or on a machine with transformers: `AutoModelForCausalLM.from_pretrained(...)"
            ".save_pretrained(folder, safe_serialization=True)`"
        )


def read_header(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    """The tensors a safetensors file holds, checked against the file's size; nothing is allocated.

    Raises:
        ValueError: the file is a pickle, or its header is malformed (too long, not JSON,
            offsets past the end, overlapping or leaving gaps); the message says which.
    """
    _refuse_pickle(Path(os.fspath(path)))
    with open_regular(path, "path") as f:
        return _read_header(f, display_name(path))


def _read_header(f: BinaryIO, where: str) -> dict[str, TensorInfo]:
    file_size = os.fstat(f.fileno()).st_size
    head = f.read(8)
    if len(head) < 8:
        raise _bad(where, f"it has {len(head)} bytes, fewer than the 8 of the header's length")
    if head[:2] in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        raise _bad(where, "it is a pickle or a zip archive (a PyTorch .bin/.pt file?), which glassnet never loads")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER:
        raise _bad(where, f"the header claims {n} bytes, more than the {MAX_HEADER} allowed")
    if n > file_size - 8:
        raise _bad(where, f"the header claims {n} bytes, the file holds {file_size - 8} after the length")
    raw = f.read(n)
    return _parse_header(raw, where, 8 + n, file_size)


def read_tensor(f: BinaryIO, info: TensorInfo, dtype: Any = None, out: np.ndarray | None = None) -> np.ndarray:
    """Read one tensor from an open file; BF16 and F16 are widened, ``dtype`` (if given) converts.

    With ``out`` (an array of the tensor's shape) the values are written into it: read
    straight in when it has the stored dtype, else through one array of the stored bytes.
    """
    if out is not None and out.shape != info.shape:
        raise ValueError(f"tensor {info.name!r} has shape {list(info.shape)}, out has {list(out.shape)}")
    stored = DTYPES[info.dtype]
    direct = out is not None and out.dtype == stored and out.flags.c_contiguous and info.dtype != "BF16"
    raw = out if direct and out is not None else np.empty(info.shape, dtype=stored)  # F32 into float32: no copy
    f.seek(info.start)
    if raw.nbytes and f.readinto(raw.reshape(-1).view(np.uint8).data) != raw.nbytes:  # type: ignore[attr-defined]
        raise ValueError(f"tensor {info.name!r}: the file ended early")
    values: np.ndarray = raw
    if info.dtype == "BF16":  # bfloat16 is the top 16 bits of a float32
        values = (raw.astype(np.uint32) << 16).view(np.float32)
    if out is not None:
        if not direct:
            out[...] = values
        return out
    if dtype is not None:
        values = values.astype(dtype, copy=False)
    return values.astype(values.dtype.newbyteorder("="), copy=False)


def load(
    path: str | os.PathLike[str], dtype: Any = None, names: Iterable[str] | None = None, finite: bool = False
) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file (or those in ``names``), read one at a time.

    Args:
        path: the file.
        dtype: convert every tensor to this dtype (None: float32 for BF16, else as stored).
        names: read only these tensors (each must be in the file).
        finite: refuse a tensor holding NaN or an infinity (a ValueError naming it).
    """
    infos = read_header(path)
    wanted = list(infos) if names is None else list(names)
    missing = [n for n in wanted if n not in infos]
    if missing:
        raise ValueError(f"{display_name(path)} holds no tensor named {', '.join(map(repr, missing[:5]))}")
    out: dict[str, np.ndarray] = {}
    with open_regular(path, "path") as f:
        for name in wanted:
            out[name] = read_tensor(f, infos[name], dtype)
            if finite:
                check_finite(out[name], name, path)
    return out


def check_finite(values: np.ndarray, name: str, path: str | os.PathLike[str]) -> None:
    """Refuse a float tensor holding NaN or an infinity, naming the tensor and the file."""
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise ValueError(
            f"tensor {name!r} in {display_name(path)} holds {bad} NaN or infinite values of {values.size}: "
            "the checkpoint is corrupt or diverged; use another copy"
        )


def save(
    tensors: Mapping[str, np.ndarray], path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``tensors`` as a safetensors file, atomically, one tensor at a time.

    The header is padded with spaces to a multiple of 8 bytes, as the safetensors
    library writes it; tensors follow in the order given.
    """
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    arrays: list[np.ndarray] = []
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"tensor names must be strings other than __metadata__. Received: {name!r}")
        arr = np.asarray(value)
        stored = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        if stored not in _NAMES:
            raise TypeError(f"tensor {name!r} has dtype {arr.dtype}, which safetensors can't store")
        header[name] = {
            "dtype": _NAMES[stored],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
        arrays.append(arr.astype(stored, copy=False))
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    target = Path(os.fspath(path))
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: the folder {target.parent} does not exist")
    fd, tmp_name = temp_file(target)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(raw).to_bytes(8, "little"))
            f.write(raw)
            for arr in arrays:
                f.write(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
