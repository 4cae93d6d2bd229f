"""JSON Lines / JSON conversations: fields, errors with file/line/field, metadata, real dev data."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.jsonl import conversation_from_dict, iter_jsonl_text, read_json, read_jsonl
from qa_pipeline.types import Conversation
from tests.sources.samples import call_record


def jsonl(*records: Any) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def convert(data: Any, settings: Settings) -> Conversation:
    return conversation_from_dict(data, settings=settings, source="in.jsonl", line=7)


def error_of(data: Any, settings: Settings) -> InputError:
    with pytest.raises(InputError) as err:
        convert(data, settings)
    assert err.value.file == "in.jsonl"
    assert err.value.line == 7
    return err.value


def test_record_fields(settings: Settings) -> None:
    conv = convert(call_record(started_at="2024-05-01T09:30:00+08:00"), settings)
    assert (conv.id, conv.channel, conv.agent_id, conv.team) == ("c1", "call", "A01", "T1")
    assert conv.started_at == datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent"]
    assert conv.turns[1].text == "我的话费怎么扣了两次？烦死了。"  # stripped
    assert (conv.turns[1].start, conv.turns[1].end) == (3.5, 7.25)
    assert conv.source == "in.jsonl"


def test_unknown_fields_go_to_metadata(settings: Settings) -> None:
    extra: dict[str, Any] = {
        "labels": {"greeting": "pass"},
        "industry": "telecom",
        "scenario": "查账",
        "x": [1, None],
    }
    conv = convert(call_record(**extra, metadata={"batch": 3}), settings)
    assert conv.metadata == {**extra, "batch": 3}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("start_time", "2024-05-01T01:30:00Z", datetime(2024, 5, 1, 1, 30, tzinfo=UTC)),
        ("date", "2024-05-01", datetime(2024, 5, 1)),
        ("started_at", "2024/05/01 09:30:05", datetime(2024, 5, 1, 9, 30, 5)),
        ("started_at", 0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_start_time_keys(settings: Settings, key: str, value: Any, expected: datetime) -> None:
    conv = convert(call_record(**{key: value}), settings)
    assert conv.started_at == expected
    assert key not in conv.metadata


def test_bad_start_time(settings: Settings) -> None:
    err = error_of(call_record(date="last tuesday"), settings)
    assert (err.code, err.field, err.record) == (E.BAD_FIELD, "date", "c1")


@pytest.mark.parametrize("alias", ["客服", "坐席", "员工", "Staff", " SERVICE ", "Agent"])
def test_agent_aliases(settings: Settings, alias: str) -> None:
    record = call_record()
    record["turns"][0]["speaker"] = alias
    assert convert(record, settings).turns[0].speaker == "agent"


@pytest.mark.parametrize("alias", ["客户", "用户", "顾客", "USER", "client", "Customer"])
def test_customer_aliases(settings: Settings, alias: str) -> None:
    record = call_record()
    record["turns"][0]["speaker"] = alias
    assert convert(record, settings).turns[0].speaker == "customer"


def test_missing_speaker(settings: Settings) -> None:
    record = call_record()
    del record["turns"][1]["speaker"]
    err = error_of(record, settings)
    assert (err.code, err.record, err.field) == (E.MISSING_FIELD, "c1", "turns[1].speaker")
    assert "in.jsonl:7" in err.message


def test_unknown_speaker(settings: Settings) -> None:
    record = call_record()
    record["turns"][2]["speaker"] = "机器人"
    err = error_of(record, settings)
    assert (err.code, err.field) == (E.UNKNOWN_SPEAKER, "turns[2].speaker")
    assert "机器人" in err.detail


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"id": None}, E.MISSING_FIELD, "id"),
        ({"id": "  "}, E.MISSING_FIELD, "id"),
        ({"id": 3.5}, E.BAD_FIELD, "id"),
        ({"turns": None}, E.MISSING_FIELD, "turns"),
        ({"turns": "hello"}, E.BAD_FIELD, "turns"),
        ({"turns": []}, E.EMPTY_CONVERSATION, "turns"),
        ({"channel": "video"}, E.BAD_FIELD, "channel"),
        ({"agent_id": {"id": 1}}, E.BAD_FIELD, "agent_id"),
    ],
)
def test_record_level_errors(settings: Settings, change: dict[str, Any], code: E, field: str) -> None:
    err = error_of({**call_record(), **change}, settings)
    assert (err.code, err.field) == (code, field)


@pytest.mark.parametrize(
    ("turn_change", "code", "field"),
    [
        ({"start": "0.5"}, E.BAD_FIELD, "turns[0].start"),
        ({"start": True}, E.BAD_FIELD, "turns[0].start"),
        ({"end": -1}, E.BAD_FIELD, "turns[0].end"),
        ({"start": 5.0, "end": 4.0}, E.BAD_FIELD, "turns[0].end"),
        ({"text": None}, E.MISSING_FIELD, "turns[0].text"),
        ({"text": 42}, E.BAD_FIELD, "turns[0].text"),
        ({"speaker": 1}, E.BAD_FIELD, "turns[0].speaker"),
        ({"words": [{"text": "您好"}]}, E.BAD_FIELD, "turns[0].words"),
    ],
)
def test_turn_level_errors(settings: Settings, turn_change: dict[str, Any], code: E, field: str) -> None:
    record = call_record()
    record["turns"][0].update(turn_change)
    err = error_of(record, settings)
    assert (err.code, err.field, err.record) == (code, field, "c1")


def test_not_an_object(settings: Settings) -> None:
    assert error_of([1, 2], settings).code is E.BAD_FIELD
    record = call_record()
    record["turns"][1] = "你好"
    assert error_of(record, settings).field == "turns[1]"


def test_all_empty_text_is_an_empty_conversation(settings: Settings) -> None:
    record = call_record()
    for turn in record["turns"]:
        turn["text"] = "   "
    assert error_of(record, settings).code is E.EMPTY_CONVERSATION


def test_some_empty_turns_are_kept_so_indexes_hold(settings: Settings) -> None:
    record = call_record()
    record["turns"][1]["text"] = ""
    assert [t.text == "" for t in convert(record, settings).turns] == [False, True, False]


def test_text_over_the_limit(settings: Settings) -> None:
    record = call_record()
    record["turns"][2]["text"] = "啊" * (settings.max_turn_chars + 1)
    err = error_of(record, settings)
    assert (err.code, err.field) == (E.TEXT_TOO_LONG, "turns[2].text")
    record["turns"][2]["text"] = " " + "啊" * settings.max_turn_chars + " "
    assert len(convert(record, settings).turns[2].text) == settings.max_turn_chars


def test_too_many_turns() -> None:
    record = call_record()
    err = error_of(record, Settings(max_turns=2))
    assert err.code is E.TOO_MANY_TURNS
    assert len(convert(record, Settings(max_turns=3)).turns) == 3


def test_channel_is_inferred_when_omitted(settings: Settings) -> None:
    record = call_record()
    del record["channel"]
    assert convert(record, settings).channel == "call"
    for turn in record["turns"]:
        turn["end"] = turn["start"]
    assert convert(record, settings).channel == "chat"
    for turn in record["turns"]:
        del turn["start"], turn["end"]
    conv = convert(record, settings)
    assert conv.channel == "chat"
    assert conv.turns[0].start is None and conv.turns[0].end is None


def test_numeric_ids_and_words(settings: Settings) -> None:
    record = call_record()
    record.update(id=1001, agent_id=7)
    record["turns"][0]["words"] = [{"text": "您好", "start": 0.5, "end": 0.9, "probability": 0.8}]
    conv = convert(record, settings)
    assert (conv.id, conv.agent_id) == ("1001", "7")
    assert conv.turns[0].words[0].probability == 0.8


def sample_records() -> list[dict[str, Any]]:
    return [call_record("c1"), call_record("c2", industry="bank"), call_record("c3")]


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("gbk", b""),
        ("gb18030", b""),
        ("utf-16-le", codecs.BOM_UTF16_LE),
    ],
)
def test_encodings_give_the_same_conversations(
    tmp_path: Path, settings: Settings, codec: str, bom: bytes
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(bom + jsonl(*sample_records()).encode(codec))
    got = list(read_jsonl(path, settings=settings))
    expected = [conversation_from_dict(r, settings=settings, source=str(path)) for r in sample_records()]
    assert [c.model_dump() for c in got if isinstance(c, Conversation)] == [c.model_dump() for c in expected]
    assert len(got) == 3


def test_invalid_json_line_is_reported_and_the_rest_imports(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "batch.jsonl"
    good = jsonl(call_record("c1"))
    path.write_text(good + "\n" + '{"id": "c2", "turns": [\n' + good.replace("c1", "c3"), encoding="utf-8")
    results = list(read_jsonl(path, settings=settings))
    assert [type(r).__name__ for r in results] == ["Conversation", "InputError", "Conversation"]
    err = results[1]
    assert isinstance(err, InputError)
    assert (err.code, err.file, err.line) == (E.INVALID_JSON, str(path), 3)
    assert f"{path}:3" in err.message
    assert [r.id for r in results if isinstance(r, Conversation)] == ["c1", "c3"]


def test_record_errors_carry_the_line(settings: Settings) -> None:
    bad = call_record("c2")
    bad["turns"][0]["speaker"] = "bot"
    results = list(iter_jsonl_text(jsonl(call_record("c1"), bad), settings=settings, source="up.jsonl"))
    err = results[1]
    assert isinstance(err, InputError)
    assert (err.code, err.line, err.record, err.file) == (E.UNKNOWN_SPEAKER, 2, "c2", "up.jsonl")


def test_crlf_lines(settings: Settings) -> None:
    text = jsonl(call_record("c1"), call_record("c2")).replace("\n", "\r\n")
    assert [c.id for c in iter_jsonl_text(text, settings=settings) if isinstance(c, Conversation)] == [
        "c1",
        "c2",
    ]


def test_json_object_and_list(tmp_path: Path, settings: Settings) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(call_record("c1"), ensure_ascii=False, indent=2), encoding="utf-8")
    assert [c.id for c in read_json(one, settings=settings) if isinstance(c, Conversation)] == ["c1"]

    bad = call_record("c2")
    del bad["turns"][0]["text"]
    many = tmp_path / "many.json"
    many.write_text(json.dumps([call_record("c1"), bad, call_record("c3")], indent=2), encoding="utf-8")
    results = list(read_json(many, settings=settings))
    assert [getattr(r, "id", None) for r in results] == ["c1", None, "c3"]
    err = results[1]
    assert isinstance(err, InputError)
    assert (err.code, err.record, err.field) == (E.MISSING_FIELD, "c2", "turns[0].text")
    lines = many.read_text(encoding="utf-8").split("\n")
    assert err.line is not None
    assert lines[err.line - 1].strip() == "{"  # the line the element starts on
    assert lines[err.line].strip() == '"id": "c2",'


def test_broken_json_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"id": "c1",\n  oops\n]', encoding="utf-8")
    [err] = list(read_json(path, settings=settings))
    assert isinstance(err, InputError)
    assert (err.code, err.line) == (E.INVALID_JSON, 3)


def test_json_file_with_json_lines_content(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "lines.json"
    path.write_text(jsonl(call_record("c1"), call_record("c2")), encoding="utf-8")
    assert [c.id for c in read_json(path, settings=settings) if isinstance(c, Conversation)] == ["c1", "c2"]


def test_real_dev_dialogues(dialogues_path: Path) -> None:
    results = list(read_jsonl(dialogues_path, settings=Settings()))
    errors = [r for r in results if isinstance(r, InputError)]
    assert errors == []
    conversations = [r for r in results if isinstance(r, Conversation)]
    assert len(conversations) == 80
    assert sum(c.channel == "call" for c in conversations) == 48
    assert all({"labels", "industry", "scenario"} <= c.metadata.keys() for c in conversations)
    assert all(c.agent_id and c.team for c in conversations)
    chats = [c for c in conversations if c.channel == "chat"]
    assert all(t.start == t.end for c in chats for t in c.turns)
