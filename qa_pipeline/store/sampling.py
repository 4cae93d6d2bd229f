"""Uncertainty sampling for the review queue: per agent and period, the conversations the machine
was least sure of, among those nothing else flagged (``qa reviews sample``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qa_pipeline.periods import period_start
from qa_pipeline.review.config import ReviewConfig
from qa_pipeline.review.flags import reason, uncertainty
from qa_pipeline.store.models import ConversationRow, ResultRow, as_utc, utcnow
from qa_pipeline.store.models_review import QueueRow
from qa_pipeline.store.queue import codes_text
from qa_pipeline.types import ConversationResult


def _candidates(
    session: Session, start: datetime | None, end: datetime | None
) -> list[tuple[str, str, datetime, ConversationResult]]:
    when = func.coalesce(ConversationRow.started_at, ConversationRow.imported_at)
    queued = select(QueueRow.conversation_id).where(QueueRow.conversation_id == ConversationRow.id).exists()
    stmt = (
        select(ConversationRow.id, ConversationRow.agent_id, when, ResultRow.result)
        .join(ResultRow, ResultRow.id == ConversationRow.current_result_id)
        .where(ConversationRow.agent_id.is_not(None), ~queued)
    )
    if start is not None:
        stmt = stmt.where(when >= as_utc(start))
    if end is not None:
        stmt = stmt.where(when < as_utc(end))
    return [(c, a, as_utc(w), ConversationResult.model_validate(r)) for c, a, w, r in session.execute(stmt)]


def _already_sampled(session: Session, cfg: ReviewConfig, tz: tzinfo) -> dict[tuple[str, datetime], int]:
    """Conversations queued by an earlier sampling run, per (agent, period): they count to the quota."""
    stmt = (
        select(ConversationRow.agent_id, QueueRow.period_at)
        .join(QueueRow, QueueRow.conversation_id == ConversationRow.id)
        .where(QueueRow.codes.contains(",sampled_uncertain,"), ConversationRow.agent_id.is_not(None))
    )
    counts: dict[tuple[str, datetime], int] = defaultdict(int)
    for agent, when in session.execute(stmt):
        counts[(str(agent), period_start(as_utc(when), cfg.sampling.period, tz))] += 1
    return counts


def sample_uncertain(
    session: Session,
    cfg: ReviewConfig,
    tz: tzinfo,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Queue ``sampling.per_agent`` conversations per agent and period (``sampling.period``, local
    time), least certain first; returns how many were queued. Running it again adds none twice."""
    groups: dict[tuple[str, datetime], list[tuple[float, str, datetime]]] = defaultdict(list)
    for conv_id, agent, when, result in _candidates(session, start, end):
        groups[(agent, period_start(when, cfg.sampling.period, tz))].append(
            (uncertainty(result), conv_id, when)
        )
    done = _already_sampled(session, cfg, tz)
    now, added = utcnow(), 0
    for key, picks in groups.items():
        quota = max(0, cfg.sampling.per_agent - done.get(key, 0))
        for score, conv_id, when in sorted(picks, key=lambda p: (-p[0], p[1]))[:quota]:
            why = reason("sampled_uncertain", f"uncertainty {score:.2f}").model_dump()
            session.add(
                QueueRow(
                    conversation_id=conv_id,
                    state="open",
                    reasons=[why],
                    codes=codes_text([why]),
                    due_at=None,
                    period_at=when,
                    uncertainty=score,
                    flagged_at=now,
                    updated_at=now,
                )
            )
            added += 1
    return added
