"""glassnet keeps the memory it frees for its next step, as PyTorch's caching allocator does.

A training step allocates its activations and gradients afresh (``np.empty``, the
results of ufuncs and products) and frees them at the end of the step. glibc's
``malloc`` hands an array larger than 128 KiB to the kernel as its own ``mmap``
and gives it back when it is freed, and trims the heap when its free top grows
past 128 KiB; so every step maps its arrays anew, and the kernel zero-fills them
one 4 KiB page at a time on first touch. On the 2-core AMD EPYC of the speed work
that page-faulting was a third of a CNN step (14.6 -> 9.7 ms) and a quarter of the
GPT's (55.8 -> 40.1 ms), and a second thread cannot help: the kernel serialises a
process's faults (benchmarks/README.md, "glassnet keeps the memory it frees").

``keep_freed_memory()`` tells glibc, once per process, to serve arrays up to
``MMAP_THRESHOLD`` (32 MiB, glibc's largest) from its heap and to keep up to
``TRIM_THRESHOLD`` (128 MiB) of freed memory there for reuse: the next step's
arrays land on pages already mapped. glassnet calls it when it starts to train,
evaluate, predict or generate; the cost is that the process's resident memory
stays near its peak instead of shrinking between steps, by at most the trim
threshold. It changes no number, only where the bytes live.

It is glibc's ``mallopt`` through ``ctypes``: on other C libraries (macOS,
Windows, musl) it does nothing. ``GLASSNET_KEEP_MEMORY=0`` in the environment
leaves ``malloc`` as it is.

On Linux with glibc, after ``keep_freed_memory()`` a 1 MiB array is no longer a mapping of its
own (glibc's ``mallinfo2().hblks`` does not grow when one is made): tests/test_memory.py checks it.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "ENV_VAR"]

ENV_VAR = "GLASSNET_KEEP_MEMORY"
MMAP_THRESHOLD = 32 << 20  # arrays below this come from the heap (glibc refuses more than 32 MiB on 64-bit)
TRIM_THRESHOLD = 128 << 20  # freed memory kept at the heap's top before any is given back to the kernel
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers, from glibc's malloc.h

_lock = threading.Lock()
_done: bool | None = None  # None until the first call; then whether glibc took the settings


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed arrays for reuse (once per process); True when it did.

    False where the C library is not glibc, where ``GLASSNET_KEEP_MEMORY=0`` is set,
    or where ``mallopt`` refused a value. Cheap after the first call: glassnet calls it
    at the start of every training step.
    """
    global _done
    if _done is not None:
        return _done
    with _lock:
        if _done is None:
            _done = _apply()
    return _done


def _apply() -> bool:
    if os.environ.get(ENV_VAR, "").strip() in ("0", "false", "no", "off"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; setting either threshold also stops glibc adjusting them itself
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
