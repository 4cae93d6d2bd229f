"""/conversations/{id}: transcript, scorecard with evidence, the recording synced to the transcript,
confirm / overturn per item, appeals. Its actions post JSON to /ui/... with the session's CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from api.deps import ClientDep, RepositoryDep, ReviewsDep, StateDep
from api.pages.common import PageSession, local_time, render, require_csrf
from qa_pipeline.access.audit_log import record
from qa_pipeline.access.roles import Action
from qa_pipeline.errors import NotFoundError
from qa_pipeline.recordings import recording_path
from qa_pipeline.report.views import conversation_view, fmt_num
from qa_pipeline.review.service import AppealCreate, ReviewCreate
from qa_pipeline.store.queue import QueueFilter
from qa_pipeline.store.reviews import AppealFilter

router = APIRouter(include_in_schema=False)
APPEAL_ZH = {"open": "待处理", "upheld": "申诉成立", "rejected": "申诉驳回"}
NEIGHBOURS = 500


def _neighbours(reviews: ReviewsDep, web: PageSession, conversation_id: str) -> tuple[str, str]:
    """The previous and next flagged conversation in the caller's queue (j / k)."""
    if not web.principal.can(Action.QUEUE_READ):
        return "", ""
    ids = [e.conversation_id for e in reviews.queue(web.principal, QueueFilter(), limit=NEIGHBOURS).items]
    if conversation_id not in ids:
        return "", ids[0] if ids else ""
    i = ids.index(conversation_id)
    return (ids[i - 1] if i > 0 else ""), (ids[i + 1] if i + 1 < len(ids) else "")


@router.get("/conversations/{conversation_id}")
def conversation_page(
    conversation_id: str,
    request: Request,
    state: StateDep,
    repo: RepositoryDep,
    reviews: ReviewsDep,
    web: PageSession,
    client: ClientDep,
) -> Response:
    who = web.principal
    who.require(Action.CONVERSATION_READ)
    stored = repo.get_conversation(conversation_id, who.scope)
    if stored is None:
        raise NotFoundError("conversation", conversation_id)
    result = reviews.final_result(who.scope, conversation_id)
    appeals = reviews.appeals(who, AppealFilter(conversation_id=conversation_id), limit=100)
    record(
        state.engine, who, "view_transcript", "conversation", conversation_id, client=client, reason="page"
    )
    prev_id, next_id = _neighbours(reviews, web, conversation_id)
    has_audio = who.can(Action.AUDIO_READ) and recording_path(state.settings, conversation_id).is_file()
    return render(
        request,
        "conversation.html",
        web,
        conv=conversation_view(result, "c"),
        started=local_time(result.started_at, state, "%Y-%m-%d %H:%M"),
        appeals=[(a, APPEAL_ZH.get(a.state, a.state)) for a in appeals],
        has_audio=has_audio,
        can_review=who.can(Action.REVIEW_WRITE),
        can_appeal=who.can(Action.APPEAL_CREATE),
        appealed={a.item for a in appeals},
        prev_id=prev_id,
        next_id=next_id,
        fmt_num=fmt_num,
    )


@router.get("/conversations/{conversation_id}/audio")
def conversation_audio(
    conversation_id: str, state: StateDep, repo: RepositoryDep, web: PageSession, client: ClientDep
) -> Response:
    """The PII-silenced recording for the page's player (the session's scope; HTTP Range)."""
    who = web.principal
    who.require(Action.AUDIO_READ)
    path = recording_path(state.settings, conversation_id)
    if repo.get_conversation(conversation_id, who.scope) is None or not path.is_file():
        raise NotFoundError("recording of conversation", conversation_id)
    record(state.engine, who, "play_recording", "conversation", conversation_id, client=client, reason="page")
    return FileResponse(path, media_type="audio/wav", content_disposition_type="inline")


@router.post("/ui/conversations/{conversation_id}/review")
def ui_review(
    conversation_id: str,
    body: ReviewCreate,
    reviews: ReviewsDep,
    web: PageSession,
    client: ClientDep,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> JSONResponse:
    """Confirm or overturn items through the review workflow; answers the new indices."""
    require_csrf(web, csrf)
    result = reviews.review(web.principal, conversation_id, body, client=client)
    items = {k: {"verdict": v.verdict, "machine_verdict": v.machine_verdict} for k, v in result.items.items()}
    return JSONResponse(
        {"quality_index": fmt_num(result.quality_index), "grade": result.grade or "—", "items": items}
    )


@router.post("/ui/conversations/{conversation_id}/appeals")
def ui_appeal(
    conversation_id: str,
    body: AppealCreate,
    reviews: ReviewsDep,
    web: PageSession,
    client: ClientDep,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> JSONResponse:
    require_csrf(web, csrf)
    appeal = reviews.appeal(web.principal, conversation_id, body, client=client)
    return JSONResponse(
        {"id": appeal.id, "state": APPEAL_ZH[appeal.state], "item": appeal.item}, status_code=201
    )
