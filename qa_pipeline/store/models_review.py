"""Tables of the human loop: the review queue, reviews, human verdicts and appeals.

Human decisions are append-only: a review adds a ``reviews`` row and one ``human_verdicts`` row per
item; an upheld appeal adds a ``human_verdicts`` row too. The latest row per (conversation, item)
is the verdict in force; nothing is overwritten, so every change stays visible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qa_pipeline.store.models import ID_LENGTH, Base, json_type, utcnow

_CONV_FK = "conversations.id"


class QueueRow(Base):
    """A flagged conversation waiting for (or done with) a human; team and agent are the conversation's
    (queries join ``conversations``, so scope has one source)."""

    __tablename__ = "review_queue"
    __table_args__ = (Index("ix_review_queue_state_due", "state", "due_at"),)

    conversation_id: Mapped[str] = mapped_column(ForeignKey(_CONV_FK, ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="open")
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)
    codes: Mapped[str] = mapped_column(String(ID_LENGTH), default=",")  # ",fatal,low_quality," for filters
    due_at: Mapped[datetime | None] = mapped_column()
    period_at: Mapped[datetime] = mapped_column(index=True)
    uncertainty: Mapped[float] = mapped_column(Float, default=0.0)
    flagged_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewRow(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey(_CONV_FK, ondelete="CASCADE"), index=True)
    result_id: Mapped[int | None] = mapped_column(Integer)
    user_name: Mapped[str] = mapped_column(String(ID_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HumanVerdictRow(Base):
    __tablename__ = "human_verdicts"
    __table_args__ = (Index("ix_human_verdicts_conv_item", "conversation_id", "item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey(_CONV_FK, ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    machine_verdict: Mapped[str] = mapped_column(String(16))
    machine_rules: Mapped[list[str]] = mapped_column(json_type(), default=list)  # evidence rule ids
    content_hash: Mapped[str] = mapped_column(String(64), default="")  # the transcript decided on
    rubric_version: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    source: Mapped[str] = mapped_column(String(16))  # review | appeal
    review_id: Mapped[int | None] = mapped_column(Integer)
    appeal_id: Mapped[str | None] = mapped_column(String(36))
    user_name: Mapped[str] = mapped_column(String(ID_LENGTH))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppealRow(Base):
    __tablename__ = "appeals"
    __table_args__ = (UniqueConstraint("conversation_id", "item", name="uq_appeals_conversation_item"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey(_CONV_FK, ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(ID_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    machine_verdict: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_comment: Mapped[str | None] = mapped_column(Text)
