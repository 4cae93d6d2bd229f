"""Conversations as JSON: JSON Lines (one conversation a line) or a .json object / list of objects.

Record format (``shared/data/conversations_dev``)::

    {"id": "c0001", "channel": "call"|"chat", "agent_id": "A01", "team": "T1",
     "started_at": "2024-05-01T09:30:00+08:00",
     "turns": [{"speaker": "agent"|"customer", "text": "...", "start": 0.5, "end": 5.7}, ...],
     ...any other field (labels, industry, scenario) -> Conversation.metadata}

A bad record becomes an :class:`InputError` naming file, line, conversation and field; the
readers yield it and go on with the next record.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.encoding import read_text
from qa_pipeline.sources.fields import (
    Locator,
    check_chars,
    check_metadata,
    check_turn_count,
    clean_conversation_id,
    clean_id,
    clean_text,
    datetime_from_json,
    describe_value,
    infer_channel,
    is_number,
    json_type,
    resolve_speaker,
)
from qa_pipeline.types import Channel, Conversation, Speaker, Turn, Word

log = logging.getLogger(__name__)

START_TIME_KEYS = ("started_at", "start_time", "date")
_CORE_KEYS = frozenset({"id", "channel", "agent_id", "team", "turns"})

ReadResult = Conversation | InputError


def conversation_from_dict(
    data: Any, *, settings: Settings, source: str | None = None, line: int | None = None
) -> Conversation:
    """Validate one parsed JSON record into a :class:`Conversation`.

    Raises :class:`InputError` (``MISSING_FIELD``, ``BAD_FIELD``, ``UNKNOWN_SPEAKER``,
    ``EMPTY_CONVERSATION``, ``TEXT_TOO_LONG``, ``TOO_MANY_TURNS``) with file/line/record/field set.
    """
    loc = Locator(file=source, line=line)
    if not isinstance(data, dict):
        raise loc.error(E.BAD_FIELD, f"expected a JSON object, got {json_type(data)}")
    ident = _parse_id(data.get("id"), loc)
    loc = loc.at(record=ident)
    turns = _parse_turns(data.get("turns"), settings, loc)
    start_key = next((k for k in START_TIME_KEYS if data.get(k) is not None), None)
    metadata = _metadata(data, used={start_key})
    check_metadata(metadata, loc=loc)
    return Conversation(
        id=ident,
        channel=_parse_channel(data.get("channel"), turns, loc),
        agent_id=_optional_id(data.get("agent_id"), "agent_id", loc),
        team=_optional_id(data.get("team"), "team", loc),
        started_at=_start_time(data, start_key, settings, loc),
        turns=turns,
        metadata=metadata,
        source=source,
    )


def _start_time(data: dict[str, Any], key: str | None, settings: Settings, loc: Locator) -> datetime | None:
    if key is None:
        return None
    return datetime_from_json(data.get(key), loc=loc, field=key, tz=settings.tz)


def read_jsonl(path: Path, *, settings: Settings, encoding: str | None = None) -> Iterator[ReadResult]:
    """Conversations of a JSON Lines file, one per non-blank line; bad lines are yielded as errors.

    File-level problems (missing, too large, not text, undecodable) raise :class:`InputError`
    when iteration starts.
    """
    decoded = read_text(path, encoding=encoding, max_bytes=settings.max_file_bytes)
    yield from iter_jsonl_text(decoded.text, settings=settings, source=str(path))


def read_json(path: Path, *, settings: Settings, encoding: str | None = None) -> Iterator[ReadResult]:
    """Conversations of a .json file holding one object or a list of objects (or JSON Lines)."""
    decoded = read_text(path, encoding=encoding, max_bytes=settings.max_file_bytes)
    yield from iter_json_text(decoded.text, settings=settings, source=str(path))


def iter_jsonl_text(text: str, *, settings: Settings, source: str | None = None) -> Iterator[ReadResult]:
    """Conversations of JSON Lines text (an uploaded body or a decoded file)."""
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield _record_from_line(raw, settings=settings, source=source, line=number)


def iter_json_text(text: str, *, settings: Settings, source: str | None = None) -> Iterator[ReadResult]:
    """Conversations of JSON text: one object, a list of objects, or (fallback) JSON Lines."""
    start = len(text) - len(text.lstrip())
    if text.startswith("[", start):
        yield from _iter_json_list(text, start + 1, settings=settings, source=source)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several objects: treat as JSON Lines
            yield from iter_jsonl_text(text, settings=settings, source=source)
        else:
            yield _json_error(exc, source)
        return
    except (ValueError, RecursionError) as exc:
        yield _unparseable(exc, source, line=text.count("\n", 0, start) + 1)
        return
    yield _record(data, settings=settings, source=source, line=text.count("\n", 0, start) + 1)


def _record_from_line(raw: str, *, settings: Settings, source: str | None, line: int) -> ReadResult:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at column {exc.colno}"
        return InputError(E.INVALID_JSON, detail, file=source, line=line)
    except (ValueError, RecursionError) as exc:
        return _unparseable(exc, source, line=line)
    return _record(data, settings=settings, source=source, line=line)


def _record(data: Any, *, settings: Settings, source: str | None, line: int | None) -> ReadResult:
    try:
        return conversation_from_dict(data, settings=settings, source=source, line=line)
    except InputError as exc:
        log.debug("%s", exc.message)
        return exc


def _iter_json_list(text: str, pos: int, *, settings: Settings, source: str | None) -> Iterator[ReadResult]:
    """Elements of a top-level JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    line, counted = 1, 0
    while True:
        pos = _skip_space(text, pos)
        if text.startswith("]", pos):
            return
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            data, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield _json_error(exc, source)
            return
        except (ValueError, RecursionError) as exc:
            yield _unparseable(exc, source, line=line)
            return
        yield _record(data, settings=settings, source=source, line=line)
        pos = _skip_space(text, pos)
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("]", pos):
            yield _json_error(json.JSONDecodeError("Expecting ',' or ']'", text, pos), source)
            return


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_error(exc: json.JSONDecodeError, source: str | None) -> InputError:
    return InputError(E.INVALID_JSON, f"{exc.msg} at column {exc.colno}", file=source, line=exc.lineno)


def _unparseable(exc: ValueError | RecursionError, source: str | None, *, line: int | None) -> InputError:
    """JSON that is well-formed but that Python refuses: nesting past the recursion limit, or an
    integer of more than ``sys.get_int_max_str_digits()`` digits (a ``ValueError``)."""
    return InputError(E.INVALID_JSON, json_limit_detail(exc), file=source, line=line)


def json_limit_detail(exc: ValueError | RecursionError) -> str:
    """What :func:`json.loads` refused, in words (shared with the API)."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    return f"a number has more than {sys.get_int_max_str_digits():,} digits"


def _parse_id(value: Any, loc: Locator) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise loc.error(E.MISSING_FIELD, "every conversation needs an 'id'", field="id")
    return clean_conversation_id(_id_text(value, "id", loc), loc=loc, field="id")


def _optional_id(value: Any, field: str, loc: Locator) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return clean_id(_id_text(value, field, loc), loc=loc, field=field)


def _id_text(value: Any, field: str, loc: Locator) -> str:
    """A string or integer id as text (JSON numbers of at most 4300 digits always convert)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise loc.error(E.BAD_FIELD, f"expected a string, got {json_type(value)}", field=field)


def _parse_channel(value: Any, turns: list[Turn], loc: Locator) -> Channel:
    if value is None:
        return infer_channel(turns)
    name = value.strip().lower() if isinstance(value, str) else None
    if name == "call":
        return "call"
    if name == "chat":
        return "chat"
    raise loc.error(E.BAD_FIELD, f"expected 'call' or 'chat', got {describe_value(value)}", field="channel")


def _parse_turns(value: Any, settings: Settings, loc: Locator) -> list[Turn]:
    if value is None:
        raise loc.error(E.MISSING_FIELD, "every conversation needs a 'turns' list", field="turns")
    if not isinstance(value, list):
        raise loc.error(E.BAD_FIELD, f"expected a list, got {json_type(value)}", field="turns")
    if not value:
        raise loc.error(E.EMPTY_CONVERSATION, "'turns' is empty", field="turns")
    check_turn_count(len(value), settings.max_turns, loc)
    turns = [_parse_turn(raw, f"turns[{i}]", settings, loc) for i, raw in enumerate(value)]
    if not any(t.text for t in turns):
        raise loc.error(E.EMPTY_CONVERSATION, "every turn's text is empty", field="turns")
    return turns


def _parse_turn(raw: Any, field: str, settings: Settings, loc: Locator) -> Turn:
    if not isinstance(raw, dict):
        raise loc.error(E.BAD_FIELD, f"expected an object, got {json_type(raw)}", field=field)
    speaker = _speaker(raw.get("speaker"), f"{field}.speaker", loc)
    text = _text(raw.get("text"), f"{field}.text", settings, loc)
    start = _time(raw.get("start"), f"{field}.start", loc)
    end = _time(raw.get("end"), f"{field}.end", loc)
    if start is not None and end is not None and end < start:
        raise loc.error(E.BAD_FIELD, "end is before start", field=f"{field}.end")
    return Turn(
        speaker=speaker,
        text=text,
        start=start,
        end=end,
        words=_words(raw.get("words"), f"{field}.words", loc),
    )


def _speaker(value: Any, field: str, loc: Locator) -> Speaker:
    if value is None:
        raise loc.error(E.MISSING_FIELD, "every turn needs a 'speaker'", field=field)
    if not isinstance(value, str):
        raise loc.error(E.BAD_FIELD, f"expected a string, got {json_type(value)}", field=field)
    speaker = resolve_speaker(check_chars(value, loc=loc, field=field))
    if speaker is None:
        detail = f"{describe_value(value)} is neither agent nor customer"
        raise loc.error(E.UNKNOWN_SPEAKER, detail, field=field)
    return speaker


def _text(value: Any, field: str, settings: Settings, loc: Locator) -> str:
    if value is None:
        raise loc.error(E.MISSING_FIELD, "every turn needs a 'text'", field=field)
    if not isinstance(value, str):
        raise loc.error(E.BAD_FIELD, f"expected a string, got {json_type(value)}", field=field)
    return clean_text(value, limit=settings.max_turn_chars, loc=loc, field=field)


def _time(value: Any, field: str, loc: Locator) -> float | None:
    if value is None:
        return None
    if not is_number(value) or value < 0:
        got = "a negative number" if is_number(value) else describe_value(value)
        raise loc.error(E.BAD_FIELD, f"expected seconds (a number >= 0), got {got}", field=field)
    return float(value)


def _words(value: Any, field: str, loc: Locator) -> list[Word]:
    """ASR words: each an object with text, start <= end (seconds >= 0) and 0 <= probability <= 1."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise loc.error(E.BAD_FIELD, f"expected a list, got {json_type(value)}", field=field)
    return [_word(raw, f"{field}[{i}]", loc) for i, raw in enumerate(value)]


def _word(raw: Any, field: str, loc: Locator) -> Word:
    if not isinstance(raw, dict):
        raise loc.error(E.BAD_FIELD, f"expected an object, got {json_type(raw)}", field=field)
    text = raw.get("text")
    if not isinstance(text, str):
        raise loc.error(E.BAD_FIELD, f"expected a string, got {json_type(text)}", field=f"{field}.text")
    start = _time(raw.get("start"), f"{field}.start", loc)
    end = _time(raw.get("end"), f"{field}.end", loc)
    if start is None or end is None:
        missing = f"{field}.start" if start is None else f"{field}.end"
        raise loc.error(E.MISSING_FIELD, "every word needs 'start' and 'end' (seconds)", field=missing)
    if end < start:
        raise loc.error(E.BAD_FIELD, "end is before start", field=f"{field}.end")
    probability = raw.get("probability", 1.0)
    if not is_number(probability) or not 0.0 <= probability <= 1.0:
        raise loc.error(E.BAD_FIELD, "expected a number from 0 to 1", field=f"{field}.probability")
    text = check_chars(text, loc=loc, field=f"{field}.text")
    return Word(text=text, start=start, end=end, probability=float(probability))


def _metadata(data: dict[str, Any], *, used: set[str | None]) -> dict[str, Any]:
    """Every top-level field not read into the Conversation; a ``metadata`` object is merged in."""
    nested = data.get("metadata")
    meta: dict[str, Any] = dict(nested) if isinstance(nested, dict) else {}
    skip = _CORE_KEYS | used | ({"metadata"} if isinstance(nested, dict) else set())
    meta.update((k, v) for k, v in data.items() if k not in skip)
    return meta
