"""Reporting periods in the contact centre's local time (``QA_TIMEZONE``).

Stored instants are UTC; a day, a week (Monday to Sunday) or a month is cut at local midnight, so a
chat at 07:30 Beijing time belongs to that Beijing day, not to the previous UTC day. A ``from``/``to``
bound given without a zone (``2026-04-08``, ``2026-04-08T09:00``) is a local wall-clock time too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from qa_pipeline.errors import E, InputError
from qa_pipeline.sources.fields import describe_value, in_range, localize, range_detail

PeriodKind = Literal["day", "week", "month"]


def parse_bound(value: str | None, field: str, tz: tzinfo) -> datetime | None:
    """An ISO-8601 date or date-time as an aware datetime; without a zone it is local time in ``tz``.

    ``None`` for an empty value; a bad or out-of-range value is ``E.BAD_REQUEST`` naming ``field``.
    """
    if value is None or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        detail = f"{describe_value(value)} is not an ISO-8601 date or date-time (e.g. 2026-04-08)"
        raise InputError(E.BAD_REQUEST, detail, field=field) from exc
    when = localize(when, tz)
    if not in_range(when):
        raise InputError(
            E.BAD_REQUEST, f"date/time {range_detail()}; leave '{field}' out for no bound", field=field
        )
    return when


def check_order(start: datetime | None, end: datetime | None) -> None:
    """``from`` must come before ``to`` when both are given."""
    if start is not None and end is not None and start >= end:
        raise InputError(E.BAD_REQUEST, "'from' must be before 'to'", field="from")


def period_start(when: datetime, kind: PeriodKind, tz: tzinfo) -> datetime:
    """The start (aware, in ``tz``) of the day, week (Monday) or month that ``when`` falls in locally."""
    local = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).astimezone(tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if kind == "week":
        day -= timedelta(days=day.weekday())
    elif kind == "month":
        day = day.replace(day=1)
    return day.replace(tzinfo=tz)


def next_period(start: datetime, kind: PeriodKind) -> datetime:
    """The start of the period after the one starting at ``start`` (local midnight, DST-safe)."""
    naive = start.replace(tzinfo=None)
    if kind == "day":
        naive += timedelta(days=1)
    elif kind == "week":
        naive += timedelta(days=7)
    else:
        naive = naive.replace(year=naive.year + naive.month // 12, month=naive.month % 12 + 1)
    return naive.replace(tzinfo=start.tzinfo)
