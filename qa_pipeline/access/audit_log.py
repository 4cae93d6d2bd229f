"""The audit log: every view of a transcript, recording or export, and every review, appeal, user
change and token issue, appended with who, what, when, from where and why. Append-only: there is
no function to change an entry, and the database refuses UPDATE and DELETE on the table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from qa_pipeline.access.principal import Principal
from qa_pipeline.store.models_access import AuditLogRow

MAX_REASON = 2000


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    user_name: str
    role: str
    action: str
    object_type: str
    object_id: str | None
    client: str | None
    reason: str | None


class AuditFilter(BaseModel):
    user_name: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100
    offset: int = 0


def entry_row(
    who: Principal,
    action: str,
    object_type: str,
    object_id: str | None,
    *,
    client: str | None = None,
    reason: str | None = None,
) -> AuditLogRow:
    """A new row to add in the caller's transaction (so a change and its entry commit together)."""
    return AuditLogRow(
        user_name=who.name,
        role=who.role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        client=(client or None) and client[:64],
        reason=(reason or None) and reason[:MAX_REASON],
    )


@dataclass(frozen=True)
class Actor:
    """Who makes a change and from where: the change writes its audit entry in its own transaction."""

    who: Principal
    client: str | None = None

    def note(
        self,
        session: Session,
        action: str,
        object_type: str,
        object_id: str | None,
        reason: str | None = None,
    ) -> None:
        session.add(entry_row(self.who, action, object_type, object_id, client=self.client, reason=reason))


def record(
    engine: Engine,
    who: Principal,
    action: str,
    object_type: str,
    object_id: str | None = None,
    *,
    client: str | None = None,
    reason: str | None = None,
) -> None:
    """Append one entry on its own (views, exports)."""
    with Session(engine) as session, session.begin():
        session.add(entry_row(who, action, object_type, object_id, client=client, reason=reason))


def entries(engine: Engine, flt: AuditFilter) -> list[AuditEntry]:
    """Newest first, filtered."""
    stmt = select(AuditLogRow)
    for column, value in (
        (AuditLogRow.user_name, flt.user_name),
        (AuditLogRow.action, flt.action),
        (AuditLogRow.object_type, flt.object_type),
        (AuditLogRow.object_id, flt.object_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if flt.start is not None:
        stmt = stmt.where(AuditLogRow.at >= flt.start)
    if flt.end is not None:
        stmt = stmt.where(AuditLogRow.at < flt.end)
    stmt = stmt.order_by(AuditLogRow.id.desc()).limit(flt.limit).offset(flt.offset)
    with Session(engine) as session:
        return [AuditEntry.model_validate(r) for r in session.scalars(stmt)]
