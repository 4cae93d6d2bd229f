"""Chat exports as CSV: one message a row (conversation id, time, speaker, text).

Column names are configurable with :class:`CsvMapping` (``--csv-map id=会话ID,time=时间,...``).
Rows are grouped by conversation id in order of first appearance (rows of different
conversations may be interleaved) and each conversation's rows are sorted by time (stable).
A bad row (unknown speaker, empty text, bad time) makes its conversation an :class:`InputError`
naming file, line, conversation and column; the other conversations are still imported.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.encoding import read_text
from qa_pipeline.sources.fields import (
    Locator,
    check_chars,
    check_turn_count,
    clean_conversation_id,
    clean_id,
    clean_text,
    describe_value,
    echo_safe,
    in_range,
    parse_datetime,
    range_detail,
    resolve_speaker,
    speaker_key,
)
from qa_pipeline.types import Conversation, Speaker, Turn

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

log = logging.getLogger(__name__)

DELIMITERS = (",", "\t", ";")
_DELIMITER_NAMES = {"comma": ",", "tab": "\t", "\\t": "\t", "semicolon": ";", "pipe": "|"}
_SPEC_SPLIT = re.compile(r"[,，]")

RowTime = float | datetime

# Common column names of Chinese customer-service exports, tried when a column is left at its default.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("会话ID", "会话id", "会话编号", "对话ID", "session_id", "conversation", "chat_id"),
    "time": ("时间", "发送时间", "消息时间", "timestamp", "created_at"),
    "speaker": ("角色", "发送方", "发送者", "身份", "role", "sender"),
    "text": ("内容", "消息", "消息内容", "文本", "message", "content"),
    "agent_id": ("坐席工号", "客服工号", "工号", "坐席", "agent"),
    "team": ("班组", "组别", "团队", "group"),
}


class CsvMapping(BaseModel):
    """Which CSV column holds what. ``time``/``agent_id``/``team`` may be ``None`` (no such column).

    ``speaker_map`` maps further speaker values to ``agent``/``customer`` (or an alias);
    ``delimiter`` ``None`` means sniffed from the header (comma, tab or semicolon).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = "conversation_id"
    time: str | None = "time"
    speaker: str = "speaker"
    text: str = "text"
    agent_id: str | None = "agent_id"
    team: str | None = "team"
    speaker_map: dict[str, str] = Field(default_factory=dict)
    delimiter: str | None = None

    @field_validator("speaker_map")
    @classmethod
    def _speakers(cls, value: dict[str, str]) -> dict[str, str]:
        mapped: dict[str, str] = {}
        for raw, target in value.items():
            speaker = resolve_speaker(target)
            if speaker is None:
                raise ValueError(f"speaker_map[{raw!r}] = {target!r}: expected 'agent' or 'customer'")
            mapped[speaker_key(raw)] = speaker
        return mapped

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _DELIMITER_NAMES.get(value.lower(), value)
        if len(value) != 1:
            raise ValueError("delimiter must be one character, or comma/tab/semicolon/pipe")
        return value

    @classmethod
    def parse(cls, spec: str, *, speaker_map: str | None = None) -> CsvMapping:
        """From ``"id=会话ID,time=时间,speaker=角色,text=内容"`` (and ``"坐席=agent,访客=customer"``).

        An empty value (``time=``) means no such column. Bad specs raise ``E.BAD_REQUEST``.
        """
        fields: dict[str, object] = {k: v or None for k, v in _pairs(spec, "--csv-map").items()}
        if speaker_map:
            fields["speaker_map"] = _pairs(speaker_map, "--speaker-map")
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise InputError(E.BAD_REQUEST, f"--csv-map {where}: {err['msg']}", field=where) from None


@dataclass(frozen=True)
class _Columns:
    """Header positions of the mapped columns (``None``: an optional column that is absent)."""

    id: int | None
    time: int | None
    speaker: int | None
    text: int | None
    agent_id: int | None
    team: int | None


@dataclass(frozen=True)
class _Row:
    line: int
    cells: list[str]

    def get(self, index: int | None) -> str:
        if index is None or index >= len(self.cells):
            return ""
        return self.cells[index].strip()


def read_csv_chat(
    path: Path, *, settings: Settings, mapping: CsvMapping | None = None, encoding: str | None = None
) -> Iterator[Conversation | InputError]:
    """Conversations of a CSV chat export. File-level problems (encoding, missing columns,
    malformed CSV) raise :class:`InputError` when iteration starts."""
    decoded = read_text(path, encoding=encoding, max_bytes=settings.max_file_bytes)
    yield from iter_csv_text(decoded.text, settings=settings, mapping=mapping, source=str(path))


def iter_csv_text(
    text: str, *, settings: Settings, mapping: CsvMapping | None = None, source: str | None = None
) -> Iterator[Conversation | InputError]:
    """Conversations of decoded CSV text (an uploaded body or a file)."""
    mapping = mapping or CsvMapping()
    loc = Locator(file=source)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter or sniff_delimiter(text))
    columns = _header(next(reader, None), mapping, loc)
    groups = _group_rows(reader, columns, loc)
    for key, rows in groups.items():
        if not key:
            yield loc.at(line=rows[0].line).error(
                E.MISSING_FIELD, f"{len(rows)} row(s) without a conversation id", field=mapping.id
            )
            continue
        try:
            yield _conversation(key, rows, columns, mapping, settings, loc.at(record=key))
        except InputError as exc:
            log.debug("%s", exc.message)
            yield exc


def sniff_delimiter(text: str) -> str:
    """The most frequent of comma, tab and semicolon in the first non-blank line (comma if none)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _pairs(spec: str, option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in _SPEC_SPLIT.split(spec))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InputError(E.BAD_REQUEST, f"{option}: expected key=value, got {part!r}", field=option)
        pairs[key.strip()] = value.strip()
    return pairs


def _header(cells: list[str] | None, mapping: CsvMapping, loc: Locator) -> _Columns:
    found = [c.strip().removeprefix("\ufeff") for c in cells or []]
    wanted = {"id": mapping.id, "time": mapping.time, "speaker": mapping.speaker, "text": mapping.text}
    optional = {"agent_id": mapping.agent_id, "team": mapping.team}
    index = {role: _find_column(found, role, name) for role, name in (wanted | optional).items()}
    missing = [name for role, name in wanted.items() if name is not None and index[role] is None]
    if missing:
        expected = [n for n in wanted.values() if n is not None]
        also = f"; expected {expected}" if missing != expected else ""
        raise loc.at(line=1).error(E.CSV_COLUMNS, f"missing {missing}{also}; {_found(found)}")
    return _Columns(**index)


def _found(cells: list[str]) -> str:
    """The first row's cells as an error may show them: only those that look like column names,
    so a data row in place of a header (phone numbers, names) is never echoed."""
    names = [c for c in cells if echo_safe(c)]
    if len(names) == len(cells):
        return f"found {names}"
    return f"the first row does not look like a header (column-like cells: {names})"


def _find_column(header: Sequence[str], role: str, name: str | None) -> int | None:
    """The mapped column; for a column left at its default name, also its common aliases."""
    index = _find(header, name)
    if index is not None or name != CsvMapping.model_fields[role].default:
        return index
    return next((i for alias in HEADER_ALIASES[role] if (i := _find(header, alias)) is not None), None)


def _find(header: Sequence[str], name: str | None) -> int | None:
    if name is None:
        return None
    if name in header:
        return header.index(name)
    folded = [h.casefold() for h in header]
    return folded.index(name.casefold()) if name.casefold() in folded else None


def _group_rows(reader: _CsvReader, columns: _Columns, loc: Locator) -> dict[str, list[_Row]]:
    groups: dict[str, list[_Row]] = {}
    line = reader.line_num + 1
    try:
        for cells in reader:
            row = _Row(line=line, cells=cells)
            line = reader.line_num + 1
            if any(c.strip() for c in cells):
                groups.setdefault(row.get(columns.id), []).append(row)
    except csv.Error as exc:
        code = E.TEXT_TOO_LONG if "field larger" in str(exc) else E.BAD_FIELD
        raise loc.at(line=line).error(code, f"malformed CSV: {exc}") from None
    return groups


def _conversation(
    key: str, rows: list[_Row], columns: _Columns, mapping: CsvMapping, settings: Settings, loc: Locator
) -> Conversation:
    check_turn_count(len(rows), settings.max_turns, loc.at(line=rows[0].line))
    times = _row_times(rows, columns, mapping, loc, settings.tz)
    order = sorted(range(len(rows)), key=lambda i: _sort_key(times[i]))
    offsets = _offsets([times[i] for i in order])
    turns = [
        _turn(rows[i], columns, mapping, settings, loc, at) for i, at in zip(order, offsets, strict=True)
    ]
    first = times[order[0]]
    agent_id, team = (_first_value(rows, col, order) for col in (columns.agent_id, columns.team))
    return Conversation(
        id=clean_conversation_id(key, loc=loc.at(line=rows[0].line), field=mapping.id),
        channel="chat",
        agent_id=None if agent_id is None else clean_id(agent_id, loc=loc, field=str(mapping.agent_id)),
        team=None if team is None else clean_id(team, loc=loc, field=str(mapping.team)),
        started_at=first if isinstance(first, datetime) else None,
        turns=turns,
        source=loc.file,
    )


def _turn(
    row: _Row, columns: _Columns, mapping: CsvMapping, settings: Settings, loc: Locator, at: float | None
) -> Turn:
    here = loc.at(line=row.line)
    value = check_chars(row.get(columns.speaker), loc=here, field=mapping.speaker)
    speaker: Speaker | None = resolve_speaker(value, mapping.speaker_map)
    if speaker is None:
        detail = f"{describe_value(value)} is neither agent nor customer"
        raise here.error(E.UNKNOWN_SPEAKER, detail, field=mapping.speaker)
    text = clean_text(row.get(columns.text), limit=settings.max_turn_chars, loc=here, field=mapping.text)
    if not text:
        raise here.error(E.MISSING_FIELD, "empty message text", field=mapping.text)
    return Turn(speaker=speaker, text=text, start=at, end=at)


def _row_times(
    rows: list[_Row], columns: _Columns, mapping: CsvMapping, loc: Locator, tz: tzinfo
) -> list[RowTime | None]:
    """Each row's time; all numbers (seconds) or all date/times within one conversation.

    A date/time without a zone is local time in ``tz`` (``QA_TIMEZONE``)."""
    if columns.time is None:
        return [None] * len(rows)
    times: list[RowTime | None] = []
    for row in rows:
        raw = row.get(columns.time)
        value = _parse_time(raw, tz)
        problem = _time_problem(raw, value, times[0] if times else None)
        if problem:
            raise loc.at(line=row.line).error(E.BAD_FIELD, problem, field=mapping.time)
        times.append(value)
    return times


def _time_problem(raw: str, value: RowTime | None, first: RowTime | None) -> str:
    """Why a row's time is refused ("" when it is fine); never echoes a value with digits."""
    if value is None:
        return f"{describe_value(raw)} is not a date/time or seconds"
    if isinstance(value, datetime) and not in_range(value):
        return f"date/time {range_detail()}"
    if first is not None and type(value) is not type(first):
        return "this conversation mixes seconds and date/times"
    return ""


def _parse_time(value: str, tz: tzinfo) -> RowTime | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return parse_datetime(value, tz)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _sort_key(value: RowTime | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return value


def _offsets(times: list[RowTime | None]) -> list[float | None]:
    """Seconds since the conversation's first message (``None`` without a time column)."""
    if not times or times[0] is None:
        return [None] * len(times)
    origin = _sort_key(times[0])
    return [round(_sort_key(t) - origin, 3) for t in times]


def _first_value(rows: list[_Row], column: int | None, order: list[int]) -> str | None:
    return next((v for i in order if (v := rows[i].get(column))), None)
