"""release_memory(): freed heap pages go back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import os
import platform

import pytest

from bench.live_server import rss_mb
from qa_pipeline.heap import release_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_goes_back_to_the_system() -> None:
    release_memory()  # a long test session has freed pages of its own: hand them back first
    before = rss_mb(os.getpid())
    blocks = [bytes(2_000) + bytes([i % 256]) for i in range(40_000)]  # ~80 MB, from malloc
    grown = rss_mb(os.getpid())
    survivors = blocks[::100]  # a few stay alive, spread over the heap: it cannot simply shrink
    del blocks
    kept = rss_mb(os.getpid())
    assert release_memory() is True
    after = rss_mb(os.getpid())
    assert grown - before > 40
    assert after < kept - 20  # what the allocator kept after the free is handed back
    assert len(survivors) == 400
