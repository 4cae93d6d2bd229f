"""Field helpers shared by the importers: where an error happened, speakers, texts, ids, times.

Every importer reports bad input through :class:`Locator`, so an error names the file, the
line, the conversation and the field in the same way whatever the input format. Error details
never echo a raw value that could hold personal digits: see :func:`describe_value`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from qa_pipeline.errors import E, InputError
from qa_pipeline.types import Channel, Speaker, Turn

SPEAKER_ALIASES: dict[str, Speaker] = {
    **dict.fromkeys(("agent", "客服", "坐席", "员工", "staff", "service"), "agent"),
    **dict.fromkeys(("customer", "客户", "用户", "顾客", "user", "client"), "customer"),
}

ID_LENGTH = 255
"""Most characters in a conversation id, agent id or team (the store's column length)."""

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Date/times are accepted in ``[EARLIEST, LATEST)`` (UTC): anything else is a unit or typing mistake."""

MAX_METADATA_DEPTH = 32
"""Most lists/objects nested inside one metadata value."""

_ECHO_CHARS = 20
_BAD_CHARS = re.compile(r"[\x00\ud800-\udfff]")

_DATETIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
)


@dataclass(frozen=True)
class Locator:
    """Where a value came from: file, line (1-based) and conversation id."""

    file: str | None = None
    line: int | None = None
    record: str | None = None

    def at(self, *, line: int | None = None, record: str | None = None) -> Locator:
        """A copy pointing at another line and/or conversation (``None`` keeps the current one)."""
        return replace(self, line=line or self.line, record=record or self.record)

    def error(self, code: E, detail: str = "", *, field: str | None = None) -> InputError:
        return InputError(code, detail, file=self.file, line=self.line, record=self.record, field=field)


def speaker_key(value: str) -> str:
    """The form speaker values are compared in: stripped and case-folded."""
    return value.strip().casefold()


def resolve_speaker(value: str, extra: Mapping[str, str] | None = None) -> Speaker | None:
    """``agent``/``customer`` for a speaker value or alias (case-insensitive), else ``None``.

    ``extra`` maps further values (already in :func:`speaker_key` form) to a speaker or an alias.
    """
    key = speaker_key(value)
    if extra and key in extra:
        key = speaker_key(extra[key])
    return SPEAKER_ALIASES.get(key)


def describe_value(value: Any) -> str:
    """A value as error messages may show it: never a digit of what was sent.

    A short string without digits (``'机器人'``, ``'video'``) is quoted; any other string is
    described by its length; other values by their JSON type.
    """
    if isinstance(value, str):
        return repr(value) if echo_safe(value) else f"a string of {len(value)} characters"
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    return json_type(value)


def echo_safe(value: str) -> bool:
    """Short, printable and without any digit (ASCII, full-width or Chinese): safe to quote."""
    return len(value) <= _ECHO_CHARS and value.isprintable() and not any(c.isnumeric() for c in value)


def check_chars(value: str, *, loc: Locator, field: str) -> str:
    """``value`` unchanged; a NUL character or a lone UTF-16 surrogate is ``E.BAD_FIELD``."""
    bad = _BAD_CHARS.search(value)
    if bad is not None:
        what = "a NUL character" if bad.group() == "\x00" else f"a lone surrogate U+{ord(bad.group()):04X}"
        raise loc.error(E.BAD_FIELD, f"contains {what} at character {bad.start() + 1}", field=field)
    return value


def clean_text(value: str, *, limit: int, loc: Locator, field: str) -> str:
    """The stripped text; over ``limit`` characters is ``E.TEXT_TOO_LONG``, NUL/surrogates ``E.BAD_FIELD``."""
    text = check_chars(value, loc=loc, field=field).strip()
    if len(text) > limit:
        raise loc.error(E.TEXT_TOO_LONG, f"{len(text):,} characters > limit {limit:,}", field=field)
    return text


def clean_id(value: str, *, loc: Locator, field: str) -> str:
    """A stripped id (agent, team) of at most :data:`ID_LENGTH` characters, without NUL/surrogates."""
    ident = check_chars(value, loc=loc, field=field).strip()
    if len(ident) > ID_LENGTH:
        raise loc.error(E.BAD_FIELD, f"{len(ident):,} characters > limit {ID_LENGTH}", field=field)
    return ident


def clean_conversation_id(value: str, *, loc: Locator, field: str) -> str:
    """:func:`clean_id` that also refuses '/', which no ``GET /v1/conversations/{id}`` can address."""
    ident = clean_id(value, loc=loc, field=field)
    if "/" in ident:
        detail = "'/' is not allowed in a conversation id (the API could not fetch it); use '-' instead"
        raise loc.error(E.BAD_FIELD, detail, field=field)
    return ident


def check_metadata(meta: Mapping[str, Any], *, loc: Locator, max_depth: int = MAX_METADATA_DEPTH) -> None:
    """Metadata nested at most ``max_depth`` containers deep, whose keys and strings hold no
    NUL/lone surrogate and whose numbers are finite (``E.BAD_FIELD``, field ``metadata``).

    Walks iteratively, so no nesting depth can exhaust the Python stack.
    """
    stack: list[tuple[Any, int]] = [(v, 1) for v in meta.values()] + [(k, 0) for k in meta]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise loc.error(E.BAD_FIELD, f"nested deeper than {max_depth} levels", field="metadata")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)
        elif isinstance(value, str):
            check_chars(value, loc=loc, field="metadata")
        elif isinstance(value, float) and not math.isfinite(value):
            raise loc.error(E.BAD_FIELD, "a number is NaN or infinite", field="metadata")


def check_turn_count(count: int, limit: int, loc: Locator) -> None:
    if count > limit:
        raise loc.error(E.TOO_MANY_TURNS, f"{count:,} turns > limit {limit:,}", field="turns")


def localize(when: datetime, tz: tzinfo | None) -> datetime:
    """``when`` with ``tz`` attached when it has no zone (a wall-clock time there); aware values keep
    their own zone. ``tz`` ``None`` leaves a naive value naive."""
    return when.replace(tzinfo=tz) if when.tzinfo is None and tz is not None else when


def parse_datetime(value: str, tz: tzinfo | None = None) -> datetime | None:
    """An ISO-8601 date/time, ``YYYY-MM-DD HH:MM:SS``, ``YYYY/MM/DD ...`` or ``YYYY年MM月DD日 ...``.

    A time without a zone is read in ``tz`` (the contact centre's ``QA_TIMEZONE``) when given.
    ``None`` when the text is none of these; the range is checked by :func:`check_datetime`.
    """
    text = value.strip()
    try:
        return localize(datetime.fromisoformat(text), tz)
    except ValueError:
        pass
    for fmt in _DATETIME_FORMATS:
        try:
            return localize(datetime.strptime(text, fmt), tz)
        except ValueError:
            continue
    return None


def in_range(when: datetime) -> bool:
    """Whether ``when`` (naive: UTC) lies in ``[EARLIEST, LATEST)`` once converted to UTC."""
    try:
        utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is in the year 10000 in UTC
        return False
    return EARLIEST <= utc < LATEST


def range_detail() -> str:
    last = (LATEST - timedelta(days=1)).date()
    return f"outside the supported range {EARLIEST.date()} .. {last} (UTC)"


def check_datetime(when: datetime, *, loc: Locator, field: str) -> datetime:
    """``when`` unchanged; outside ``[EARLIEST, LATEST)`` in UTC is ``E.BAD_FIELD``."""
    if not in_range(when):
        raise loc.error(E.BAD_FIELD, f"date/time {range_detail()}", field=field)
    return when


def datetime_from_json(value: Any, *, loc: Locator, field: str, tz: tzinfo | None = None) -> datetime | None:
    """A JSON start time: ``None``, a date/time string (without a zone: local time in ``tz``), or
    Unix epoch seconds, range-checked."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value, tz)
        if parsed is None:
            detail = f"{describe_value(value)} is not an ISO-8601 date/time"
            raise loc.error(E.BAD_FIELD, detail, field=field)
        return check_datetime(parsed, loc=loc, field=field)
    if is_number(value):
        return _from_epoch(float(value), loc=loc, field=field)
    raise loc.error(E.BAD_FIELD, f"expected a date/time string, got {describe_value(value)}", field=field)


def _from_epoch(seconds: float, *, loc: Locator, field: str) -> datetime:
    try:
        when = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        when = None
    if when is None or not in_range(when):
        detail = f"epoch seconds {range_detail()}; milliseconds are not accepted"
        raise loc.error(E.BAD_FIELD, detail, field=field)
    return when


def is_number(value: Any) -> bool:
    """A finite int or float that fits a float (JSON booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def infer_channel(turns: Sequence[Turn]) -> Channel:
    """``chat`` when no turn has a duration (no times, or ``end == start``), else ``call``."""
    timed = any(t.start is not None and t.end is not None and t.end != t.start for t in turns)
    return "call" if timed else "chat"
