"""Durable job records for the job queue: create, read, claim atomically, finish.

A worker claims with :func:`claim_next_job`: it picks the oldest queued job and flips it to
``running`` with ``UPDATE ... WHERE id = :id AND state = 'queued'``; only the worker whose
update changed a row owns the job, so two workers never run the same job.

A job's ``payload`` and ``error`` are stored masked (:func:`qa_pipeline.text.pii.mask_value`: every
phone, ID, card number and e-mail in a key or a value), so a path, a note or an error message that
carries personal data does not put it in the database.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, CursorResult, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from qa_pipeline.errors import E, NotFoundError, StorageError
from qa_pipeline.store.models import JobRow, utcnow
from qa_pipeline.text.pii import mask_value

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]
CLAIM_TRIES = 8


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


def _masked(value: Any) -> Any:
    """The JSON form of ``value`` with personal data masked in every key and string."""
    return mask_value(to_jsonable_python(value))


def _database_error(exc: SQLAlchemyError) -> StorageError:
    return StorageError(E.DATABASE, f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}")


def create_job(
    engine: Engine, kind: str, payload: dict[str, Any], *, idempotency_key: str | None = None
) -> Job:
    """Queue a job. With an ``idempotency_key`` already used, returns that job instead of a new one."""
    now = utcnow()
    values = {
        "id": uuid.uuid4().hex,
        "kind": kind,
        "state": "queued",
        "payload": _masked(payload),
        "error": None,
        "idempotency_key": idempotency_key,
        "created_at": now,
        "updated_at": now,
        "attempts": 0,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(JobRow).values(**values))
    except IntegrityError:
        existing = _by_key(engine, idempotency_key) if idempotency_key is not None else None
        if existing is None:
            raise StorageError(E.DATABASE, f"cannot queue job of kind {kind!r}") from None
        return existing
    except SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    return Job.model_validate(values)


def release_failed_key(engine: Engine, key: str) -> None:
    """Free ``key`` if it names a ``failed`` job (kept, without its key), so the work can be queued anew."""
    stmt = update(JobRow).where(JobRow.idempotency_key == key, JobRow.state == "failed")
    try:
        with engine.begin() as conn:
            conn.execute(stmt.values(idempotency_key=None, updated_at=utcnow()))
    except SQLAlchemyError as exc:
        raise _database_error(exc) from exc


def get_job(engine: Engine, job_id: str) -> Job:
    """The job ``job_id``; raises :class:`NotFoundError` when there is none."""
    job = _fetch(engine, JobRow.id == job_id)
    if job is None:
        raise NotFoundError("job", job_id)
    return job


def claim_next_job(engine: Engine, kind: str | None = None) -> Job | None:
    """Atomically move the oldest queued job (of ``kind``) to ``running``; None when none is queued."""
    for _ in range(CLAIM_TRIES):
        try:
            with engine.begin() as conn:
                job_id = _oldest_queued(conn, kind)
                if job_id is None:
                    return None
                if try_claim(conn, job_id):
                    break
        except SQLAlchemyError as exc:
            raise _database_error(exc) from exc
        log.debug("job %s was claimed by another worker; trying the next", job_id)
    else:
        return None
    return get_job(engine, job_id)


def try_claim(conn: Connection, job_id: str) -> bool:
    """Flip ``job_id`` from queued to running; True only for the one caller whose update won."""
    stmt = (
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state == "queued")
        .values(state="running", attempts=JobRow.attempts + 1, updated_at=utcnow())
    )
    result: CursorResult[Any] = conn.execute(stmt)
    return result.rowcount == 1


def finish_job(engine: Engine, job_id: str, *, error: dict[str, Any] | None = None) -> Job:
    """Mark a running job ``done`` (or ``failed`` with ``error``, e.g. ``QAError.to_dict()``)."""
    state: JobState = "done" if error is None else "failed"
    stmt = (
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state == "running")
        .values(state=state, error=_masked(error), updated_at=utcnow())
    )
    try:
        with engine.begin() as conn:
            changed = conn.execute(stmt).rowcount
    except SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    job = get_job(engine, job_id)
    if changed != 1:
        raise StorageError(E.DATABASE, f"job {job_id!r} is {job.state}, not running; cannot finish it")
    return job


def _oldest_queued(conn: Connection, kind: str | None) -> str | None:
    stmt = select(JobRow.id).where(JobRow.state == "queued").order_by(JobRow.created_at, JobRow.id).limit(1)
    if kind is not None:
        stmt = stmt.where(JobRow.kind == kind)
    return conn.scalar(stmt)


def _by_key(engine: Engine, key: str) -> Job | None:
    return _fetch(engine, JobRow.idempotency_key == key)


def _fetch(engine: Engine, cond: Any) -> Job | None:
    try:
        with engine.connect() as conn:
            row = conn.execute(select(*JobRow.__table__.columns).where(cond)).mappings().first()
    except SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    return None if row is None else Job.model_validate(dict(row))
