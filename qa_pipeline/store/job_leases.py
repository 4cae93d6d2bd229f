"""Leases on jobs: claim atomically, renew by heartbeat, finish exactly once, retry or bury, reap.

A worker owns a job only while it holds an unexpired lease (``lease_owner``, ``lease_expires_at``).
Every write below is conditional on that ownership, so a worker whose lease lapsed (it stalled, or the
reaper gave the job to someone else) can no longer change the job: its late result is rolled back.

- :func:`claim_next` takes the most overdue due job: one ``UPDATE … WHERE id = (SELECT … LIMIT 1
  FOR UPDATE SKIP LOCKED)``; on PostgreSQL concurrent claimers skip each other's rows, on SQLite the
  single writer makes the statement atomic. :func:`claim` takes one named job (a Dramatiq message).
- :func:`complete_in` marks the job done *inside the transaction that stores its result*: both
  happen or neither does, so a worker killed between the two leaves no duplicate and no lost result.
- :func:`fail` moves a job to ``retry_wait`` (with the next run time the caller computed) or ``dead``.
- :func:`reap_expired` hands jobs whose worker stopped heart-beating to the retry path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from qa_pipeline.errors import E, QAError
from qa_pipeline.store.jobs import Job, database_error, get_job, jobs_by_id, masked
from qa_pipeline.store.models import JobRow, utcnow

log = logging.getLogger(__name__)

DUE_STATES = ("queued", "retry_wait")


class LeaseLost(QAError):
    """The worker no longer owns the job (its lease expired and the job moved on): drop the work."""

    def __init__(self, job_id: str) -> None:
        super().__init__(E.WORKER_LOST, f"the lease on job {job_id} was lost; another worker may run it")


def _owned(job_id: str, owner: str) -> Any:
    return (JobRow.id == job_id) & (JobRow.state == "running") & (JobRow.lease_owner == owner)


def _claim_values(owner: str, lease_s: float, now: datetime) -> dict[str, Any]:
    return {
        "state": "running",
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "heartbeat_at": now,
        "attempts": JobRow.attempts + 1,
        "updated_at": now,
    }


def _due(now: datetime, kinds: Sequence[str] | None) -> Any:
    cond = JobRow.state.in_(DUE_STATES) & (JobRow.next_run_at <= now)
    return cond & JobRow.kind.in_(kinds) if kinds else cond


def claim_next(
    engine: Engine, owner: str, lease_s: float, *, kinds: Sequence[str] | None = None
) -> Job | None:
    """Lease the due job that has waited longest to ``owner``; None when nothing is due."""
    now = utcnow()
    pick = (
        select(JobRow.id)
        .where(_due(now, kinds))
        .order_by(JobRow.next_run_at, JobRow.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(JobRow)
        .where(JobRow.id == pick, _due(now, kinds))
        .values(**_claim_values(owner, lease_s, now))
        .returning(JobRow.id)
    )
    job_id = _write(engine, lambda conn: conn.execute(stmt).scalar())
    return None if job_id is None else get_job(engine, job_id)


def claim_more(engine: Engine, owner: str, lease_s: float, kind: str, limit: int) -> list[Job]:
    """Lease up to ``limit`` more due jobs of ``kind`` to ``owner`` (a worker filling a batch)."""
    if limit <= 0:
        return []
    now = utcnow()
    # The pick is a CTE, computed once: PostgreSQL may re-run an ``IN (SELECT … LIMIT n FOR UPDATE SKIP
    # LOCKED)`` subquery for each row it joins, and then leased every due job to one worker, not ``n``
    # (found on the first multi-machine run, bench/multihost.py: one worker held 56 jobs of a pass of 16)
    pick = (
        select(JobRow.id)
        .where(_due(now, [kind]))
        .order_by(JobRow.next_run_at, JobRow.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("pick")
    )
    stmt = (
        update(JobRow)
        .where(JobRow.id.in_(select(pick.c.id)), _due(now, [kind]))
        .values(**_claim_values(owner, lease_s, now))
        .returning(JobRow.id)
    )
    ids = _write(engine, lambda conn: list(conn.execute(stmt).scalars()))
    return jobs_by_id(engine, ids)


def claim(engine: Engine, job_id: str, owner: str, lease_s: float) -> Job | None:
    """Lease ``job_id`` to ``owner`` if it is due; None when it is not (done, dead, running under a live
    lease, or waiting for its next run time): a duplicate or early message changes nothing."""
    now = utcnow()
    stmt = (
        update(JobRow)
        .where(JobRow.id == job_id, _due(now, None))
        .values(**_claim_values(owner, lease_s, now))
    )
    changed = _write(engine, lambda conn: conn.execute(stmt).rowcount)
    return get_job(engine, job_id) if changed == 1 else None


def renew(engine: Engine, job_id: str, owner: str, lease_s: float) -> bool:
    """Heartbeat: extend ``owner``'s lease; False when the lease was lost (stop working on the job)."""
    now = utcnow()
    stmt = (
        update(JobRow)
        .where(_owned(job_id, owner))
        .values(lease_expires_at=now + timedelta(seconds=lease_s), heartbeat_at=now)
    )
    return bool(_write(engine, lambda conn: conn.execute(stmt).rowcount) == 1)


def complete_in(conn: Connection | Session, job_id: str, owner: str) -> None:
    """Mark the job done in the caller's transaction (the one storing its result); raises
    :class:`LeaseLost` when ``owner`` no longer holds it, which rolls the result back."""
    now = utcnow()
    stmt = (
        update(JobRow)
        .where(_owned(job_id, owner))
        .values(
            state="done", error=None, lease_owner=None, lease_expires_at=None, finished_at=now, updated_at=now
        )
    )
    result = cast("CursorResult[Any]", conn.execute(stmt))
    if result.rowcount != 1:
        raise LeaseLost(job_id)


def fail(
    engine: Engine, job_id: str, owner: str, error: dict[str, Any], *, retry_at: datetime | None
) -> Job | None:
    """Record a failed attempt: ``retry_wait`` until ``retry_at``, or ``dead`` when it is None.
    None when ``owner`` had lost the job (nothing is changed)."""
    stmt = update(JobRow).where(_owned(job_id, owner)).values(**_failed_values(error, retry_at))
    changed = _write(engine, lambda conn: conn.execute(stmt).rowcount)
    return get_job(engine, job_id) if changed == 1 else None


def _failed_values(error: dict[str, Any], retry_at: datetime | None) -> dict[str, Any]:
    now = utcnow()
    values: dict[str, Any] = {
        "error": masked(error),
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    if retry_at is None:
        return {**values, "state": "dead", "finished_at": now}
    return {**values, "state": "retry_wait", "next_run_at": retry_at}


def expired(engine: Engine) -> list[Job]:
    """Running jobs whose lease has lapsed: their worker was killed, crashed or cut off."""
    stmt = select(*JobRow.__table__.columns).where(
        JobRow.state == "running", JobRow.lease_expires_at < utcnow()
    )
    try:
        with engine.connect() as conn:
            return [Job.model_validate(dict(r)) for r in conn.execute(stmt).mappings()]
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc


def reap(engine: Engine, job: Job, error: dict[str, Any], *, retry_at: datetime | None) -> bool:
    """Take an expired job from its lost worker: ``retry_wait`` (or ``dead``); False when the worker
    renewed or finished it meanwhile."""
    stmt = (
        update(JobRow)
        .where(
            JobRow.id == job.id,
            JobRow.state == "running",
            JobRow.lease_owner == job.lease_owner,
            JobRow.lease_expires_at < utcnow(),
        )
        .values(**_failed_values(error, retry_at))
    )
    return bool(_write(engine, lambda conn: conn.execute(stmt).rowcount) == 1)


def due_unclaimed(engine: Engine, *, overdue_s: float, limit: int = 1000) -> list[str]:
    """Ids of jobs due for more than ``overdue_s`` seconds and not claimed: their queue message was lost
    (or never sent); a sweeper sends them again."""
    stmt = (
        select(JobRow.id)
        .where(_due(utcnow() - timedelta(seconds=overdue_s), None))
        .order_by(JobRow.next_run_at)
        .limit(limit)
    )
    try:
        with engine.connect() as conn:
            return [str(i) for i in conn.scalars(stmt)]
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc


def _write(engine: Engine, step: Any) -> Any:
    try:
        with engine.begin() as conn:
            return step(conn)
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc


def close_unfinished(engine: Engine, job_ids: Sequence[str]) -> int:
    """Mark done, without a result, those of ``job_ids`` that no live worker holds (queued, waiting for a
    retry, or running under an expired lease): their work was done another way and must not run later.
    A job running under a live lease is left alone. How many were closed."""
    if not job_ids:
        return 0
    now = utcnow()
    idle = JobRow.state.in_(("queued", "retry_wait")) | (
        (JobRow.state == "running") & (JobRow.lease_expires_at < now)
    )
    stmt = (
        update(JobRow)
        .where(JobRow.id.in_(list(job_ids)), idle)
        .values(state="done", lease_owner=None, lease_expires_at=None, finished_at=now, updated_at=now)
    )
    return int(_write(engine, lambda conn: conn.execute(stmt).rowcount))
