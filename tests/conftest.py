"""Shared by every test: tests write only into temporary folders, never into the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _nothing_left_in_runs():
    """Fail the session when a test left a folder in the checkout's runs/ (glassnet train's default --out)."""
    runs = CHECKOUT / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    yield
    left = (set(runs.iterdir()) if runs.is_dir() else set()) - before
    if left:
        pytest.fail(f"tests left {sorted(p.name for p in left)} in {runs}: give --out a folder under tmp_path")


@pytest.fixture
def one_thread():
    """glassnet on one thread (a test of the one-thread loop, bit for bit); the default count afterwards."""
    from glassnet import parallel

    parallel.set_num_threads(1)
    yield
    parallel._reset()
