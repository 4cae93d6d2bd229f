"""Call-recording jobs: the payload, the spool folder and the handler that audits a recording.

An upload is streamed to the spool folder first; the job payload then names the spooled file
(relative to the spool folder, so the folder can move or be shared between hosts), the original
file name, the caller's metadata and the conversation id. :class:`CallHandler` turns a claimed job
into a scored conversation: ``source`` builds the conversation from the recording (by default
:func:`qa_pipeline.sources.audio.conversation_from_audio`, imported lazily) and ``pipeline`` (by
default ``config/pipeline.audio.yaml``: ``asr`` + the text stages) is built on the first job, in
the worker thread, so a text-only start-up never loads the speech model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy import Engine

from qa_pipeline.errors import E, InputError, NotFoundError
from qa_pipeline.hashing import sha256_file as file_sha256
from qa_pipeline.jobs.chunks import CHUNK_JOB, ChunkPayload, ShareWaiter, chunk_jobs, shares
from qa_pipeline.jobs.payload import JobPayload
from qa_pipeline.jobs.worker import JobHandler
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import PACKAGE_DIR, Settings
from qa_pipeline.sources.fields import ID_LENGTH
from qa_pipeline.store.jobs import Job, get_job
from qa_pipeline.text.pii import identifier_is_personal
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)

CALL_JOB = "call"
AUDIO_PIPELINE = PACKAGE_DIR / "config" / "pipeline.audio.yaml"
SPOOL_FOLDER = "spool"
CHUNKS_FOLDER = "chunks"
_TOKEN_LETTERS = string.ascii_lowercase  # no digits: a stored name is never mistaken for a phone number
_HEX_TO_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


class CallPayload(JobPayload):
    """What a ``call`` job stores: the spooled recording, where it came from, and for whom."""

    spool_file: str = Field(description="name of the spooled recording inside the spool folder")
    filename: str = Field(description="the file name the client sent")
    conversation_id: str
    content_sha256: str | None = Field(
        default=None,
        description="SHA-256 of the recording in letters a-p (payloads are stored masked: hex digit runs "
        "could be taken for phone numbers)",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


ConversationSource = Callable[[Path, CallPayload, Settings], Conversation]
PipelineFactory = Callable[[Settings], Pipeline]


def spool_dir(settings: Settings) -> Path:
    """Where uploads wait for their job: ``spool/`` in the storage folder (``QA_AUDIO_DIR``), which
    every API and worker machine shares."""
    return settings.audio_dir / SPOOL_FOLDER


def chunks_dir(settings: Settings, job_id: str) -> Path:
    """Where a call job keeps its finished transcription chunks (``QA_AUDIO_DIR/chunks/<job id>/``)."""
    return settings.audio_dir / CHUNKS_FOLDER / Path(job_id).name


def new_spool_name(filename: str) -> str:
    """A fresh, unguessable spool file name keeping the upload's suffix (the decoder checks it)."""
    token = "".join(secrets.choice(_TOKEN_LETTERS) for _ in range(24))
    return token + Path(filename).suffix.lower()[:10]


def upload_conversation_id(filename: str | None) -> str:
    """The conversation id of an upload without ``metadata.id``: its file name without extension,
    as ``qa audit`` names a recording (``C:\\calls\\0408-A01.wav`` -> ``0408-A01``).

    A name that is empty, too long or holds personal data (a phone number as file name) is an
    :class:`InputError` asking for ``metadata.id``: nothing is stored under such an id.
    """
    stem = Path((filename or "").replace("\\", "/")).stem.strip()
    stem = "" if stem.startswith(".") else stem  # ".wav": an extension, no name
    hint = 'Send the conversation id in the metadata field, e.g. {"id": "0408-A01"}.'
    if not stem:
        raise InputError(E.MISSING_FIELD, "the upload has no file name", field="metadata.id", hint=hint)
    if len(stem) > ID_LENGTH or identifier_is_personal(stem):
        why = "too long" if len(stem) > ID_LENGTH else "looks like personal data (phone, ID or card number)"
        raise InputError(E.BAD_FIELD, f"the file name {why}", field="file", hint=hint)
    return stem


def digest_letters(digest: bytes) -> str:
    """A digest as 64 letters a-p (hex with 0-9a-f shifted), which PII masking never touches."""
    return digest.hex().translate(_HEX_TO_LETTERS)


def content_key(
    content_sha256: str | None, conversation_id: str, metadata: dict[str, Any] | None = None
) -> str:
    """Default idempotency key of an upload: the recording's content, the id it is stored under and its
    metadata (the same file sent again with corrected metadata is new work, not a duplicate)."""
    meta = json.dumps(metadata or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    blob = f"{content_sha256 or ''}\0{conversation_id}\0{meta}".encode()
    return "content:" + hashlib.sha256(blob).hexdigest()


def sha256_file(path: Path) -> bytes:
    """Raw SHA-256 digest of an uploaded file (the default conversation id derives from it)."""
    return bytes.fromhex(file_sha256(path))


def audio_source(path: Path, payload: CallPayload, settings: Settings) -> Conversation:
    """The default source: the speech-recognition reader (imported on first use)."""
    from qa_pipeline.sources.audio import conversation_from_audio

    return conversation_from_audio(
        path, settings=settings, metadata=dict(payload.metadata), conversation_id=payload.conversation_id
    )


def audio_pipeline(settings: Settings) -> Pipeline:
    """The default pipeline for recordings: ``config/pipeline.audio.yaml``."""
    return Pipeline.from_config(AUDIO_PIPELINE, settings=settings)


class CallHandler:
    """Turns a ``call`` job into a scored conversation; the pipeline is built on the first job.

    Not thread-safe by design: one worker thread owns one handler.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        source: ConversationSource = audio_source,
        pipeline_factory: PipelineFactory = audio_pipeline,
        delete_spooled: bool = True,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.pipeline_factory = pipeline_factory
        self.delete_spooled = delete_spooled
        self.engine = engine  # None: a long recording is not shared with other workers (chunk jobs)
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    @property
    def pipeline(self) -> Pipeline:
        with self._lock:
            if self._pipeline is None:
                log.info("building the call pipeline")
                self._pipeline = self.pipeline_factory(self.settings)
            return self._pipeline

    def __call__(self, job: Job) -> Conversation:
        conv = self._recording(job)
        if conv.audio is not None and self.engine is not None:
            self._share(job, conv, self.engine)
        return self.pipeline(conv)

    def _recording(self, job: Job) -> Conversation:
        """The call job's recording as a conversation, its finished chunks kept in the job's checkpoint
        folder (a retry, or another worker's share, resumes from them)."""
        payload = CallPayload.of(job)
        path = spool_dir(self.settings) / payload.spool_file
        if not path.is_file():
            raise InputError(E.FILE_NOT_FOUND, "the spooled recording is gone", file=payload.filename)
        conv = self.source(path, payload, self.settings)
        if conv.audio is not None:
            checkpoint = str(chunks_dir(self.settings, job.id))
            conv.audio = conv.audio.model_copy(update={"checkpoint": checkpoint})
        return conv

    @property
    def asr_stage(self) -> Any | None:
        """The pipeline's speech stage (anything with ``prefill``), or None."""
        return next((s for s in self.pipeline.stages if hasattr(s, "prefill")), None)

    def _share(self, job: Job, conv: Conversation, engine: Engine) -> None:
        """A long recording: other workers take shares of its chunks (:mod:`qa_pipeline.jobs.chunks`)."""
        parts = shares(conv, self.settings.asr_chunk_s, self.settings.asr_chunk_jobs)
        asr = self.asr_stage
        if parts < 2 or asr is None:
            return
        jobs = chunk_jobs(engine, job, parts)
        log.info("job %s: %d shares of the recording's chunks", job.id, parts)
        asr.prefill(conv, 0, parts)
        owner, lease_s = job.lease_owner or "", self.settings.job_lease_s
        limit_s = self.settings.job_time_limit_s
        ShareWaiter(engine, owner, lease_s, self.prefill_share, limit_s).finish(jobs)

    def prefill_share(self, job: Job) -> int:
        """Run an ``asr_chunk`` job: its share of the call job's chunks into the call job's checkpoint
        folder; nothing when the call job has ended. How many chunks were decoded."""
        share = ChunkPayload.of(job)
        parent = _find_job(self.engine, share.parent)
        if parent is None or parent.state in ("done", "dead"):
            log.info("job %s: call job %s has ended; nothing to do", job.id, share.parent)
            return 0
        conv = self._recording(parent)
        asr = self.asr_stage
        return int(asr.prefill(conv, share.part, share.parts)) if asr is not None else 0

    def cleanup(self, job: Job) -> None:
        """Delete a finished job's spooled recording (unless ``delete_spooled`` is off) and its chunks."""
        if job.kind == CHUNK_JOB:
            return  # its chunks belong to the call job
        name = job.payload.get("spool_file")
        if self.delete_spooled and isinstance(name, str) and name:
            (spool_dir(self.settings) / Path(name).name).unlink(missing_ok=True)
        shutil.rmtree(chunks_dir(self.settings, job.id), ignore_errors=True)


def _find_job(engine: Engine | None, job_id: str) -> Job | None:
    if engine is None:
        return None
    try:
        return get_job(engine, job_id)
    except NotFoundError:
        return None


class ChunkHandler:
    """Runs ``asr_chunk`` jobs with the call handler's pipeline (one speech model per worker)."""

    def __init__(self, calls: CallHandler) -> None:
        self.calls = calls

    def __call__(self, job: Job) -> None:
        decoded = self.calls.prefill_share(job)
        log.info("job %s: %d chunks decoded", job.id, decoded)

    def cleanup(self, job: Job) -> None:
        """Nothing: the chunks belong to the call job, which removes them when it is done."""


def call_handlers(settings: Settings, engine: Engine) -> dict[str, JobHandler]:
    """One worker's handlers for recordings: ``call`` jobs and the ``asr_chunk`` shares of long ones."""
    calls = CallHandler(settings, engine=engine)
    return {CALL_JOB: calls, CHUNK_JOB: ChunkHandler(calls)}
