"""Durable job records: create (idempotently), read, list, and the admin's re-run of a dead job.

The ``jobs`` table is the single source of truth about background work. A queue message (Dramatiq)
carries only a job id; whatever it says, a worker acts on the row (:mod:`qa_pipeline.store.job_leases`
claims, renews, finishes and retries it).

States::

    queued ──claim──▶ running ──store result + done (one transaction)──▶ done
                         │
                         ├─ transient error / lease expired ──▶ retry_wait ──(next_run_at)──▶ running …
                         └─ input error, or the last attempt ──▶ dead ──(admin re-run)──▶ queued

A job's ``payload`` and ``error`` are stored masked (:func:`qa_pipeline.text.pii.mask_value`: every
phone, ID, card number and e-mail in a key or a value), so a path, a note or an error message that
carries personal data does not put it in the database.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from qa_pipeline.errors import ConflictError, E, NotFoundError, StorageError
from qa_pipeline.store.models import JobRow, utcnow
from qa_pipeline.text.pii import mask_value

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "retry_wait", "dead"]
JOB_STATES: tuple[JobState, ...] = get_args(JobState)
FINAL_STATES: frozenset[str] = frozenset({"done", "dead"})
LIST_LIMIT = 500


class Job(BaseModel):
    """A job as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    state: JobState
    payload: dict[str, Any]
    error: dict[str, Any] | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    attempts: int
    next_run_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None
    batch_id: str | None = None
    record: int | None = None


class NewJob(BaseModel):
    """What :func:`create_jobs` needs for one job."""

    kind: str
    payload: dict[str, Any]
    idempotency_key: str | None = None
    batch_id: str | None = None
    record: int | None = None


def masked(value: Any) -> Any:
    """The JSON form of ``value`` with personal data masked in every key and string."""
    return mask_value(to_jsonable_python(value))


def database_error(exc: SQLAlchemyError) -> StorageError:
    return StorageError(E.DATABASE, f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}")


def job_values(new: NewJob, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "kind": new.kind,
        "state": "queued",
        "payload": masked(new.payload),
        "error": None,
        "idempotency_key": new.idempotency_key,
        "created_at": now,
        "updated_at": now,
        "next_run_at": now,
        "attempts": 0,
        "batch_id": new.batch_id,
        "record": new.record,
    }


def create_job(
    engine: Engine, kind: str, payload: dict[str, Any], *, idempotency_key: str | None = None
) -> Job:
    """Queue a job. With an ``idempotency_key`` already used, returns that job instead of a new one
    (the unique constraint decides between concurrent submissions: exactly one row is created)."""
    values = job_values(NewJob(kind=kind, payload=payload, idempotency_key=idempotency_key), utcnow())
    try:
        with engine.begin() as conn:
            conn.execute(insert(JobRow).values(**values))
    except IntegrityError:
        existing = find_job_by_key(engine, idempotency_key) if idempotency_key is not None else None
        if existing is None:
            raise StorageError(E.DATABASE, f"cannot queue job of kind {kind!r}") from None
        return existing
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    return Job.model_validate(values)


def create_jobs(engine: Engine, jobs: Sequence[NewJob]) -> list[str]:
    """Queue many jobs in one transaction (a batch's records); their ids, in order."""
    now = utcnow()
    rows = [job_values(new, now) for new in jobs]
    try:
        with engine.begin() as conn:
            if rows:
                conn.execute(insert(JobRow), rows)
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    return [row["id"] for row in rows]


def release_dead_key(engine: Engine, key: str) -> None:
    """Free ``key`` if it names a ``dead`` job (kept, without its key), so the work can be queued anew."""
    stmt = update(JobRow).where(JobRow.idempotency_key == key, JobRow.state == "dead")
    try:
        with engine.begin() as conn:
            conn.execute(stmt.values(idempotency_key=None, updated_at=utcnow()))
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc


def get_job(engine: Engine, job_id: str) -> Job:
    """The job ``job_id``; raises :class:`NotFoundError` when there is none."""
    job = _fetch(engine, JobRow.id == job_id)
    if job is None:
        raise NotFoundError("job", job_id)
    return job


def jobs_by_id(engine: Engine, ids: Sequence[str]) -> list[Job]:
    """The jobs ``ids`` in one query (in no particular order)."""
    if not ids:
        return []
    stmt = select(*JobRow.__table__.columns).where(JobRow.id.in_(list(ids)))
    try:
        with engine.connect() as conn:
            return [Job.model_validate(dict(r)) for r in conn.execute(stmt).mappings()]
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc


def find_job_by_key(engine: Engine, idempotency_key: str) -> Job | None:
    """The job created with ``idempotency_key``, or None."""
    return _fetch(engine, JobRow.idempotency_key == idempotency_key)


def list_jobs(
    engine: Engine,
    *,
    state: JobState | None = None,
    kind: str | None = None,
    batch_id: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[Job]:
    """Jobs, newest first, optionally of one state, kind or batch."""
    stmt = select(*JobRow.__table__.columns).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
    for column, value in ((JobRow.state, state), (JobRow.kind, kind), (JobRow.batch_id, batch_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    try:
        with engine.connect() as conn:
            return [Job.model_validate(dict(r)) for r in conn.execute(stmt).mappings()]
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc


def count_by_state(engine: Engine, *, batch_id: str | None = None) -> dict[str, int]:
    """How many jobs are in each state (every state present, 0 where none), of one batch or all."""
    stmt = select(JobRow.state, func.count()).group_by(JobRow.state)
    if batch_id is not None:
        stmt = stmt.where(JobRow.batch_id == batch_id)
    try:
        with engine.connect() as conn:
            found = {str(state): int(n) for state, n in conn.execute(stmt)}
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    return {state: found.get(state, 0) for state in JOB_STATES}


def requeue_dead(engine: Engine, job_id: str) -> Job:
    """An admin's re-run: a ``dead`` job goes back to ``queued`` with its attempts reset (its last error
    is kept until it runs again). Raises NotFoundError, or ConflictError when the job is not dead."""
    now = utcnow()
    stmt = (
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state == "dead")
        .values(state="queued", attempts=0, next_run_at=now, updated_at=now, finished_at=None)
    )
    try:
        with engine.begin() as conn:
            changed = conn.execute(stmt).rowcount
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    job = get_job(engine, job_id)
    if changed != 1:
        raise ConflictError(f"job {job_id} is {job.state}; only a dead job can be run again")
    log.info("job %s re-queued by an admin", job_id)
    return job


def _fetch(engine: Engine, cond: Any) -> Job | None:
    try:
        with engine.connect() as conn:
            row = conn.execute(select(*JobRow.__table__.columns).where(cond)).mappings().first()
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    return None if row is None else Job.model_validate(dict(row))
