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

from qa_pipeline.errors import E, InputError
from qa_pipeline.hashing import sha256_file as file_sha256
from qa_pipeline.jobs.payload import JobPayload
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import PACKAGE_DIR, Settings
from qa_pipeline.sources.fields import ID_LENGTH
from qa_pipeline.store.jobs import Job
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
    ) -> None:
        self.settings = settings
        self.source = source
        self.pipeline_factory = pipeline_factory
        self.delete_spooled = delete_spooled
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
        payload = CallPayload.of(job)
        path = spool_dir(self.settings) / payload.spool_file
        if not path.is_file():
            raise InputError(E.FILE_NOT_FOUND, "the spooled recording is gone", file=payload.filename)
        conv = self.source(path, payload, self.settings)
        if conv.audio is not None:  # a retry resumes from the chunks an earlier attempt finished
            checkpoint = str(chunks_dir(self.settings, job.id))
            conv.audio = conv.audio.model_copy(update={"checkpoint": checkpoint})
        return self.pipeline(conv)

    def cleanup(self, job: Job) -> None:
        """Delete a finished job's spooled recording (unless ``delete_spooled`` is off) and its chunks."""
        name = job.payload.get("spool_file")
        if self.delete_spooled and isinstance(name, str) and name:
            (spool_dir(self.settings) / Path(name).name).unlink(missing_ok=True)
        shutil.rmtree(chunks_dir(self.settings, job.id), ignore_errors=True)
