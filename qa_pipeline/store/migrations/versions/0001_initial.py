"""Initial schema: conversations, turns, results, jobs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 255
FK_CURRENT = "fk_conversations_current_result"


def _json(*, none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null), "postgresql"
    )


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _current_result_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["current_result_id"], ["results.id"], name=FK_CURRENT, ondelete="SET NULL"
    )


def _conversation_fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(
        "conversations.id", name=f"fk_{table}_conversation_id_conversations", ondelete="CASCADE"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # conversations <-> results reference each other: SQLite accepts the forward reference inline,
    # other databases get the constraint once results exists.
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("agent_id", sa.String(ID), nullable=True),
        sa.Column("team", sa.String(ID), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        _ts("started_at", nullable=True),
        _ts("imported_at"),
        _ts("updated_at"),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("current_result_id", sa.Integer(), nullable=True),
        *([_current_result_fk()] if sqlite else []),
    )
    for col in ("agent_id", "team", "started_at", "imported_at"):
        op.create_index(f"ix_conversations_{col}", "conversations", [col])
    op.create_table(
        "turns",
        sa.Column("conversation_id", sa.String(ID), _conversation_fk("turns")),
        sa.Column("idx", sa.Integer()),
        sa.Column("speaker", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start", sa.Float(), nullable=True),
        sa.Column("end", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("conversation_id", "idx"),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id",
            sa.String(ID),
            _conversation_fk("results"),
            nullable=False,
        ),
        sa.Column("rubric_version", sa.String(ID), nullable=False),
        sa.Column("pipeline_version", sa.String(ID), nullable=False),
        sa.Column("models_version", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("quality_index", sa.Float(), nullable=True),
        sa.Column("emotion_index", sa.Float(), nullable=True),
        sa.Column("grade", sa.String(16), nullable=True),
        sa.Column("result", _json(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint(
            "conversation_id",
            "rubric_version",
            "pipeline_version",
            "models_version",
            "content_hash",
            name="uq_results_audit",
        ),
    )
    op.create_index("ix_results_conversation_id", "results", ["conversation_id"])
    if not sqlite:
        op.create_foreign_key(
            FK_CURRENT, "conversations", "results", ["current_result_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("error", _json(none_as_null=True), nullable=True),
        sa.Column("idempotency_key", sa.String(ID), nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_jobs_idempotency_key"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_jobs_state_created", "jobs", ["state", "created_at"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.execute("UPDATE conversations SET current_result_id = NULL")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FK_CURRENT, "conversations", type_="foreignkey")
    op.drop_table("results")
    op.drop_table("turns")
    op.drop_table("conversations")
