"""A counter bumped inside every transaction that changes what a KPI figure depends on (a result, a
human verdict, a team): its value identifies the data, so a cached KPI answer is never stale. Row
locking orders concurrent bumps, so the value follows commit order on PostgreSQL too."""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from qa_pipeline.store.models_access import CounterRow

DATA = "data"


def bump(session: Session) -> None:
    session.execute(update(CounterRow).where(CounterRow.name == DATA).values(value=CounterRow.value + 1))


def data_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(CounterRow.value).where(CounterRow.name == DATA)) or 0)
