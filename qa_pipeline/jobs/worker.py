"""An in-process job worker: claim → process → store the result → finish, on its own thread.

The loop knows nothing of FastAPI: it needs an engine, a :class:`JobHandler` (job → scored
conversation) and a :class:`~qa_pipeline.store.Repository`. Each step is a plain function of the
job table (:func:`~qa_pipeline.store.claim_next_job`, :func:`~qa_pipeline.store.finish_job`), so the
same handler can later run under a Dramatiq actor with PostgreSQL: the actor calls
:func:`run_job` with the claimed job.

A job that raises is marked ``failed`` with the typed error (``QAError.to_dict()``; a bug is
reported as ``QA405`` without its message) and the worker goes on. :meth:`JobWorker.stop` lets
the running job finish. A job left ``running`` by a crashed process is re-queued at the next
start by :func:`requeue_interrupted` (single-process deployments only: with several worker
processes a job needs a lease/heartbeat instead).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from qa_pipeline.errors import E, QAError, StorageError
from qa_pipeline.store import Repository, claim_next_job, finish_job
from qa_pipeline.store.jobs import Job
from qa_pipeline.store.models import JobRow, utcnow
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Starts after which a job that keeps killing its process is failed instead of re-queued."""
POLL_S = 1.0


class JobHandler(Protocol):
    """Turns a claimed job into a scored conversation; ``cleanup`` runs once the job is finished."""

    def __call__(self, job: Job) -> Conversation: ...

    def cleanup(self, job: Job) -> None: ...


def job_error(exc: BaseException) -> dict[str, Any]:
    """The error stored on a failed job: the typed error, or ``QA405`` (no message) for a bug."""
    if isinstance(exc, QAError):
        return exc.to_dict()
    return QAError(E.STAGE_CRASHED, f"{type(exc).__name__} while processing the job").to_dict()


def run_job(engine: Engine, repository: Repository, handler: JobHandler, job: Job) -> Job:
    """Process one claimed (running) job and record the outcome; never raises for a job's failure."""
    error: dict[str, Any] | None = None
    try:
        conv = handler(job)
        outcome = repository.save(conv)
        log.info("job %s: conversation %s %s", job.id, outcome.conversation_id, outcome.status)
    except Exception as exc:  # any failure belongs to the job, not the worker
        log.warning("job %s failed: %s", job.id, exc if isinstance(exc, QAError) else type(exc).__name__)
        log.debug("job %s traceback", job.id, exc_info=exc)
        error = job_error(exc)
    finished = finish_job(engine, job.id, error=error)
    try:
        handler.cleanup(finished)
    except OSError as exc:
        log.warning("job %s: cannot clean up: %s", job.id, exc)
    return finished


def requeue_interrupted(engine: Engine, *, max_attempts: int = MAX_ATTEMPTS) -> int:
    """Re-queue jobs left ``running`` by a process that died; fail those started ``max_attempts`` times.

    Call once at start-up, before any worker of this database runs. Returns how many were re-queued.
    """
    running = JobRow.state == "running"
    error = QAError(E.STAGE_CRASHED, f"the job stopped its worker {max_attempts} times").to_dict()
    try:
        with engine.begin() as conn:
            conn.execute(
                update(JobRow)
                .where(running, JobRow.attempts >= max_attempts)
                .values(state="failed", error=error, updated_at=utcnow())
            )
            n: int = conn.execute(
                update(JobRow).where(running).values(state="queued", updated_at=utcnow())
            ).rowcount
    except SQLAlchemyError as exc:
        raise StorageError(E.DATABASE, f"cannot re-queue interrupted jobs: {exc}") from exc
    if n:
        log.warning("re-queued %d job(s) interrupted by a previous shutdown", n)
    return n


def find_job_by_key(engine: Engine, idempotency_key: str) -> Job | None:
    """The job created with ``idempotency_key``, or None."""
    stmt = select(*JobRow.__table__.columns).where(JobRow.idempotency_key == idempotency_key)
    try:
        with engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
    except SQLAlchemyError as exc:
        raise StorageError(E.DATABASE, f"cannot read jobs: {exc}") from exc
    return None if row is None else Job.model_validate(dict(row))


class JobWorker:
    """One thread running jobs of ``kind`` until :meth:`stop`; :meth:`notify` wakes it early."""

    def __init__(
        self,
        engine: Engine,
        handler: JobHandler,
        *,
        kind: str | None = None,
        repository: Repository | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.engine = engine
        self.handler = handler
        self.kind = kind
        self.repository = repository or Repository(engine)
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> JobWorker:
        if self.alive:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"qa-jobs-{self.kind or 'any'}", daemon=True)
        self._thread.start()
        return self

    def notify(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to end after the current job; True when it ended within ``timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run_once(self) -> Job | None:
        """Claim and process one job; None when none is queued."""
        job = claim_next_job(self.engine, self.kind)
        if job is None:
            return None
        return run_job(self.engine, self.repository, self.handler, job)

    def _loop(self) -> None:
        log.info("job worker started (kind %s)", self.kind or "any")
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception:  # the database is down, or a bug: log it, wait, go on
                log.exception("job worker: cannot claim or finish a job")
                done = None
            if done is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
        log.info("job worker stopped")
