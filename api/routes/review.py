"""/v1/review/queue, /v1/conversations/{id}/reviews, appeals: the human loop over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import Caller, ClientDep, ReviewsDep, StateDep
from api.routes.agents import DATE_DOC, ISO_DATE
from api.routes.conversations import ERRORS, MAX_OFFSET
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.periods import check_order, parse_bound
from qa_pipeline.review.service import AppealCreate, AppealDecisionCreate, QueuePage, ReviewCreate
from qa_pipeline.store.queue import QueueFilter, QueueState
from qa_pipeline.store.reviews import AppealFilter, AppealPublic, AppealState
from qa_pipeline.types import ConversationResult

router = APIRouter(tags=["review"])
QueueReader = Annotated[Principal, Depends(Caller(Action.QUEUE_READ))]
Reviewer = Annotated[Principal, Depends(Caller(Action.REVIEW_WRITE))]
Appellant = Annotated[Principal, Depends(Caller(Action.APPEAL_CREATE))]
AppealReader = Annotated[Principal, Depends(Caller(Action.APPEAL_READ))]
Decider = Annotated[Principal, Depends(Caller(Action.APPEAL_DECIDE))]


@router.get("/v1/review/queue", response_model=QueuePage, responses=ERRORS, summary="Flagged conversations")
def read_queue(
    state: StateDep,
    reviews: ReviewsDep,
    who: QueueReader,
    team: str | None = None,
    agent_id: str | None = None,
    reason: str | None = None,
    state_: Annotated[QueueState | None, Query(alias="state")] = None,
    from_: Annotated[str | None, Query(alias="from", description=DATE_DOC, pattern=ISO_DATE)] = None,
    to: Annotated[str | None, Query(description=DATE_DOC + "; exclusive", pattern=ISO_DATE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> QueuePage:
    """The caller's scope only: overdue (past ``due_at``) first, then open, in review, done; counts
    per state and reason and the overdue count cover the filtered queue."""
    tz = state.settings.tz
    start, end = parse_bound(from_, "from", tz), parse_bound(to, "to", tz)
    check_order(start, end)
    flt = QueueFilter(team=team, agent_id=agent_id, reason=reason, state=state_, start=start, end=end)
    return reviews.queue(who, flt, limit=limit, offset=offset)


@router.post(
    "/v1/conversations/{conversation_id}/reviews",
    status_code=201,
    response_model=ConversationResult,
    responses=ERRORS,
    summary="Confirm or overturn item verdicts",
)
def create_review(
    conversation_id: str, body: ReviewCreate, reviews: ReviewsDep, who: Reviewer, client: ClientDep
) -> ConversationResult:
    """All items apply or none; the returned result has the new quality index and grade."""
    return reviews.review(who, conversation_id, body, client=client)


@router.post(
    "/v1/conversations/{conversation_id}/appeals",
    status_code=201,
    response_model=AppealPublic,
    responses=ERRORS,
    summary="Appeal a failed item of your own conversation",
)
def create_appeal(
    conversation_id: str, body: AppealCreate, reviews: ReviewsDep, who: Appellant, client: ClientDep
) -> AppealPublic:
    """409 when the item was appealed already; 422 (QA607) after the appeal window."""
    return reviews.appeal(who, conversation_id, body, client=client)


@router.get("/v1/appeals", response_model=list[AppealPublic], responses=ERRORS, summary="Appeals in scope")
def read_appeals(
    reviews: ReviewsDep,
    who: AppealReader,
    state: AppealState | None = None,
    team: str | None = None,
    agent_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[AppealPublic]:
    flt = AppealFilter(state=state, team=team, agent_id=agent_id)
    return reviews.appeals(who, flt, limit=limit, offset=offset)


@router.post(
    "/v1/appeals/{appeal_id}/decision",
    response_model=AppealPublic,
    responses=ERRORS,
    summary="Uphold or reject an appeal",
)
def decide_appeal(
    appeal_id: str, body: AppealDecisionCreate, reviews: ReviewsDep, who: Decider, client: ClientDep
) -> AppealPublic:
    """``upheld`` makes the item pass (like a review); 409 when the appeal was decided already."""
    return reviews.decide(who, appeal_id, body, client=client)
