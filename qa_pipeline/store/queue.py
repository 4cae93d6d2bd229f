"""The review queue in SQL: flag a saved conversation, list and count flagged ones in a scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, case, select
from sqlalchemy.orm import Session

from qa_pipeline.access.principal import Scope
from qa_pipeline.review.config import ReviewConfig
from qa_pipeline.review.flags import FlagReason, due_at, flag_reasons, uncertainty
from qa_pipeline.store.models import ConversationRow, ResultRow, as_utc, utcnow
from qa_pipeline.store.models_review import QueueRow
from qa_pipeline.store.scope import scope_conditions
from qa_pipeline.types import ConversationResult

QueueState = Literal["open", "in_review", "done"]
QUEUE_STATES: tuple[QueueState, ...] = ("open", "in_review", "done")


class QueueEntry(BaseModel):
    conversation_id: str
    agent_id: str | None
    team: str | None
    channel: str
    started_at: datetime | None
    state: QueueState
    reasons: list[FlagReason]
    due_at: datetime | None
    overdue: bool
    flagged_at: datetime
    uncertainty: float
    quality_index: float | None
    emotion_index: float | None


class QueueFilter(BaseModel):
    team: str | None = None
    agent_id: str | None = None
    reason: str | None = None
    state: QueueState | None = None
    start: datetime | None = None
    end: datetime | None = None


def _merge(old: list[dict[str, Any]], new: list[FlagReason]) -> list[dict[str, Any]]:
    codes = {r["code"] for r in old}
    return old + [r.model_dump() for r in new if r.code not in codes]


def flag_conversation(
    session: Session, conversation_id: str, result: ConversationResult, cfg: ReviewConfig
) -> list[str]:
    """Put a newly scored conversation in the queue when it has a reason (re-audits add reasons to
    an existing entry; its state and deadline stay). Returns the codes of reasons that are new."""
    reasons = flag_reasons(result, cfg)
    if not reasons:
        return []
    row = session.get(QueueRow, conversation_id)
    now = utcnow()
    if row is not None:
        known = {r["code"] for r in row.reasons}
        row.reasons, row.updated_at = _merge(list(row.reasons), reasons), now
        row.codes = codes_text(row.reasons)
        row.due_at = row.due_at or due_at(reasons, now, cfg)
        return [r.code for r in reasons if r.code not in known]
    conv = session.get(ConversationRow, conversation_id)
    period_at = (conv.started_at or conv.imported_at) if conv is not None else now
    session.add(
        QueueRow(
            conversation_id=conversation_id,
            state="open",
            reasons=[r.model_dump() for r in reasons],
            codes=codes_text([r.model_dump() for r in reasons]),
            due_at=due_at(reasons, now, cfg),
            period_at=period_at,
            uncertainty=uncertainty(result),
            flagged_at=now,
            updated_at=now,
        )
    )
    return [r.code for r in reasons]


def codes_text(reasons: list[dict[str, Any]]) -> str:
    """The reason codes as ``,fatal,low_quality,`` for a portable ``LIKE '%,code,%'`` filter."""
    return "," + ",".join(sorted({r["code"] for r in reasons})) + ","


def _conditions(scope: Scope | None, flt: QueueFilter) -> list[ColumnElement[bool]]:
    conds = scope_conditions(scope)
    for column, value in ((ConversationRow.team, flt.team), (ConversationRow.agent_id, flt.agent_id)):
        if value is not None:
            conds.append(column == value)
    if flt.state is not None:
        conds.append(QueueRow.state == flt.state)
    if flt.reason is not None:
        conds.append(QueueRow.codes.contains(f",{flt.reason},", autoescape=True))
    if flt.start is not None:
        conds.append(QueueRow.period_at >= as_utc(flt.start))
    if flt.end is not None:
        conds.append(QueueRow.period_at < as_utc(flt.end))
    return conds


def _base(
    scope: Scope | None, flt: QueueFilter
) -> Select[QueueRow, ConversationRow, float | None, float | None]:
    return (
        select(QueueRow, ConversationRow, ResultRow.quality_index, ResultRow.emotion_index)
        .join(ConversationRow, ConversationRow.id == QueueRow.conversation_id)
        .outerjoin(ResultRow, ResultRow.id == ConversationRow.current_result_id)
        .where(*_conditions(scope, flt))
    )


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(QueueRow.due_at.is_not(None), QueueRow.due_at < now, QueueRow.state != "done")


def queue_page(
    session: Session, scope: Scope | None, flt: QueueFilter, *, limit: int, offset: int
) -> list[QueueEntry]:
    """Overdue first, then open before in review before done, then by deadline and flag time."""
    now = utcnow()
    state_rank = case({"open": 0, "in_review": 1}, value=QueueRow.state, else_=2)
    stmt = (
        _base(scope, flt)
        .order_by(
            case((_overdue(now), 0), else_=1),
            state_rank,
            QueueRow.due_at.is_(None),
            QueueRow.due_at,
            QueueRow.uncertainty.desc(),
            QueueRow.flagged_at.desc(),
            QueueRow.conversation_id,
        )
        .limit(limit)
        .offset(offset)
    )
    return [_entry(q, c, qi, ei, now) for q, c, qi, ei in session.execute(stmt)]


def _entry(q: QueueRow, c: ConversationRow, qi: float | None, ei: float | None, now: datetime) -> QueueEntry:
    overdue = q.due_at is not None and q.due_at < now and q.state != "done"
    return QueueEntry(
        conversation_id=q.conversation_id,
        agent_id=c.agent_id,
        team=c.team,
        channel=c.channel,
        started_at=c.started_at,
        state=q.state,  # type: ignore[arg-type]
        reasons=[FlagReason.model_validate(r) for r in q.reasons],
        due_at=q.due_at,
        overdue=overdue,
        flagged_at=q.flagged_at,
        uncertainty=q.uncertainty,
        quality_index=qi,
        emotion_index=ei,
    )


class QueueCounts(BaseModel):
    total: int
    overdue: int
    by_state: dict[str, int]
    by_reason: dict[str, int]


def queue_counts(session: Session, scope: Scope | None, flt: QueueFilter) -> QueueCounts:
    """Counts of the filtered queue (in scope only: never a count of what the caller cannot see)."""
    now = utcnow()
    base = (
        select(QueueRow.state, QueueRow.reasons, QueueRow.due_at)
        .join(ConversationRow, ConversationRow.id == QueueRow.conversation_id)
        .where(*_conditions(scope, flt))
    )
    by_state: dict[str, int] = dict.fromkeys(QUEUE_STATES, 0)
    by_reason: dict[str, int] = {}
    total = overdue = 0
    for state, reasons, due in session.execute(base):
        total += 1
        by_state[state] = by_state.get(state, 0) + 1
        overdue += int(due is not None and as_utc(due) < now and state != "done")
        for code in {r["code"] for r in reasons}:
            by_reason[code] = by_reason.get(code, 0) + 1
    return QueueCounts(total=total, overdue=overdue, by_state=by_state, by_reason=by_reason)


def set_state(session: Session, conversation_id: str, state: QueueState) -> None:
    row = session.get(QueueRow, conversation_id)
    if row is not None and row.state != state:
        row.state, row.updated_at = state, utcnow()
