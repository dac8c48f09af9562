"""glassnet.memory: freed arrays stay in glibc's heap for the next step."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from glassnet import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# A fresh process: the page faults of a step that makes and frees eight 4 MiB arrays, before and
# after glassnet trains: glibc gives such a step's memory back to the kernel, and the next step
# faults it in again, page by page; with glassnet's settings it stays in the heap.
PROBE = textwrap.dedent(
    """
    import resource
    import numpy as np

    def faults_of_a_step():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones(1 << 20, dtype=np.float32) for _ in range(8)]  # 8 x 4 MiB, every page touched
        del arrays
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    def faults_of_steps():
        faults_of_a_step()  # the first step maps its memory in any case
        return sum(faults_of_a_step() for _ in range(4))

    print(faults_of_steps())
    import glassnet as gn
    model = gn.Sequential(gn.Linear(4, 2, rng=0))
    model.fit(np.ones((8, 4), np.float32), np.zeros(8, np.int64), loss=gn.CrossEntropyLoss(),
              optimizer=gn.SGD(model.parameters(), lr=0.1), epochs=1, verbose=0)
    faults_of_a_step()  # the first step under the new settings moves the memory into the heap
    print(faults_of_steps())
    """
)


def _probe(env_value: str | None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != memory.ENV_VAR}
    if env_value is not None:
        env[memory.ENV_VAR] = env_value
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [int(line) for line in done.stdout.split()]


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt and mallinfo2")
def test_after_fit_a_step_reuses_the_pages_the_last_one_freed():
    default, kept = _probe(None)
    pages = 4 * 8 * (4 << 20) // 4096  # four steps of 32 MiB each, in 4 KiB pages
    assert default > pages // 4  # glibc gave the memory back, and it was faulted in again
    assert kept < pages // 100


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt and mallinfo2")
def test_glassnet_keep_memory_0_leaves_malloc_as_it_is():
    default, after_fit = _probe("0")
    pages = 4 * 8 * (4 << 20) // 4096
    assert default > pages // 4 and after_fit > pages // 4


@pytest.mark.skipif(os.environ.get(memory.ENV_VAR) == "0", reason="switched off in this environment")
def test_keep_freed_memory_says_whether_it_applied_and_is_idempotent():
    assert memory.keep_freed_memory() is GLIBC
    assert memory.keep_freed_memory() is GLIBC


def test_training_gives_the_same_numbers_with_and_without_it():
    # The setting moves bytes, not numbers: two fresh processes, with and without, train to the same bits.
    code = textwrap.dedent(
        """
        import numpy as np, glassnet as gn
        x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
        y = (x[:, 0] > 0).astype(np.int64)
        model = gn.Sequential(gn.Linear(5, 512, rng=0), gn.ReLU(), gn.Linear(512, 2, rng=1))
        model.fit(x, y, loss=gn.CrossEntropyLoss(), optimizer=gn.Adam(model.parameters()), epochs=3,
                  batch_size=16, seed=0, verbose=0)
        print(model[0].weight.data.tobytes().hex()[:4000], float(np.abs(model[2].weight.data).sum()))
        """
    )
    outputs = []
    for value in ("1", "0"):
        env = {**os.environ, memory.ENV_VAR: value}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
