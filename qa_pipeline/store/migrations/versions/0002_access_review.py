"""Access and the human loop: teams, agents, users, API tokens, audit log, review queue, reviews,
human verdicts, appeals. The audit log refuses UPDATE and DELETE (triggers).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 255


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str, *, nullable: bool = True, size: int = ID) -> sa.Column[object]:
    return sa.Column(name, sa.String(size), nullable=nullable)


def _conv_fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(
        "conversations.id", name=f"fk_{table}_conversation_id_conversations", ondelete="CASCADE"
    )


def _people() -> None:
    op.create_table(
        "teams",
        _id("id", nullable=False),
        _id("name", nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "agents",
        _id("agent_id", nullable=False),
        _id("team"),
        sa.Column("team_source", sa.String(16), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("agent_id"),
    )
    op.create_index("ix_agents_team", "agents", ["team"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _id("name", nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _id("team"),
        _id("agent_id"),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_api_tokens_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _ts("at"),
        _id("user_name", nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        _id("object_id"),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    for col in ("at", "user_name", "action"):
        op.create_index(f"ix_audit_log_{col}", "audit_log", [col])
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )


def _review() -> None:
    op.create_table(
        "review_queue",
        _id("conversation_id", nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        _id("codes", nullable=False),
        _ts("due_at", nullable=True),
        _ts("period_at"),
        sa.Column("uncertainty", sa.Float(), nullable=False),
        _ts("flagged_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_review_queue_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    op.create_index("ix_review_queue_period_at", "review_queue", ["period_at"])
    op.create_index("ix_review_queue_state_due", "review_queue", ["state", "due_at"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(ID), _conv_fk("reviews"), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=True),
        _id("user_name", nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_reviews_conversation_id", "reviews", ["conversation_id"])
    op.create_table(
        "human_verdicts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(ID), _conv_fk("human_verdicts"), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("machine_verdict", sa.String(16), nullable=False),
        sa.Column("machine_rules", _json(), nullable=False),
        _id("rubric_version", nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        _id("appeal_id", size=36),
        _id("user_name", nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_human_verdicts_conv_item", "human_verdicts", ["conversation_id", "item"])
    op.create_table(
        "appeals",
        _id("id", nullable=False, size=36),
        sa.Column("conversation_id", sa.String(ID), _conv_fk("appeals"), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        _id("user_name", nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("machine_verdict", sa.String(16), nullable=False),
        _ts("created_at"),
        _id("decided_by"),
        _ts("decided_at", nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "item", name="uq_appeals_conversation_item"),
    )
    for col in ("conversation_id", "state"):
        op.create_index(f"ix_appeals_{col}", "appeals", [col])


def _webhooks() -> None:
    op.create_table(
        "webhooks",
        _id("id", nullable=False, size=36),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", _json(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _id("created_by", nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_deliveries",
        _id("id", nullable=False, size=36),
        sa.Column(
            "webhook_id",
            sa.String(36),
            sa.ForeignKey(
                "webhooks.id", name="fk_webhook_deliveries_webhook_id_webhooks", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_deliveries_webhook_id", "webhook_deliveries", ["webhook_id"])
    op.create_index("ix_webhook_deliveries_state_next", "webhook_deliveries", ["state", "next_attempt_at"])


def upgrade() -> None:
    with op.batch_alter_table("results") as batch:  # the KPI pull's figures (store.kpi_facts)
        batch.add_column(
            sa.Column(
                "facts",
                sa.JSON().with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
                nullable=True,
            )
        )
    _people()
    _audit_log()
    _review()
    _webhooks()


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    for table in ("appeals", "human_verdicts", "reviews", "review_queue"):
        op.drop_table(table)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("audit_log")
    for table in ("api_tokens", "users", "agents", "teams"):
        op.drop_table(table)
    with op.batch_alter_table("results") as batch:
        batch.drop_column("facts")
