"""``QA_QUEUE=dramatiq``: jobs run by Dramatiq actors on Redis, on any number of machines.

The message carries only the job id; the database row is authoritative. The actor claims the row
(:func:`~qa_pipeline.store.job_leases.claim`): a duplicate message, or one for a job that is done,
dead, waiting for its retry time or running under a live lease, changes nothing. A lost message
delays a job but never loses it: :class:`Sweeper` (run by ``qa worker``) reaps expired leases and
re-sends jobs that are due yet unclaimed while the Redis queue is empty.

Two queues: new jobs go to ``qa``; a job that already waited its turn once (its worker was lost, it
failed transiently and waits for its retry, or its message was lost) goes to ``qa-first``, whose actor
has the higher priority. So a recovered job does not queue again behind the backlog that built up
while it ran: each worker process takes it before the ``qa`` messages it holds.

- API side: :class:`DramatiqQueue` (``qa serve`` enqueues, runs nothing).
- Worker side: ``qa worker`` starts ``dramatiq qa_pipeline.jobs.dramatiq_worker`` processes (models
  load once per process) and a sweeper thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError
from sqlalchemy import Engine

from qa_pipeline.errors import QAError
from qa_pipeline.jobs.retry import RetryPolicy, worker_lost_error
from qa_pipeline.settings import Settings
from qa_pipeline.store.job_leases import due_unclaimed, expired, reap
from qa_pipeline.store.models import utcnow

log = logging.getLogger(__name__)

QUEUE = "qa"
ACTOR = "qa_job"
FIRST_QUEUE = "qa-first"  # jobs taken up again: before the backlog of new ones
FIRST_ACTOR = "qa_job_first"
QUEUES = (QUEUE, FIRST_QUEUE)
SWEEP_EVERY_S = 5.0
OVERDUE_S = 10.0
RESEND_AFTER_S = 60.0


def make_broker(redis_url: str) -> RedisBroker:
    """A Redis broker with the ``qa`` and ``qa-first`` queues declared."""
    broker = RedisBroker(url=redis_url)
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def job_message(job_id: str, *, first: bool = False) -> Message[None]:
    """The message for ``job_id``: on ``qa-first`` for a job taken up again, else on ``qa``."""
    queue, actor = (FIRST_QUEUE, FIRST_ACTOR) if first else (QUEUE, ACTOR)
    return Message(queue_name=queue, actor_name=actor, args=(job_id,), kwargs={}, options={})


def delay_until(when: datetime | None) -> int:
    """Milliseconds from now until ``when`` (0 when it has passed)."""
    if when is None:
        return 0
    return max(0, int((when - utcnow()).total_seconds() * 1000))


def send(broker: RedisBroker, job_id: str, *, delay_ms: int = 0, first: bool = False) -> bool:
    """Enqueue a message for ``job_id`` (``first``: on the queue of jobs taken up again); False
    (logged) when Redis is unreachable: the job is already stored, and the sweeper sends it once
    Redis is back."""
    try:
        broker.enqueue(job_message(job_id, first=first), delay=delay_ms or None)
    except RedisError as exc:
        log.warning("job %s: cannot reach Redis (%s); the sweeper will send it", job_id, exc)
        return False
    return True


@dataclass
class DramatiqQueue:
    """The API's side: a committed job's id goes to Redis."""

    broker: RedisBroker

    @classmethod
    def connect(cls, settings: Settings) -> DramatiqQueue:
        log.info("jobs go to Dramatiq on %s", _safe_url(settings.redis_url))
        return cls(make_broker(settings.redis_url))

    def submit(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            send(self.broker, job_id)

    def close(self, timeout: float | None = None) -> bool:
        self.broker.close()
        return True


def pending_messages(broker: RedisBroker) -> int:
    """Messages waiting in both queues and their delay queues (not those a worker holds)."""
    client = broker.client
    names = [f"{broker.namespace}:{q}{suffix}" for q in QUEUES for suffix in ("", ".DQ")]
    return sum(int(client.llen(name)) for name in names)


@dataclass
class Sweeper:
    """Keeps the queue honest: every ``every_s`` seconds it reaps expired leases (the reaped job is
    sent again for its retry time) and, when Redis holds no pending message, re-sends jobs that have
    been due for over ``overdue_s`` seconds (a message lost with a Redis restart, or never sent)."""

    engine: Engine
    broker: RedisBroker
    policy: RetryPolicy
    every_s: float = SWEEP_EVERY_S
    overdue_s: float = OVERDUE_S
    _sent: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sweep(self) -> tuple[int, int]:
        """One pass: ``(reaped, re-sent)``."""
        reaped = self._reap()
        resent = 0
        if pending_messages(self.broker) == 0:
            now = time.monotonic()
            for job_id in due_unclaimed(self.engine, overdue_s=self.overdue_s):
                if now - self._sent.get(job_id, -RESEND_AFTER_S) >= RESEND_AFTER_S and send(
                    self.broker, job_id, first=True
                ):
                    self._sent[job_id] = now
                    resent += 1
            self._sent = {k: v for k, v in self._sent.items() if now - v < RESEND_AFTER_S}
        if reaped or resent:
            log.info("sweeper: %d lease(s) reaped, %d job(s) re-sent", reaped, resent)
        return reaped, resent

    def _reap(self) -> int:
        taken = 0
        for job in expired(self.engine):
            retry_at = self.policy.next_run(job.attempts, permanent=False)
            if reap(self.engine, job, worker_lost_error(job.attempts), retry_at=retry_at):
                log.warning("job %s: worker %s lost", job.id, job.lease_owner)
                taken += 1
                if retry_at is not None:
                    send(self.broker, job.id, delay_ms=delay_until(retry_at), first=True)
        return taken

    def start(self) -> Sweeper:
        self._thread = threading.Thread(target=self._loop, name="qa-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sweep()
            except (QAError, RedisError) as exc:  # the database or Redis is down: try next time
                log.warning("sweeper: %s", exc)


def _safe_url(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//***@{tail}" if sep else url
