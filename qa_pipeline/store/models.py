"""SQLAlchemy 2.x tables: conversations, turns, results and jobs.

Portable types only (SQLite and PostgreSQL). Every timestamp is stored in UTC and comes back
timezone-aware (:class:`UTCDateTime`). Text columns hold *masked* text only: the repository
refuses a conversation whose ``pii_masked`` is false.

``conversations.current_result_id`` points at the result the API serves (the latest audit);
``results`` keeps every audit, one row per (conversation, rubric, pipeline, models, content).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from qa_pipeline.sources.fields import ID_LENGTH as ID_LENGTH  # the importers enforce it


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A naive datetime is taken to be UTC; an aware one is converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always stores UTC and always returns an aware UTC datetime.

    SQLite has no time zones: values are stored as naive UTC and tagged UTC on the way back.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def json_type(*, none_as_null: bool = False) -> JSON:
    """JSON everywhere, JSONB on PostgreSQL (indexable, compact)."""
    return JSON(none_as_null=none_as_null).with_variant(JSONB(none_as_null=none_as_null), "postgresql")


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: json_type()}


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    team: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)  # in force: see store.teams
    own_team: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # what the conversation itself said
    channel: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(index=True)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    current_result_id: Mapped[int | None] = mapped_column(
        ForeignKey("results.id", name="fk_conversations_current_result", ondelete="SET NULL", use_alter=True)
    )

    turns: Mapped[list[TurnRow]] = relationship(
        order_by="TurnRow.idx", cascade="all, delete-orphan", passive_deletes=True
    )


class TurnRow(Base):
    __tablename__ = "turns"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    speaker: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    start: Mapped[float | None] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float)


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint(
            "conversation_id",
            "rubric_version",
            "pipeline_version",
            "models_version",
            "content_hash",
            name="uq_results_audit",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    rubric_version: Mapped[str] = mapped_column(String(ID_LENGTH))
    pipeline_version: Mapped[str] = mapped_column(String(ID_LENGTH))
    models_version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    quality_index: Mapped[float | None] = mapped_column(Float)
    emotion_index: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column()
    facts: Mapped[list[Any] | None] = mapped_column(json_type(none_as_null=True))  # store.kpi_facts
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRow(Base):
    """A unit of background work; the row, not a queue message, is the truth about it.

    ``state``: queued → running (leased to ``lease_owner`` until ``lease_expires_at``, renewed by a
    heartbeat) → done, or retry_wait (until ``next_run_at``) → … → dead after the last attempt.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_state_next_run", "state", "next_run_at"),
        Index("ix_jobs_batch_id", "batch_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(ID_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    batch_id: Mapped[str | None] = mapped_column(String(36))
    record: Mapped[int | None] = mapped_column(Integer)


class BatchRow(Base):
    """A bulk chat import: its file's name and format, and the records refused before any job existed
    (counts per state come from the batch's jobs)."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    records: Mapped[int] = mapped_column(Integer)
    invalid: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
