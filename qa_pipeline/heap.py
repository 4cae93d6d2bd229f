"""Handing freed memory back to the operating system after a large piece of work.

CPython and numpy free what a request used, but glibc's allocator keeps the freed pages: one 4.4 MB
conversation left the API server about 200 MB larger (600 MB for turns of 5,000 characters) for the
rest of its life (``python -m bench.load large``). ``malloc_trim`` returns them. Elsewhere (another C
library, another system) :func:`release_memory` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        log.info("no malloc_trim in this C library: freed memory stays with the allocator")
        return None
    return trim


def release_memory() -> bool:
    """Return the allocator's free pages to the system; False where that cannot be done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
