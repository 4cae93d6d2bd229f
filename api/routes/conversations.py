"""/v1/conversations: submit one conversation for audit, read it back, list them."""

from __future__ import annotations

import codecs
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from api.deps import Caller, ClientDep, RepositoryDep, ReviewsDep, StateDep
from api.errors import BodyEncodingError, MediaTypeError
from api.schemas import (
    ConversationCreate,
    ConversationCreatedPublic,
    ConversationListPublic,
    ConversationPublic,
    ErrorPublic,
)
from qa_pipeline.access.audit_log import record
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.errors import E, InputError, NotFoundError
from qa_pipeline.heap import release_memory
from qa_pipeline.recordings import recording_path
from qa_pipeline.sources.encoding import decode_bytes
from qa_pipeline.sources.jsonl import conversation_from_dict, json_limit_detail
from qa_pipeline.store.reviews import AppealFilter

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorPublic} for s in (401, 403, 404, 409, 413, 415, 422, 503)
}
Reader = Annotated[Principal, Depends(Caller(Action.CONVERSATION_READ))]
Submitter = Annotated[Principal, Depends(Caller(Action.CONVERSATION_CREATE))]
Listener = Annotated[Principal, Depends(Caller(Action.AUDIO_READ))]
MAX_OFFSET = 2**31 - 1
LARGE_BODY_BYTES = 1_000_000  # a body this large gets its memory handed back after the audit
DECLARE_CHARSET = "declare the body's charset in Content-Type, e.g. application/json; charset=gbk"


def inline_refs(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """A JSON schema with its local ``#/$defs/...`` references inlined (OpenAPI resolves refs from
    the document root, so a schema pasted into ``openapi_extra`` must not keep them)."""
    if defs is None and isinstance(schema, dict):
        defs = schema.get("$defs", {})
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/") and defs is not None:
            return inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inline_refs(v, defs) for v in schema]
    return schema


BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_refs(ConversationCreate.model_json_schema())}},
    }
}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InputError(E.FILE_TOO_LARGE, f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputError(E.FILE_TOO_LARGE, f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def check_json_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise MediaTypeError(content_type)


def declared_charset(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if any (``"gbk"`` for ``...; charset=GBK``)."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None


def decode_body(body: bytes, charset: str | None) -> str:
    """The body as text: UTF-8 (a BOM is dropped) unless Content-Type declares another charset."""
    if charset is None:
        try:
            return body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            detail = f"body is not UTF-8 ({exc.reason} at byte {exc.start}); {DECLARE_CHARSET}"
            raise BodyEncodingError(detail) from exc
    try:
        codecs.lookup(charset)
    except LookupError:
        raise BodyEncodingError(
            f"unknown charset {charset[:40]!r} in Content-Type", http_status=415
        ) from None
    try:
        return decode_bytes(body, "request body", encoding=charset).text
    except InputError as exc:  # not valid in that charset, or binary
        raise BodyEncodingError(f"body: {exc.detail}; {DECLARE_CHARSET}") from exc


BODY_HINT = (
    'Send one conversation as a single JSON object, e.g. {"id": "c1", "agent_id": "A01", "turns": '
    '[{"speaker": "agent", "text": "您好"}]} (for many conversations use qa audit with a .jsonl file).'
)


def parse_json(body: bytes, charset: str | None = None) -> Any:
    """The body as JSON; an error's hint speaks of this endpoint's one JSON object, not of JSON Lines."""
    text = decode_body(body, charset)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise InputError(E.INVALID_JSON, detail, hint=BODY_HINT) from exc
    except (ValueError, RecursionError) as exc:  # nested too deeply, or an integer of > 4300 digits
        raise InputError(E.INVALID_JSON, json_limit_detail(exc), hint=BODY_HINT) from exc


@router.post(
    "",
    status_code=201,
    response_model=ConversationCreatedPublic,
    responses={200: {"model": ConversationCreatedPublic, "description": "unchanged"}, **ERRORS},
    openapi_extra=BODY_DOC,
    summary="Audit one conversation and store the result",
)
async def create_conversation(request: Request, state: StateDep, _who: Submitter) -> JSONResponse:
    """Score the conversation with the pipeline and store it; 201 when stored, 200 when unchanged.

    The body is UTF-8 unless Content-Type declares a charset (``application/json; charset=gbk``).
    Audits run one at a time; 503 (with ``Retry-After``) when too many are already waiting.
    """
    check_json_content_type(request)
    charset = declared_charset(request.headers.get("content-type", ""))
    raw = await read_body(request, state.settings.max_body_bytes)
    data = parse_json(raw, charset)
    if not isinstance(data, dict):
        raise InputError(E.BAD_FIELD, "the body must be one JSON object", hint=BODY_HINT)
    conv = conversation_from_dict(data, settings=state.settings, source="api")
    scored, outcome = await state.submit(conv)
    body = ConversationCreatedPublic(id=scored.id, status=outcome.status, result=scored.to_result())
    log.info("conversation %s %s (result %d)", scored.id, outcome.status, outcome.result_id)
    status = 200 if outcome.status == "unchanged" else 201
    # after a large audit, once the answer is sent, the freed memory goes back to the system
    after = BackgroundTask(release_memory) if len(raw) >= LARGE_BODY_BYTES else None
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"), background=after)


@router.get("", response_model=ConversationListPublic, responses=ERRORS, summary="List conversations")
def list_conversations(
    repo: RepositoryDep,
    who: Reader,
    agent_id: str | None = None,
    team: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ConversationListPublic:
    """Newest first, with each conversation's current machine indices and grade; only the caller's
    scope is listed and counted."""
    items = repo.list_summaries(agent_id, team, limit=limit, offset=offset, scope=who.scope)
    total = repo.count_conversations(agent_id=agent_id, team=team, scope=who.scope)
    return ConversationListPublic(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/{conversation_id}",
    response_model=ConversationPublic,
    responses=ERRORS,
    summary="A conversation: masked transcript, result and evidence",
)
def get_conversation(
    conversation_id: str,
    repo: RepositoryDep,
    reviews: ReviewsDep,
    who: Reader,
    client: ClientDep,
    reason: Annotated[str | None, Query(max_length=500, description="why you open it (audit log)")] = None,
) -> ConversationPublic:
    """The transcript and the result with human verdicts in force (``verdict``), the machine's beside
    them (``machine_verdict``) and each decision (``review``); the view is written to the audit log."""
    stored = repo.get_conversation(conversation_id, who.scope)
    if stored is None:
        raise NotFoundError("conversation", conversation_id)
    result = reviews.final_result(who.scope, conversation_id)
    appeals = reviews.appeals(who, AppealFilter(conversation_id=conversation_id), limit=100)
    record(
        reviews.engine, who, "view_transcript", "conversation", conversation_id, client=client, reason=reason
    )
    return ConversationPublic.build(stored, result, appeals)


@router.get(
    "/{conversation_id}/audio",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "the recording, spoken PII silenced"},
        206: {"content": {"audio/wav": {}}, "description": "the requested byte range"},
        416: {"description": "the range is outside the file"},
        **ERRORS,
    },
    summary="Play a call's recording (PII silenced; HTTP Range for seeking)",
)
def get_audio(
    conversation_id: str,
    repo: RepositoryDep,
    state: StateDep,
    who: Listener,
    client: ClientDep,
    reason: Annotated[str | None, Query(max_length=500, description="why you play it (audit log)")] = None,
) -> FileResponse:
    """The stored copy with spoken personal data silenced, scoped like the transcript. Supports
    ``Range: bytes=…`` (206), so a browser ``<audio>`` element can seek."""
    if repo.get_conversation(conversation_id, who.scope) is None:
        raise NotFoundError("conversation", conversation_id)
    path = recording_path(state.settings, conversation_id)
    if not path.is_file():
        raise NotFoundError("recording of conversation", conversation_id)
    record(state.engine, who, "play_recording", "conversation", conversation_id, client=client, reason=reason)
    return FileResponse(path, media_type="audio/wav", filename=None, content_disposition_type="inline")
