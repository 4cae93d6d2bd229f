"""Human decisions in SQL: reviews, the verdicts in force, appeals (all scoped through conversations)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from qa_pipeline.access.principal import Scope
from qa_pipeline.review.verdicts import Decision
from qa_pipeline.store.models import ConversationRow, utcnow
from qa_pipeline.store.models_review import AppealRow, HumanVerdictRow, ReviewRow
from qa_pipeline.store.scope import scope_conditions

AppealState = Literal["open", "upheld", "rejected"]
IN_CHUNK = 2000


class AppealPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    item: str
    user_name: str
    reason: str
    state: AppealState
    machine_verdict: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None


class AppealFilter(BaseModel):
    state: AppealState | None = None
    team: str | None = None
    agent_id: str | None = None
    conversation_id: str | None = None


def _decision(row: HumanVerdictRow) -> Decision:
    return Decision.model_validate(row, from_attributes=True)


def decisions_for(session: Session, conversation_ids: Iterable[str]) -> dict[str, dict[str, Decision]]:
    """The decision in force per item (the latest row) for each conversation that has any. A verdict
    given on another transcript (the conversation was re-imported with other turns) is not in force."""
    out: dict[str, dict[str, Decision]] = defaultdict(dict)
    ids = list(dict.fromkeys(conversation_ids))
    for i in range(0, len(ids), IN_CHUNK):
        stmt = (
            select(HumanVerdictRow)
            .join(ConversationRow, ConversationRow.id == HumanVerdictRow.conversation_id)
            .where(
                HumanVerdictRow.conversation_id.in_(ids[i : i + IN_CHUNK]),
                HumanVerdictRow.content_hash == ConversationRow.content_hash,
            )
            .order_by(HumanVerdictRow.id)
        )
        for row in session.scalars(stmt):
            out[row.conversation_id][row.item] = _decision(row)
    return dict(out)


def all_decisions(session: Session, scope: Scope | None) -> list[Decision]:
    """Every human verdict in ``scope``, in the order they were made."""
    stmt = (
        select(HumanVerdictRow)
        .join(ConversationRow, ConversationRow.id == HumanVerdictRow.conversation_id)
        .where(*scope_conditions(scope))
        .order_by(HumanVerdictRow.id)
    )
    return [_decision(r) for r in session.scalars(stmt)]


def add_review(
    session: Session, conversation_id: str, result_id: int | None, who: str, role: str, comment: str
) -> ReviewRow:
    row = ReviewRow(
        conversation_id=conversation_id, result_id=result_id, user_name=who, role=role, comment=comment
    )
    session.add(row)
    session.flush()
    return row


def add_verdict(session: Session, d: Decision, rubric_version: str) -> None:
    """Record a human verdict on the conversation's current transcript."""
    conv = session.get(ConversationRow, d.conversation_id)
    session.add(
        HumanVerdictRow(
            conversation_id=d.conversation_id,
            item=d.item,
            verdict=d.verdict,
            machine_verdict=d.machine_verdict,
            machine_rules=d.machine_rules,
            content_hash=conv.content_hash if conv is not None else "",
            rubric_version=rubric_version,
            source=d.source,
            review_id=d.review_id,
            appeal_id=d.appeal_id,
            user_name=d.user_name,
            comment=d.comment,
            created_at=d.created_at,
        )
    )


def add_appeal(
    session: Session, conversation_id: str, item: str, who: str, reason: str, machine_verdict: str
) -> AppealRow:
    row = AppealRow(
        id=uuid.uuid4().hex,
        conversation_id=conversation_id,
        item=item,
        user_name=who,
        reason=reason,
        state="open",
        machine_verdict=machine_verdict,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def find_appeal(session: Session, conversation_id: str, item: str) -> AppealRow | None:
    stmt = select(AppealRow).where(AppealRow.conversation_id == conversation_id, AppealRow.item == item)
    return session.scalars(stmt).first()


def get_appeal(session: Session, appeal_id: str, scope: Scope | None) -> AppealRow | None:
    stmt = (
        select(AppealRow)
        .join(ConversationRow, ConversationRow.id == AppealRow.conversation_id)
        .where(AppealRow.id == appeal_id, *scope_conditions(scope))
    )
    return session.scalars(stmt).first()


def list_appeals(
    session: Session, scope: Scope | None, flt: AppealFilter, *, limit: int, offset: int
) -> list[AppealPublic]:
    conds = scope_conditions(scope)
    for column, value in (
        (AppealRow.state, flt.state),
        (ConversationRow.team, flt.team),
        (ConversationRow.agent_id, flt.agent_id),
        (AppealRow.conversation_id, flt.conversation_id),
    ):
        if value is not None:
            conds.append(column == value)
    stmt = (
        select(AppealRow)
        .join(ConversationRow, ConversationRow.id == AppealRow.conversation_id)
        .where(*conds)
        .order_by(AppealRow.created_at.desc(), AppealRow.id)
        .limit(limit)
        .offset(offset)
    )
    return [AppealPublic.model_validate(r) for r in session.scalars(stmt)]
