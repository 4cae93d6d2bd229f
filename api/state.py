"""What the app builds once at start-up and shares between requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import anyio
from sqlalchemy import Engine, text

from api.audit_batcher import AuditBatcher
from api.errors import BusyError
from api.kpi_fastpath import AnswerMemo
from qa_pipeline.access.token_cache import TokenCache
from qa_pipeline.jobs.queue import EmbeddedQueue, JobQueue
from qa_pipeline.kpi_cache import AnswerCache
from qa_pipeline.pipeline import Failure, Pipeline
from qa_pipeline.review.service import ReviewService
from qa_pipeline.scoring import ScoringConfig
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, SaveOutcome
from qa_pipeline.types import Conversation

MAX_QUEUED_AUDITS = 64
"""Audits that may wait behind the running one before ``POST`` answers 503."""
Audited = tuple[Conversation, SaveOutcome]


@dataclass
class AppState:
    """Settings, the database, the pipeline (loaded once) and the scoring configuration.

    Audits run on their own worker (:class:`~api.audit_batcher.AuditBatcher`): requests waiting for
    the pipeline wait in the event loop, not in the shared threadpool, so reads and ``/health`` are
    never starved by a queue of audits; those that waited are then scored together, one batch at a time.
    """

    settings: Settings
    engine: Engine
    repository: Repository
    pipeline: Pipeline
    scoring: ScoringConfig
    reviews: ReviewService
    schema_revision: str | None = None
    kpi_cache: AnswerCache[bytes] = field(default_factory=AnswerCache)
    queue: JobQueue = field(default_factory=EmbeddedQueue)  # replaced in the lifespan per QA_QUEUE
    tokens: TokenCache = field(default_factory=lambda: TokenCache(0.0))  # QA_AUTH_CACHE_S, set at start-up
    kpi_answers: AnswerMemo = field(default_factory=AnswerMemo)  # the KPI pull's fast path (api.kpi_fastpath)
    max_queued_audits: int = MAX_QUEUED_AUDITS
    # Stages hold models and caches that are not guaranteed thread-safe; scoring is CPU-bound
    # under the GIL anyway, so one conversation at a time per process loses nothing.
    _pipeline_lock: threading.Lock = field(default_factory=threading.Lock)
    _batcher: AuditBatcher[Audited] | None = None
    _health_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))
    _audits_in_flight: int = 0

    @property
    def audits_in_flight(self) -> int:
        """Audits running or waiting (only changed from the event loop, so no lock is needed)."""
        return self._audits_in_flight

    def score(self, conv: Conversation) -> Conversation:
        """Run the pipeline on ``conv`` (blocking; one conversation at a time per process)."""
        with self._pipeline_lock:
            return self.pipeline(conv)

    def score_many(self, convs: list[Conversation]) -> list[Conversation | Failure]:
        """Run the pipeline on a batch (one model call per stage); a failure drops out as a ``Failure``."""
        with self._pipeline_lock:
            return self.pipeline.run_batch(convs)

    def audit(self, conv: Conversation) -> Audited:
        """Run the pipeline on ``conv`` and store the result (blocking; call from a worker thread)."""
        scored = self.score(conv)
        return scored, self.repository.save(scored)

    def audit_many(self, convs: list[Conversation]) -> list[Audited | BaseException]:
        """:meth:`audit` for a batch in one pipeline pass: per conversation its result, or the error
        that conversation alone raised (a stage failure, or its save)."""
        out: list[Audited | BaseException] = []
        for item in self.score_many(convs):
            if isinstance(item, Failure):
                out.append(item.error)
                continue
            try:
                out.append((item, self.repository.save(item)))
            except Exception as exc:  # the request that sent it gets it, as before
                out.append(exc)
        return out

    async def submit(self, conv: Conversation) -> Audited:
        """:meth:`audit` on the audit worker, batched with the audits waiting beside it;
        :class:`BusyError` when ``max_queued_audits`` wait already."""
        waiting = max(0, self._audits_in_flight - 1)  # one is running
        if waiting >= self.max_queued_audits:
            raise BusyError(waiting)
        if self._batcher is None:
            self._batcher = AuditBatcher(self.audit_many, self.settings.audit_batch)
        self._audits_in_flight += 1
        try:
            return await self._batcher.submit(conv)
        finally:
            self._audits_in_flight -= 1

    async def database_ok(self) -> bool:
        """Whether the database answers ``SELECT 1`` (on its own worker, never the shared pool)."""
        return await anyio.to_thread.run_sync(self._ping, limiter=self._health_limiter)

    def _ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
