"""The Dramatiq worker module: ``dramatiq qa_pipeline.jobs.dramatiq_worker`` (``qa worker`` runs it).

Importing it sets the Redis broker from ``QA_REDIS_URL`` and declares two actors running the same
function: ``qa_job`` (queue ``qa``, new jobs) and ``qa_job_first`` (queue ``qa-first``, higher
priority, jobs taken up again). A worker started by hand must consume both queues (``qa worker``
passes ``--queues qa qa-first``). Each
worker process builds its engine, repository and handlers on its first message and keeps them: the
models load once per process. Jobs of one process run one at a time (the pipelines hold models that
are not thread-safe and are CPU-bound under the GIL anyway): scale with processes and machines.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

import dramatiq

from qa_pipeline.jobs.batches import CHAT_JOB, ChatHandler, TextScorer
from qa_pipeline.jobs.calls import call_handlers
from qa_pipeline.jobs.dramatiq_queue import (
    ACTOR,
    FIRST_ACTOR,
    FIRST_QUEUE,
    QUEUE,
    delay_until,
    make_broker,
    send,
)
from qa_pipeline.jobs.retry import RetryPolicy
from qa_pipeline.jobs.worker import JobHandler, JobRunner, new_owner
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, init_db
from qa_pipeline.store.job_leases import claim

log = logging.getLogger(__name__)

SETTINGS = Settings()
BROKER = make_broker(SETTINGS.redis_url)
dramatiq.set_broker(BROKER)
_RUN_LOCK = threading.Lock()


@cache
def runner() -> JobRunner:
    """This process's runner (built once)."""
    engine = init_db(SETTINGS.database_url)
    scorer = TextScorer(SETTINGS)
    handlers: dict[str, JobHandler] = {
        **call_handlers(SETTINGS, engine),
        CHAT_JOB: ChatHandler(engine, SETTINGS, scorer, scorer.many),
    }
    policy = RetryPolicy.from_settings(SETTINGS)
    return JobRunner(
        engine, handlers, Repository(engine), policy, SETTINGS.job_lease_s, SETTINGS.job_batch_size
    )


TIME_LIMIT_MS = int(SETTINGS.job_time_limit_s * 1000)
# max_retries=0: retries are the job table's business (retry_wait, backoff, dead)


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, priority=10, max_retries=0, time_limit=TIME_LIMIT_MS)
def qa_job(job_id: str) -> None:
    """A new job (queue ``qa``)."""
    run_job(job_id)


@dramatiq.actor(
    actor_name=FIRST_ACTOR, queue_name=FIRST_QUEUE, priority=0, max_retries=0, time_limit=TIME_LIMIT_MS
)
def qa_job_first(job_id: str) -> None:
    """A job taken up again (queue ``qa-first``): a worker takes it before the new jobs it holds."""
    run_job(job_id)


def run_job(job_id: str) -> None:
    """Run job ``job_id`` if it is due; a retry is sent back, on ``qa-first``, for its next run time."""
    with _RUN_LOCK:
        run = runner()
        job = claim(run.engine, job_id, new_owner("dq:"), run.lease_s)
        if job is None:
            log.debug("job %s: not due (done, dead, waiting or running elsewhere)", job_id)
            return
        finished = run.run(job)
    if finished is not None and finished.state == "retry_wait":
        send(BROKER, job_id, delay_ms=delay_until(finished.next_run_at), first=True)
