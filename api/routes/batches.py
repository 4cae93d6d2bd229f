"""/v1/batches: bulk chat ingest as jobs. The body is one export in the formats ``qa audit`` reads
(JSON Lines: one conversation a line; CSV: one message a row); 202 with the batch, whose
conversations become ``chat`` jobs the workers share; ``GET /v1/batches/{id}`` shows the counts per
job state and the per-record errors (records refused at ingest, jobs that are dead).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import Caller, StateDep
from api.errors import MediaTypeError
from api.routes.conversations import declared_charset
from api.schemas import ErrorPublic
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.errors import E, InputError
from qa_pipeline.jobs import Batch, get_batch, ingest_batch, new_spool_name, spool_dir
from qa_pipeline.jobs.batches import BatchFormat, RecordError
from qa_pipeline.sources.fields import ID_LENGTH

log = logging.getLogger(__name__)

router = APIRouter(tags=["batches"])

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorPublic} for s in (401, 403, 404, 413, 415, 422, 503)
}
Submitter = Annotated[Principal, Depends(Caller(Action.CONVERSATION_CREATE))]
JobReader = Annotated[Principal, Depends(Caller(Action.JOB_READ))]
MEDIA: dict[str, BatchFormat] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
}


class BatchLinks(BaseModel):
    self: str
    jobs: str


class BatchPublic(BaseModel):
    batch_id: str
    filename: str
    format: Literal["jsonl", "csv"]
    records: int = Field(description="records read from the export (good and bad)")
    invalid: int = Field(description="records refused at ingest (see errors); the others became jobs")
    jobs: dict[str, int] = Field(
        description="the batch's jobs per state: queued, running, done, retry_wait, dead"
    )
    finished: bool = Field(description="no job is queued, running or waiting for a retry")
    errors: list[RecordError]
    errors_truncated: bool
    created_at: datetime
    links: BatchLinks

    @classmethod
    def build(cls, batch: Batch) -> BatchPublic:
        return cls(
            batch_id=batch.id,
            filename=batch.filename,
            format=batch.format,
            records=batch.records,
            invalid=batch.invalid,
            jobs=batch.jobs,
            finished=batch.finished,
            errors=batch.errors,
            errors_truncated=batch.errors_truncated,
            created_at=batch.created_at,
            links=BatchLinks(self=f"/v1/batches/{batch.id}", jobs=f"/v1/jobs?batch_id={batch.id}"),
        )


async def spool_body(request: Request, limit: int, folder: Path) -> Path:
    """Stream the body to a file in ``folder``, refusing (413) once it is known to pass ``limit``
    bytes: an oversized or endless body never sits in memory, and what was written is removed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InputError(
            E.FILE_TOO_LARGE, f"body of {declared} bytes is over the {limit}-byte limit (QA_MAX_BATCH_BYTES)"
        )
    await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
    path = folder / new_spool_name("batch.jsonl")
    size = 0
    try:
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise InputError(
                        E.FILE_TOO_LARGE, f"body is over the {limit}-byte limit (QA_MAX_BATCH_BYTES)"
                    )
                await out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _format(request: Request) -> BatchFormat:
    content_type = request.headers.get("content-type", "")
    fmt = MEDIA.get(content_type.split(";", 1)[0].strip().lower())
    if fmt is None:
        raise MediaTypeError(content_type, expected="application/x-ndjson (JSON Lines) or text/csv")
    return fmt


BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "one conversation object per line"}
            },
            "text/csv": {"schema": {"type": "string", "description": "one chat message per row"}},
        },
    }
}


@router.post(
    "/v1/batches",
    status_code=202,
    response_model=BatchPublic,
    responses={
        200: {"model": BatchPublic, "description": "the same export again: the first batch"},
        **ERRORS,
    },
    openapi_extra=BODY_DOC,
    summary="Queue a chat export (JSON Lines or CSV) for audit",
)
async def create_batch(
    request: Request,
    state: StateDep,
    who: Submitter,
    filename: Annotated[str, Query(min_length=1, max_length=200)] = "batch",
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=ID_LENGTH)
    ] = None,
) -> JSONResponse:
    """``Content-Type: application/x-ndjson`` (or ``text/csv``; a ``charset`` parameter is honoured,
    else the encoding is detected). 202 with the batch; poll ``links.self`` until ``finished``.
    The same export sent again (same ``Idempotency-Key``, else the same bytes) answers 200 with the
    first batch and queues nothing."""
    fmt = _format(request)
    spooled = await spool_body(request, state.settings.max_batch_bytes, spool_dir(state.settings))
    try:
        data = await anyio.to_thread.run_sync(spooled.read_bytes)
    finally:
        spooled.unlink(missing_ok=True)
    ingested = await anyio.to_thread.run_sync(
        lambda: ingest_batch(
            state.engine,
            state.settings,
            data,
            filename=filename,
            fmt=fmt,
            created_by=who.name,
            idempotency_key=idempotency_key,
            encoding=declared_charset(request.headers.get("content-type", "")),
        )
    )
    state.queue.submit(ingested.job_ids)
    status = 202 if ingested.created else 200
    batch = ingested.batch
    return JSONResponse(status_code=status, content=BatchPublic.build(batch).model_dump(mode="json"))


@router.get(
    "/v1/batches/{batch_id}", response_model=BatchPublic, responses=ERRORS, summary="A batch's progress"
)
def read_batch(
    batch_id: Annotated[str, PathParam(max_length=64)], state: StateDep, _who: JobReader
) -> BatchPublic:
    """Counts of the batch's jobs per state, and the per-record errors."""
    return BatchPublic.build(get_batch(state.engine, batch_id))
