"""Field helpers shared by the importers: where an error happened, speakers, texts, times.

Every importer reports bad input through :class:`Locator`, so an error names the file, the
line, the conversation and the field in the same way whatever the input format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from qa_pipeline.errors import E, InputError
from qa_pipeline.types import Channel, Speaker, Turn

SPEAKER_ALIASES: dict[str, Speaker] = {
    **dict.fromkeys(("agent", "客服", "坐席", "员工", "staff", "service"), "agent"),
    **dict.fromkeys(("customer", "客户", "用户", "顾客", "user", "client"), "customer"),
}

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


def clean_text(value: str, *, limit: int, loc: Locator, field: str) -> str:
    """The stripped text; over ``limit`` characters is ``E.TEXT_TOO_LONG``."""
    text = value.strip()
    if len(text) > limit:
        raise loc.error(E.TEXT_TOO_LONG, f"{len(text):,} characters > limit {limit:,}", field=field)
    return text


def check_turn_count(count: int, limit: int, loc: Locator) -> None:
    if count > limit:
        raise loc.error(E.TOO_MANY_TURNS, f"{count:,} turns > limit {limit:,}", field="turns")


def parse_datetime(value: str) -> datetime | None:
    """An ISO-8601 date/time, ``YYYY-MM-DD HH:MM:SS``, ``YYYY/MM/DD ...`` or ``YYYY年MM月DD日 ...``."""
    text = value.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def datetime_from_json(value: Any, *, loc: Locator, field: str) -> datetime | None:
    """A JSON start time: ``None``, a date/time string, or Unix epoch seconds (UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise loc.error(E.BAD_FIELD, f"{value!r} is not an ISO-8601 date/time", field=field)
        return parsed
    if is_number(value):
        return datetime.fromtimestamp(float(value), tz=UTC)
    raise loc.error(E.BAD_FIELD, f"expected a date/time string, got {json_type(value)}", field=field)


def is_number(value: Any) -> bool:
    """A finite int or float (JSON booleans are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def infer_channel(turns: Sequence[Turn]) -> Channel:
    """``chat`` when no turn has a duration (no times, or ``end == start``), else ``call``."""
    timed = any(t.start is not None and t.end is not None and t.end != t.start for t in turns)
    return "call" if timed else "chat"
