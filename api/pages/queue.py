"""/review: the flagged conversations of the caller's scope, overdue first, with filters and counts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ReviewsDep, StateDep
from api.pages.common import PageSession, local_time, render
from api.state import AppState
from qa_pipeline.periods import check_order, parse_bound
from qa_pipeline.report.views import fmt_num
from qa_pipeline.review.flags import REASON_ZH
from qa_pipeline.store.queue import QUEUE_STATES, QueueEntry, QueueFilter, QueueState

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
STATE_ZH = {"open": "待复核", "in_review": "复核中", "done": "已完成"}


def _row(e: QueueEntry, state: AppState) -> dict[str, object]:
    return {
        "id": e.conversation_id,
        "agent_id": e.agent_id or "—",
        "team": e.team or "—",
        "started": local_time(e.started_at, state),
        "reasons": [(r.code, r.text) for r in e.reasons],
        "state": e.state,
        "state_zh": STATE_ZH[e.state],
        "due": local_time(e.due_at, state) if e.due_at else "",
        "overdue": e.overdue,
        "quality": fmt_num(e.quality_index),
        "emotion": fmt_num(e.emotion_index),
    }


@router.get("/review")
def queue_page(
    request: Request,
    state: StateDep,
    reviews: ReviewsDep,
    web: PageSession,
    team: Annotated[str | None, Query(max_length=255)] = None,
    agent_id: Annotated[str | None, Query(max_length=255)] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    state_: Annotated[str | None, Query(alias="state", max_length=16)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    tz = state.settings.tz
    start, end = parse_bound(from_, "from", tz), parse_bound(to, "to", tz)
    check_order(start, end)
    chosen_state: QueueState | None = state_ if state_ in QUEUE_STATES else None
    flt = QueueFilter(
        team=team or None,
        agent_id=agent_id or None,
        reason=reason or None,
        state=chosen_state,
        start=start,
        end=end,
    )
    found = reviews.queue(web.principal, flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    last = max(1, -(-found.counts.total // PAGE_SIZE))
    if page > last:  # past the end (a bookmark after the queue shrank): show the last page
        page = last
        found = reviews.queue(web.principal, flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    params = {
        k: v
        for k, v in {
            "team": team,
            "agent_id": agent_id,
            "reason": reason,
            "state": state_,
            "from": from_,
            "to": to,
        }.items()
        if v
    }
    pages = max(1, -(-found.counts.total // PAGE_SIZE))
    return render(
        request,
        "queue.html",
        web,
        rows=[_row(e, state) for e in found.items],
        counts=found.counts,
        reasons=REASON_ZH,
        states=STATE_ZH,
        filters=params,
        page=page,
        pages=pages,
        prev_url=f"/review?{urlencode({**params, 'page': page - 1})}" if page > 1 else "",
        next_url=f"/review?{urlencode({**params, 'page': page + 1})}" if page < pages else "",
        filtered=bool(params),
    )
