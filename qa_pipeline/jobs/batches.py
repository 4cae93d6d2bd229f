"""Bulk chat ingest as jobs: an export (JSON Lines or CSV, the formats ``qa audit`` reads) becomes a
batch, and each of its conversations a ``chat`` job that any worker may run.

:func:`ingest_batch` parses the export once, refuses bad records on the spot (they are the batch's
per-record errors; the good ones still run), writes the good conversations to one file in the storage
folder (``QA_AUDIO_DIR/batches/<batch id>.jsonl``, one validated conversation a line) and queues one
job per conversation naming its byte range, all in one transaction with the batch row. A worker reads
only its own line (:class:`ChatHandler`), so a batch of 100,000 chats costs no more per job than one.
The file is deleted once every job of the batch is ``done``.

A repeated submission (the same ``Idempotency-Key``, else the same bytes in the same format) returns
the first batch instead of queuing the work twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from qa_pipeline.errors import E, InputError, NotFoundError
from qa_pipeline.jobs.payload import JobPayload
from qa_pipeline.pipeline import Failure, Pipeline
from qa_pipeline.settings import Settings
from qa_pipeline.sources.csv_chat import iter_csv_text
from qa_pipeline.sources.encoding import decode_bytes
from qa_pipeline.sources.jsonl import iter_jsonl_text
from qa_pipeline.store.jobs import Job, NewJob, count_by_state, database_error, job_values, list_jobs, masked
from qa_pipeline.store.models import BatchRow, JobRow, utcnow
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)

CHAT_JOB = "chat"
BATCH_FOLDER = "batches"
MAX_STORED_ERRORS = 1000
BatchFormat = Literal["jsonl", "csv"]
Scorer = Callable[[Conversation], Conversation]
BatchScorer = Callable[[list[Conversation]], list[Conversation | Failure]]


class ChatPayload(JobPayload):
    """What a ``chat`` job stores: where its conversation lies in the batch file."""

    file: str
    offset: int
    length: int
    conversation_id: str


class RecordError(BaseModel):
    """One record of a batch that was refused (at ingest) or whose job is dead."""

    record: int | None = None
    conversation_id: str | None = None
    job_id: str | None = None
    error: dict[str, Any]


class Batch(BaseModel):
    """A batch as the API shows it: what was sent, and where its conversations stand."""

    id: str
    filename: str
    format: BatchFormat
    records: int
    invalid: int
    created_at: datetime
    jobs: dict[str, int]
    errors: list[RecordError]
    errors_truncated: bool = False

    @property
    def finished(self) -> bool:
        return self.jobs.get("queued", 0) + self.jobs.get("running", 0) + self.jobs.get("retry_wait", 0) == 0


class Ingested(NamedTuple):
    batch: Batch
    job_ids: list[str]
    created: bool  # False: the key named an earlier batch, which is returned instead


def batch_dir(settings: Settings) -> Path:
    """Where batch files wait for their jobs: ``batches/`` in the storage folder (``QA_AUDIO_DIR``)."""
    return settings.audio_dir / BATCH_FOLDER


def batch_key(data: bytes, fmt: BatchFormat) -> str:
    """The default idempotency key of a batch: its bytes and format."""
    return f"batch:{fmt}:" + hashlib.sha256(data).hexdigest()


def _parse(
    data: bytes, fmt: BatchFormat, filename: str, settings: Settings, encoding: str | None
) -> Iterator[Conversation | InputError]:
    text = decode_bytes(data, filename, encoding=encoding).text
    if fmt == "csv":
        yield from iter_csv_text(text, settings=settings, source=filename)
    else:
        yield from iter_jsonl_text(text, settings=settings, source=filename)


class _Split(BaseModel):
    jobs: list[NewJob] = []
    errors: list[RecordError] = []
    records: int = 0


def _write_records(parsed: Iterator[Conversation | InputError], path: Path, batch_id: str) -> _Split:
    """Good conversations to ``path`` (one JSON line each, offsets into the jobs); bad ones to errors."""
    split, offset = _Split(), 0
    with path.open("wb") as out:
        for index, item in enumerate(parsed):
            split.records += 1
            if isinstance(item, InputError):
                split.errors.append(RecordError(record=index, error=item.to_dict()))
                continue
            line = item.model_dump_json().encode() + b"\n"
            out.write(line)
            payload = ChatPayload(file=path.name, offset=offset, length=len(line), conversation_id=item.id)
            split.jobs.append(
                NewJob(kind=CHAT_JOB, payload=payload.model_dump(), batch_id=batch_id, record=index)
            )
            offset += len(line)
    return split


def _check_some_good(split: _Split, filename: str) -> None:
    """A batch without one readable conversation is refused whole (422), with its first problem."""
    if not split.records:
        raise InputError(E.EMPTY_CONVERSATION, "the batch holds no conversation", file=filename)
    if not split.jobs:
        first = split.errors[0].error
        detail = f"none of the {split.records} record(s) could be read; the first: {first.get('detail', '')}"
        raise InputError(
            E(first["code"]), detail, file=filename, line=first.get("line"), hint=first.get("hint")
        )


def ingest_batch(
    engine: Engine,
    settings: Settings,
    data: bytes,
    *,
    filename: str,
    fmt: BatchFormat,
    created_by: str | None = None,
    idempotency_key: str | None = None,
    encoding: str | None = None,
) -> Ingested:
    """Queue a batch: the batch, the ids of the jobs created and whether it is new (a repeated key
    returns the earlier batch and creates nothing).

    A file-level problem (not text, undecodable, CSV columns missing) raises :class:`InputError` and
    nothing is queued; a bad record is reported in the batch and the others run.
    """
    key = idempotency_key or batch_key(data, fmt)
    if (existing := _batch_by_key(engine, key)) is not None:
        return Ingested(get_batch(engine, existing), [], False)
    batch_id = uuid.uuid4().hex
    folder = batch_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{batch_id}.jsonl"
    try:
        split = _write_records(_parse(data, fmt, filename, settings, encoding), path, batch_id)
        _check_some_good(split, filename)
        ids = _insert(engine, batch_id, key, split, filename=filename, fmt=fmt, created_by=created_by)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if ids is None:  # a concurrent submission with the same key won
        path.unlink(missing_ok=True)
        winner = _batch_by_key(engine, key)
        return Ingested(get_batch(engine, winner or batch_id), [], False)
    log.info(
        "batch %s: %d records, %d refused, %d jobs", batch_id, split.records, len(split.errors), len(ids)
    )
    return Ingested(get_batch(engine, batch_id), ids, True)


def _insert(
    engine: Engine, batch_id: str, key: str, split: _Split, *, filename: str, fmt: str, created_by: str | None
) -> list[str] | None:
    """The batch row and its jobs in one transaction; None when ``key`` is taken."""
    now = utcnow()
    rows = [job_values(new, now) for new in split.jobs]
    batch = {
        "id": batch_id,
        "filename": masked(filename)[:255],
        "format": fmt,
        "created_by": created_by,
        "idempotency_key": key,
        "records": split.records,
        "invalid": len(split.errors),
        "errors": masked([e.model_dump() for e in split.errors[:MAX_STORED_ERRORS]]),
        "created_at": now,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(BatchRow).values(**batch))
            if rows:
                conn.execute(insert(JobRow), rows)
    except IntegrityError:
        return None
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    return [row["id"] for row in rows]


def _batch_by_key(engine: Engine, key: str) -> str | None:
    try:
        with engine.connect() as conn:
            found = conn.scalar(select(BatchRow.id).where(BatchRow.idempotency_key == key))
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    return None if found is None else str(found)


def get_batch(engine: Engine, batch_id: str) -> Batch:
    """A batch with its job counts and per-record errors (refused records, then dead jobs)."""
    try:
        with engine.connect() as conn:
            row = conn.execute(select(BatchRow).where(BatchRow.id == batch_id)).mappings().first()
    except SQLAlchemyError as exc:
        raise database_error(exc) from exc
    if row is None:
        raise NotFoundError("batch", batch_id)
    refused = [RecordError.model_validate(e) for e in row["errors"]]
    dead = [
        RecordError(
            record=j.record,
            conversation_id=j.payload.get("conversation_id"),
            job_id=j.id,
            error=j.error or {},
        )
        for j in list_jobs(engine, batch_id=batch_id, state="dead", limit=MAX_STORED_ERRORS)
    ]
    errors = sorted(refused + dead, key=lambda e: e.record if e.record is not None else -1)
    return Batch(
        id=row["id"],
        filename=row["filename"],
        format=row["format"],
        records=row["records"],
        invalid=row["invalid"],
        created_at=row["created_at"],
        jobs=count_by_state(engine, batch_id=batch_id),
        errors=errors[:MAX_STORED_ERRORS],
        errors_truncated=row["invalid"] > len(refused) or len(errors) > MAX_STORED_ERRORS,
    )


class ChatHandler:
    """Turns a ``chat`` job into a scored conversation: reads its line of the batch file and scores it
    with ``score`` (the text pipeline)."""

    def __init__(
        self, engine: Engine, settings: Settings, score: Scorer, score_many: BatchScorer | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.score = score
        self.score_many = score_many

    def __call__(self, job: Job) -> Conversation:
        return self.score(self.read(job))

    def many(self, jobs: list[Job]) -> list[Conversation | Exception]:
        """Several jobs in one pipeline pass (the models see a batch); each outcome or error in order."""
        read: list[Conversation | Exception] = []
        for job in jobs:
            try:
                read.append(self.read(job))
            except InputError as exc:
                read.append(exc)
        convs = [c for c in read if isinstance(c, Conversation)]
        if self.score_many is not None:
            scored = iter(self.score_many(convs))
        else:
            scored = iter([self.score(c) for c in convs])
        return [_outcome(next(scored)) if isinstance(item, Conversation) else item for item in read]

    def read(self, job: Job) -> Conversation:
        """The job's conversation, read from its byte range of the batch file."""
        payload = ChatPayload.of(job)
        path = batch_dir(self.settings) / Path(payload.file).name
        try:
            with path.open("rb") as f:
                f.seek(payload.offset)
                line = f.read(payload.length)
        except FileNotFoundError:
            raise InputError(E.FILE_NOT_FOUND, "the batch file is gone", file=payload.file) from None
        try:
            return Conversation.model_validate_json(line)
        except ValidationError as exc:
            raise InputError(E.INVALID_JSON, f"the batch file is damaged: {exc.errors()[0]['msg']}") from None

    def cleanup(self, job: Job) -> None:
        """Delete the batch file once every job of the batch is done."""
        if job.batch_id is None:
            return
        counts = count_by_state(self.engine, batch_id=job.batch_id)
        if sum(counts.values()) == counts["done"]:
            (batch_dir(self.settings) / f"{job.batch_id}.jsonl").unlink(missing_ok=True)


def _outcome(result: Conversation | Failure) -> Conversation | Exception:
    return result.error if isinstance(result, Failure) else result


class TextScorer:
    """The text pipeline for chat jobs outside ``qa serve``: built on the first conversation, then
    one conversation at a time (the stages' models are not guaranteed thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    def __call__(self, conv: Conversation) -> Conversation:
        with self._lock:
            return self._built()(conv)

    def many(self, convs: list[Conversation]) -> list[Conversation | Failure]:
        with self._lock:
            return self._built().run_batch(convs)

    def _built(self) -> Pipeline:
        """The pipeline, built on first use (call with the lock held)."""
        if self._pipeline is None:
            log.info("building the text pipeline")
            self._pipeline = Pipeline.from_config(settings=self.settings)
        return self._pipeline
