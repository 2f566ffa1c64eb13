"""Shared test hygiene."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _close_kept_worker_pools():
    """The render stage keeps its worker pool between builds of one process (a series, a watch);
    in a test run that process is pytest's, so end the pool after each test instead of letting
    workers of one test live on through the rest of the suite."""
    yield
    from compiler import render

    render.close_pools()
