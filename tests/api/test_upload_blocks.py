"""The upload stream reaches the multipart parser in blocks of about a megabyte, counted to the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from api.routes.jobs import SPOOL_BLOCK, _counted, _TooLarge


async def _chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield bytes([i % 256]) * size


async def _collect(n: int, size: int, limit: int) -> list[bytes]:
    return [block async for block in _counted(_chunks(n, size), limit)]


def test_small_reads_are_joined_into_blocks_and_nothing_is_lost() -> None:
    blocks = anyio.run(_collect, 100, 65_536, 1 << 30)
    assert b"".join(blocks) == b"".join(bytes([i % 256]) * 65_536 for i in range(100))
    assert all(len(b) >= SPOOL_BLOCK for b in blocks[:-1]) and len(blocks) == 7


def test_the_limit_is_counted_on_what_arrived() -> None:
    with pytest.raises(_TooLarge):
        anyio.run(_collect, 100, 65_536, 65_536 * 50)
    assert len(b"".join(anyio.run(_collect, 50, 65_536, 65_536 * 50))) == 65_536 * 50
