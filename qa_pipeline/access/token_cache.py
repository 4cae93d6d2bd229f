"""API tokens already checked, kept for a few seconds so that a client polling the API (the KPI system)
does not cost a database lookup on every request.

An entry lives ``ttl_s`` seconds (``QA_AUTH_CACHE_S``; 0 turns the cache off). Revoking a user through
this process's API clears the cache at once; a revocation made elsewhere (``qa users revoke``, another
API node) takes effect here within ``ttl_s``. Entries are keyed by the token's SHA-256, never the token.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from qa_pipeline.access.principal import Principal
from qa_pipeline.access.users import token_hash

MAX_ENTRIES = 4096


class TokenCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        """The principal checked for ``token`` less than ``ttl_s`` ago, else None (look it up)."""
        if self.ttl_s <= 0:
            return None
        key = token_hash(token)
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > self.ttl_s:
                return None
            return found[1]

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl_s <= 0:
            return
        key = token_hash(token)
        with self._lock:
            self._entries[key] = (time.monotonic(), principal)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
