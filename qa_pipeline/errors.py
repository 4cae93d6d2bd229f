"""Error catalogue: every error the project raises on purpose has a code, a message and a fix hint.

Raise with ``raise InputError(E.INVALID_JSON, file=..., line=..., detail=...)``. The code's
catalogue entry supplies the title and the hint; ``detail`` says what was seen. The API maps
an error class to an HTTP status (:attr:`QAError.http_status`), never to a 500.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard

from qa_pipeline.text.pii import mask_message


@dataclass(frozen=True)
class ErrorInfo:
    title: str
    hint: str


class E(StrEnum):
    """Error codes. QA1xx input, QA2xx rubric, QA3xx models, QA4xx pipeline, QA5xx storage, QA6xx API."""

    # input files and records
    FILE_NOT_FOUND = "QA101"
    NOT_TEXT = "QA102"
    ENCODING = "QA103"
    INVALID_JSON = "QA104"
    MISSING_FIELD = "QA105"
    BAD_FIELD = "QA106"
    UNKNOWN_SPEAKER = "QA107"
    EMPTY_CONVERSATION = "QA108"
    TEXT_TOO_LONG = "QA109"
    FILE_TOO_LARGE = "QA110"
    CSV_COLUMNS = "QA111"
    UNSUPPORTED_FORMAT = "QA112"
    TOO_MANY_TURNS = "QA113"
    AUDIO_UNREADABLE = "QA114"
    AUDIO_TOO_LONG = "QA115"
    AUDIO_CHANNELS = "QA116"
    DUPLICATE_ID = "QA117"
    # rubric
    RUBRIC_NOT_FOUND = "QA201"
    RUBRIC_YAML = "QA202"
    RUBRIC_INVALID = "QA203"
    # models
    MODEL_NOT_FOUND = "QA301"
    MODEL_INCOMPATIBLE = "QA302"
    # pipeline
    UNKNOWN_STAGE = "QA401"
    STAGE_CONFIG = "QA402"
    STAGE_REQUIREMENT = "QA403"
    STAGE_FAILED = "QA404"
    STAGE_CRASHED = "QA405"
    WORKER_LOST = "QA406"
    # storage
    DATABASE = "QA501"
    NOT_FOUND = "QA502"
    UNMASKED_PII = "QA503"
    DISK_FULL = "QA504"
    # api / cli arguments
    BAD_REQUEST = "QA601"
    LABELS_MISSING = "QA602"
    BUSY = "QA603"
    UNAUTHENTICATED = "QA604"
    FORBIDDEN = "QA605"
    CONFLICT = "QA606"
    APPEAL_CLOSED = "QA607"


CATALOGUE: dict[E, ErrorInfo] = {
    E.FILE_NOT_FOUND: ErrorInfo(
        "file not found", "Check the path; folders are searched for *.jsonl, *.json, *.csv and audio files."
    ),
    E.NOT_TEXT: ErrorInfo(
        "file is not text",
        "Pass a JSON Lines or CSV export; binary files (audio, zip, xlsx) are not chat exports.",
    ),
    E.ENCODING: ErrorInfo(
        "cannot decode file", "Re-export as UTF-8, or pass --encoding (gb18030, utf-16, utf-8-sig...)."
    ),
    E.INVALID_JSON: ErrorInfo("invalid JSON", "Each line must be one complete JSON object (JSON Lines)."),
    E.MISSING_FIELD: ErrorInfo(
        "missing field", "Add the field; see README 'Input formats' for the required ones."
    ),
    E.BAD_FIELD: ErrorInfo("field has the wrong type or value", "Fix the value to the documented type."),
    E.UNKNOWN_SPEAKER: ErrorInfo(
        "unknown speaker",
        "Use 'agent' or 'customer' (aliases such as 客服/坐席/客户/用户 are accepted); "
        "map other CSV values with --speaker-map.",
    ),
    E.EMPTY_CONVERSATION: ErrorInfo(
        "empty conversation", "A conversation needs at least one turn with text."
    ),
    E.TEXT_TOO_LONG: ErrorInfo(
        "text over the size limit", "Split the message, or raise QA_MAX_TURN_CHARS if this is expected."
    ),
    E.FILE_TOO_LARGE: ErrorInfo(
        "input over the size limit", "Split the file, or raise QA_MAX_FILE_BYTES / QA_MAX_BODY_BYTES."
    ),
    E.CSV_COLUMNS: ErrorInfo(
        "CSV columns not found", "Map your columns with --csv-map id=...,time=...,speaker=...,text=... ."
    ),
    E.UNSUPPORTED_FORMAT: ErrorInfo(
        "unsupported input format",
        "Use .jsonl/.json, .csv (chat export) or a recording (.wav .mp3 .flac .m4a .ogg .amr).",
    ),
    E.TOO_MANY_TURNS: ErrorInfo("too many turns", "Split the conversation, or raise QA_MAX_TURNS."),
    E.AUDIO_UNREADABLE: ErrorInfo(
        "cannot decode audio",
        "Use WAV, MP3, FLAC, M4A/AAC or OGG/Opus; re-export the recording if it is damaged.",
    ),
    E.AUDIO_TOO_LONG: ErrorInfo(
        "recording over the length limit", "Split the recording, or raise QA_MAX_AUDIO_S."
    ),
    E.AUDIO_CHANNELS: ErrorInfo(
        "unsupported channel layout", "Send mono or stereo (agent and customer on separate channels)."
    ),
    E.DUPLICATE_ID: ErrorInfo(
        "conversation id given twice in one run",
        "The first one was audited; give each conversation (or recording) its own id.",
    ),
    E.RUBRIC_NOT_FOUND: ErrorInfo(
        "rubric file not found", "Pass --rubric with a YAML file, e.g. rubrics/default.yaml."
    ),
    E.RUBRIC_YAML: ErrorInfo("rubric is not valid YAML", "Fix the YAML syntax at the position shown."),
    E.RUBRIC_INVALID: ErrorInfo(
        "rubric does not validate", "Fix the field named; see rubrics/README.md for the schema."
    ),
    E.MODEL_NOT_FOUND: ErrorInfo(
        "model artefact not found",
        "Train it with `python -m training.train_<model>` (train_sentiment, train_role, ...) "
        "or set QA_MODELS_DIR to the bundled models.",
    ),
    E.MODEL_INCOMPATIBLE: ErrorInfo("model artefact is incompatible", "Retrain the model with this version."),
    E.UNKNOWN_STAGE: ErrorInfo("unknown stage", "Use a registered stage name (see `qa stages`)."),
    E.STAGE_CONFIG: ErrorInfo(
        "invalid stage configuration", "Fix the stage's config keys in the pipeline YAML."
    ),
    E.STAGE_REQUIREMENT: ErrorInfo(
        "stage requirement not met",
        "Put the stage that assigns the missing attribute earlier in the pipeline.",
    ),
    E.STAGE_FAILED: ErrorInfo(
        "stage failed on a conversation", "See the detail; the conversation was skipped."
    ),
    E.STAGE_CRASHED: ErrorInfo(
        "internal error in a stage",
        "A bug, not bad input: the conversation was skipped; rerun with QA_LOG_LEVEL=DEBUG and report it.",
    ),
    E.WORKER_LOST: ErrorInfo(
        "the worker running the job stopped (killed, crashed or cut off) before it finished",
        "The job is retried on its own; if it keeps stopping workers, see the worker's log and rerun it "
        "with POST /v1/jobs/{id}/retry once fixed.",
    ),
    E.DATABASE: ErrorInfo("database error", "Check QA_DATABASE_URL and run `qa db upgrade`."),
    E.DISK_FULL: ErrorInfo(
        "no space left on the storage volume",
        "Free space where QA_AUDIO_DIR and the database live; the job is retried on its own.",
    ),
    E.NOT_FOUND: ErrorInfo("not found", "Check the id."),
    E.UNMASKED_PII: ErrorInfo(
        "refusing to store unmasked personal data",
        "Keep the 'pii' stage in the pipeline (qa_pipeline/config/pipeline.yaml) before storing.",
    ),
    E.BAD_REQUEST: ErrorInfo("bad request", "Fix the request as the detail says."),
    E.BUSY: ErrorInfo("the service is busy", "Retry after the number of seconds in the Retry-After header."),
    E.LABELS_MISSING: ErrorInfo("no labels", "`qa eval` needs conversations with a 'labels' object."),
    E.UNAUTHENTICATED: ErrorInfo(
        "not authenticated",
        "Send 'Authorization: Bearer TOKEN' with a token from `qa users add` or `qa users token NAME`; "
        "a revoked token no longer works.",
    ),
    E.FORBIDDEN: ErrorInfo(
        "not allowed for this role",
        "Ask an admin for a user with a role that may do this (see README 'Roles').",
    ),
    E.CONFLICT: ErrorInfo("conflicts with what is stored", "See the detail; nothing was changed."),
    E.APPEAL_CLOSED: ErrorInfo(
        "appeal window closed",
        "Appeals are accepted for appeal_window_days (rubrics/review.yaml, QA_REVIEW_CONFIG) after the "
        "verdict was given; ask a QA reviewer to re-review instead.",
    ),
}


class QAError(Exception):
    """Base of every deliberate error. Carries a code, where it happened, and how to fix it."""

    http_status = 500

    def __init__(
        self,
        code: E,
        detail: str = "",
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        record: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.hint = hint  # replaces the catalogue's hint where the fix depends on where the error came from
        # an error message must never carry personal data, whatever the raiser put in it
        self.detail = mask_message(detail) if detail else detail
        self.file = file
        self.line = line
        self.field = field
        self.record = mask_message(record) if record else record
        super().__init__(self.message)

    @property
    def info(self) -> ErrorInfo:
        info = CATALOGUE[self.code]
        return info if self.hint is None else ErrorInfo(info.title, self.hint)

    @property
    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file + (f":{self.line}" if self.line else ""))
        elif self.line:
            parts.append(f"line {self.line}")
        if self.record:
            parts.append(f"conversation {self.record!r}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)

    @property
    def message(self) -> str:
        where = f" ({self.location})" if self.location else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"[{self.code.value}] {self.info.title}{where}{detail}. Fix: {self.info.hint}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "error": self.info.title,
            "detail": self.detail,
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "conversation": self.record,
            "hint": self.info.hint,
        }


class InputError(QAError):
    """Bad input: a file, a record or a request body. Maps to HTTP 422 (413 for size)."""

    http_status = 422

    def __init__(self, code: E, detail: str = "", **kw: Any) -> None:
        super().__init__(code, detail, **kw)
        if code is E.FILE_TOO_LARGE:
            self.http_status = 413


class RubricError(QAError):
    http_status = 422


class ModelError(QAError):
    http_status = 503


class PipelineError(QAError):
    http_status = 500


class StageError(QAError):
    """A stage failed on one conversation; the runner reports it and goes on with the batch.

    ``cause`` is the typed error the stage raised (its HTTP status is kept: bad input stays a 4xx);
    without one the stage crashed (a bug): code QA405, HTTP 500, and only the exception's type is
    reported, since its message may quote the conversation's text.
    """

    def __init__(self, stage: str, detail: str, cause: QAError | None = None, **kw: Any) -> None:
        self.stage = stage
        self.cause = cause
        code = E.STAGE_FAILED if cause is not None else E.STAGE_CRASHED
        self.http_status = cause.http_status if cause is not None else 500
        super().__init__(code, f"stage {stage!r}: {detail}", **kw)


class AuthError(QAError):
    """No, a bad or a revoked token (401)."""

    http_status = 401

    def __init__(self, detail: str = "missing or invalid bearer token") -> None:
        super().__init__(E.UNAUTHENTICATED, detail)


class ForbiddenError(QAError):
    """The caller's role may never do this (403). Objects outside the caller's scope are 404 instead."""

    http_status = 403

    def __init__(self, role: str, action: str) -> None:
        super().__init__(E.FORBIDDEN, f"role {role!r} may not {action}")


class ConflictError(QAError):
    http_status = 409

    def __init__(self, detail: str, *, code: E = E.CONFLICT, field: str | None = None) -> None:
        super().__init__(code, detail, field=field)


class StorageError(QAError):
    http_status = 503


class NotFoundError(QAError):
    http_status = 404

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(E.NOT_FOUND, f"{what} {ident!r} does not exist")


def is_disk_full(exc: BaseException) -> TypeGuard[OSError]:
    """Whether ``exc`` is the operating system saying the volume (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_error(exc: OSError) -> StorageError:
    """The typed error for a full volume (``QA504``), retried by the job machinery."""
    return StorageError(E.DISK_FULL, exc.strerror or "no space left on device")
