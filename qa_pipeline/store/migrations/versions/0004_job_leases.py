"""Jobs that survive crashes: leases renewed by a heartbeat, retries with a next run time, ``dead``
instead of ``failed``; batches of chat conversations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json(*, none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null), "postgresql"
    )


def _ts(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_batches_idempotency_key"),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("errors", _json(), nullable=False),
        _ts("created_at", nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(_ts("next_run_at"))
        batch.add_column(sa.Column("lease_owner", sa.String(128), nullable=True))
        batch.add_column(_ts("lease_expires_at"))
        batch.add_column(_ts("heartbeat_at"))
        batch.add_column(_ts("finished_at"))
        batch.add_column(sa.Column("batch_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("record", sa.Integer(), nullable=True))
    op.execute("UPDATE jobs SET next_run_at = created_at")
    op.execute("UPDATE jobs SET state = 'dead', finished_at = updated_at WHERE state = 'failed'")
    op.execute("UPDATE jobs SET finished_at = updated_at WHERE state = 'done'")
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("next_run_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_jobs_state_next_run", "jobs", ["state", "next_run_at"])
    op.create_index("ix_jobs_batch_id", "jobs", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_batch_id", "jobs")
    op.drop_index("ix_jobs_state_next_run", "jobs")
    op.execute("UPDATE jobs SET state = 'failed' WHERE state = 'dead'")
    op.execute("UPDATE jobs SET state = 'queued' WHERE state = 'retry_wait'")
    with op.batch_alter_table("jobs") as batch:
        for name in ("record", "batch_id", "finished_at", "heartbeat_at", "lease_expires_at", "lease_owner"):
            batch.drop_column(name)
        batch.drop_column("next_run_at")
    op.drop_table("batches")
