"""Timing one workload: shared by the worker and the workload modules (imports no NumPy, so that the
worker can set the thread limits before NumPy loads)."""

from __future__ import annotations

import time
from typing import Any


def timed_passes(fn: Any, passes: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(max(1, passes)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times
