"""/v1/calls: upload a recording to audit in the background; /v1/jobs/{id}: follow the job.

The upload (``multipart/form-data``: ``file`` and an optional JSON ``metadata`` field) is refused
with 413 before anything is read when Content-Length is over ``max_upload_bytes``, and counted
while it streams in case the header lies or is absent. The recording is spooled to disk and probed
(container headers only): a file that is not audio, has too many channels or is longer than
``max_audio_s`` is refused at once and no job is created. An ``Idempotency-Key`` header makes a
repeated upload answer 200 with the job of the first one.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.deps import Caller, StateDep
from api.schemas import ErrorPublic
from api.state import AppState
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.asr.decode import AudioInfo, probe
from qa_pipeline.errors import E, InputError
from qa_pipeline.jobs import (
    CALL_JOB,
    CallPayload,
    content_key,
    digest_letters,
    new_spool_name,
    sha256_file,
    spool_dir,
    upload_conversation_id,
)
from qa_pipeline.settings import Settings
from qa_pipeline.sources.fields import ID_LENGTH
from qa_pipeline.store import create_job, get_job
from qa_pipeline.store.jobs import Job, JobState, find_job_by_key, list_jobs, release_dead_key, requeue_dead

log = logging.getLogger(__name__)

router = APIRouter(tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorPublic} for s in (401, 403, 404, 409, 413, 415, 422, 503)
}
Uploader = Annotated[Principal, Depends(Caller(Action.CALL_UPLOAD))]
JobReader = Annotated[Principal, Depends(Caller(Action.JOB_READ))]
JobAdmin = Annotated[Principal, Depends(Caller(Action.JOB_RETRY))]
MAX_CHANNELS = 2
COPY_BLOCK = 1 << 20


class CallMetadata(BaseModel):
    """The optional ``metadata`` form field: who took the call and when; other fields are kept."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, min_length=1, max_length=ID_LENGTH, pattern="^[^/]+$")
    agent_id: str | None = Field(default=None, max_length=ID_LENGTH)
    team: str | None = Field(default=None, max_length=ID_LENGTH)
    started_at: datetime | None = None


class JobLinks(BaseModel):
    self: str
    conversation: str | None = None


class JobPublic(BaseModel):
    job_id: str
    kind: str
    state: JobState = Field(
        description="queued, running, done, retry_wait (a transient failure: runs again at next_run_at) "
        "or dead (bad input, or every attempt failed: see error)"
    )
    conversation_id: str | None
    error: dict[str, Any] | None
    attempts: int
    next_run_at: datetime | None = Field(description="when a queued or retry_wait job runs next")
    batch_id: str | None = None
    record: int | None = Field(default=None, description="the record's position in its batch (0-based)")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    links: JobLinks

    @classmethod
    def build(cls, job: Job) -> JobPublic:
        conv_id = job.payload.get("conversation_id")
        conv_link = f"/v1/conversations/{conv_id}" if job.state == "done" and conv_id else None
        links = JobLinks(self=f"/v1/jobs/{job.id}", conversation=conv_link)
        return cls(
            job_id=job.id,
            kind=job.kind,
            state=job.state,
            conversation_id=conv_id if isinstance(conv_id, str) else None,
            error=job.error,
            attempts=job.attempts,
            next_run_at=job.next_run_at if job.state in ("queued", "retry_wait") else None,
            batch_id=job.batch_id,
            record=job.record,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
            links=links,
        )


class JobListPublic(BaseModel):
    items: list[JobPublic]


class _TooLarge(MultiPartException):
    """Raised from inside the multipart parser when the streamed body passes the limit."""


def _too_large(limit: int, declared: str | None = None) -> InputError:
    size = f"body of {declared} bytes" if declared else "body"
    return InputError(E.FILE_TOO_LARGE, f"{size} is over the {limit}-byte upload limit (QA_MAX_UPLOAD_BYTES)")


SPOOL_BLOCK = 1 << 20


async def _counted(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """The body in blocks of about :data:`SPOOL_BLOCK` (the parser writes each block to the spool file
    through a worker thread: one hop per megabyte, not per network read), refused past ``limit``."""
    size, block = 0, bytearray()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"over {limit} bytes")
        block += chunk
        if len(block) >= SPOOL_BLOCK:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


def _check_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, declared)


def _check_multipart(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        err = InputError(E.BAD_REQUEST, f"Content-Type must be multipart/form-data, got {content_type!r}")
        err.http_status = 415
        raise err


async def _read_form(request: Request, limit: int) -> FormData:
    _check_multipart(request)
    _check_declared_size(request, limit)
    parser = MultiPartParser(request.headers, _counted(request.stream(), limit), max_files=1, max_fields=4)
    try:
        return await parser.parse()
    except _TooLarge:
        raise _too_large(limit) from None
    except MultiPartException as exc:
        raise InputError(E.BAD_REQUEST, f"malformed multipart body: {exc.message}") from None


def _upload(form: FormData) -> UploadFile:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InputError(
            E.MISSING_FIELD, "send the recording as the multipart file field 'file'", field="file"
        )
    return upload


METADATA_HINT = (
    'Send the form field \'metadata\' as one JSON object, e.g. {"agent_id": "A01", "team": "T1", '
    '"started_at": "2026-04-08T20:11:00+08:00"}, or leave it out.'
)


def _metadata(form: FormData) -> CallMetadata:
    raw = form.get("metadata")
    if raw is None or raw == "":
        return CallMetadata()
    if not isinstance(raw, str):
        raise InputError(
            E.BAD_FIELD,
            "metadata must be a JSON text field, not a file",
            field="metadata",
            hint=METADATA_HINT,
        )
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = f"metadata is not JSON: {exc}"
        raise InputError(E.INVALID_JSON, detail, field="metadata", hint=METADATA_HINT) from None
    if not isinstance(data, dict):
        detail = "metadata must be a JSON object, not a list or a single value"
        raise InputError(E.BAD_FIELD, detail, field="metadata", hint=METADATA_HINT)
    try:
        return CallMetadata.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("metadata", *first["loc"]))
        raise InputError(E.BAD_FIELD, first["msg"], field=where) from None


def _check_audio(info: AudioInfo, filename: str, settings: Settings) -> None:
    if info.duration_s is not None and info.duration_s > settings.max_audio_s:
        detail = f"{info.duration_s:.0f} s is over the {settings.max_audio_s:.0f} s limit (QA_MAX_AUDIO_S)"
        err = InputError(E.AUDIO_TOO_LONG, detail, file=filename)
        err.http_status = 413
        raise err
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise InputError(E.AUDIO_CHANNELS, f"{info.channels} channels", file=filename)


def _probe(path: Path, filename: str) -> AudioInfo:
    try:
        return probe(path)
    except InputError as exc:  # the decoder's error names the spool path: report the client's name
        detail = exc.detail.replace(str(path), filename)
        raise InputError(E.AUDIO_UNREADABLE, detail, file=filename) from None


def spool_upload(upload: UploadFile, settings: Settings) -> tuple[str, bytes]:
    """Copy the upload into the spool folder and check it is acceptable audio (blocking).

    Returns the spool file name and the recording's SHA-256; nothing is left behind on error.
    """
    filename = upload.filename or "recording"
    folder = spool_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    name = new_spool_name(filename)
    path = folder / name
    try:
        upload.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out, COPY_BLOCK)
        if path.stat().st_size == 0:
            raise InputError(E.AUDIO_UNREADABLE, "the file is empty (0 bytes)", file=filename)
        _check_audio(_probe(path, filename), filename, settings)
        return name, sha256_file(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _answer(job: Job, status: int) -> JSONResponse:
    return JSONResponse(status_code=status, content=JobPublic.build(job).model_dump(mode="json"))


def _queue(payload: CallPayload, key: str | None, state: AppState) -> tuple[Job, bool]:
    """Create the job; ``(job, False)`` when the key already named one (an earlier or concurrent upload
    with the same key, or without a key the same recording under the same id: this upload's spool
    file is dropped). A dead job does not block a new upload of the same recording without a key."""
    if key is None:
        key = content_key(payload.content_sha256, payload.conversation_id, payload.metadata)
        release_dead_key(state.engine, key)
    job = create_job(state.engine, CALL_JOB, payload.model_dump(mode="json"), idempotency_key=key)
    if job.payload.get("spool_file") != payload.spool_file:
        (spool_dir(state.settings) / payload.spool_file).unlink(missing_ok=True)
        return job, False
    state.queue.submit([job.id])
    return job, True


@router.post(
    "/v1/calls",
    status_code=202,
    response_model=JobPublic,
    responses={200: {"model": JobPublic, "description": "same Idempotency-Key: the existing job"}, **ERRORS},
    summary="Upload a call recording to audit in the background",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary", "description": "the recording"},
                            "metadata": {
                                "type": "string",
                                "description": 'one JSON object: {"id", "agent_id", "team", "started_at"}',
                            },
                        },
                    }
                }
            },
        }
    },
)
async def create_call(
    request: Request,
    state: StateDep,
    _who: Uploader,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=ID_LENGTH)
    ] = None,
) -> JSONResponse:
    """``multipart/form-data`` with ``file`` (WAV, MP3, FLAC, M4A/AAC, OGG/Opus) and an optional
    ``metadata`` JSON field (``id``, ``agent_id``, ``team``, ``started_at``, any other fields).
    The conversation id is ``metadata.id``, else the file name without its extension (as ``qa audit``
    names it). 202 with the job; poll ``links.self`` until ``state`` is ``done`` or ``dead``.
    The same recording uploaded again under the same id answers 200 with the first job."""
    settings = state.settings
    key = idempotency_key  # 1..ID_LENGTH characters: the header's declared constraints
    if key is not None and (existing := find_job_by_key(state.engine, key)) is not None:
        return _answer(existing, 200)
    form = await _read_form(request, settings.max_upload_bytes)
    try:
        upload, meta = _upload(form), _metadata(form)
        name, digest = await anyio.to_thread.run_sync(spool_upload, upload, settings)
    finally:
        await form.close()
    extra = meta.model_dump(mode="json", exclude_none=True, exclude={"id"})
    payload = CallPayload(
        spool_file=name,
        filename=Path(upload.filename or "recording").name,
        conversation_id=meta.id or upload_conversation_id(upload.filename),
        content_sha256=digest_letters(digest),
        metadata=extra,
    )
    job, created = _queue(payload, key, state)
    log.info("job %s %s for upload %s", job.id, "queued" if created else "reused", payload.conversation_id)
    return _answer(job, 202 if created else 200)


@router.get(
    "/v1/jobs/{job_id}", response_model=JobPublic, responses=ERRORS, summary="A job's state and result link"
)
def read_job(job_id: Annotated[str, PathParam(max_length=64)], state: StateDep, _who: JobReader) -> JobPublic:
    """``queued``, ``running``, ``retry_wait`` (with the last ``error`` and ``next_run_at``), ``done``
    (with ``links.conversation``) or ``dead`` (with ``error``)."""
    return JobPublic.build(get_job(state.engine, job_id))


@router.get("/v1/jobs", response_model=JobListPublic, responses=ERRORS, summary="Jobs, newest first")
def read_jobs(
    state: StateDep,
    _who: JobReader,
    job_state: Annotated[JobState | None, Query(alias="state")] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JobListPublic:
    """Filter by ``state`` (e.g. ``dead``: the jobs that need an admin), ``kind`` or ``batch_id``."""
    jobs = list_jobs(state.engine, state=job_state, kind=kind, batch_id=batch_id, limit=limit)
    return JobListPublic(items=[JobPublic.build(j) for j in jobs])


@router.post(
    "/v1/jobs/{job_id}/retry",
    response_model=JobPublic,
    responses=ERRORS,
    summary="Run a dead job again (admin)",
)
def retry_job(job_id: Annotated[str, PathParam(max_length=64)], state: StateDep, _who: JobAdmin) -> JobPublic:
    """A ``dead`` job goes back to ``queued`` with its attempts reset; 409 for a job in another state."""
    job = requeue_dead(state.engine, job_id)
    state.queue.submit([job.id])
    return JobPublic.build(job)
