"""Concurrent ``POST /v1/conversations`` audits scored together, one pipeline pass per batch.

One audit at a time through the pipeline left the synchronous path at a quarter of the batch path's
rate: every request paid each model's per-call cost alone. Requests that arrive while a batch is
being scored wait here, in the event loop; when it ends, up to ``max_batch`` of them go through the
pipeline together (:meth:`Pipeline.run_batch`), and each is stored in its own transaction and answered
on its own: a conversation that fails a stage, or whose save fails, fails only its own request. A
lone request is a batch of one, so an idle server answers as fast as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio

from qa_pipeline.types import Conversation

log = logging.getLogger("qa.api")
T = TypeVar("T")


class AuditBatcher(Generic[T]):
    """Collects waiting audits and runs them in batches on one worker thread (``limiter``)."""

    def __init__(
        self, run: Callable[[list[Conversation]], Sequence[T | BaseException]], max_batch: int = 32
    ) -> None:
        """``run`` scores and stores a batch: per conversation its result or what it raised."""
        self.run = run
        self.max_batch = max_batch
        self._pending: list[tuple[Conversation, asyncio.Future[T]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._limiter = anyio.CapacityLimiter(1)

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def submit(self, conv: Conversation) -> T:
        """Wait for ``conv``'s turn, then its own result (or its own exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((conv, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            # a request cancelled while waiting (client gone, server stopping) is not audited
            self._pending = [(conv, f) for conv, f in self._pending if not f.done()]
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[tuple[Conversation, asyncio.Future[T]]]) -> None:
        outcomes: Sequence[T | BaseException] = []
        try:
            outcomes = await anyio.to_thread.run_sync(
                self.run, [conv for conv, _ in batch], limiter=self._limiter
            )
        except Exception as exc:  # the batch runner itself failed: every request of it hears why
            log.exception("audit batch of %d failed", len(batch))
            outcomes = [exc for _ in batch]
        finally:  # whatever happens, no request of the batch is left waiting
            for i, (_, future) in enumerate(batch):
                missing = RuntimeError("the audit ended without an outcome")
                _settle(future, outcomes[i] if i < len(outcomes) else missing)


def _settle(future: asyncio.Future[T], outcome: T | BaseException) -> None:
    if future.done():  # the client went away; the result is stored all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
