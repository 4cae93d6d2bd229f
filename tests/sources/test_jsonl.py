"""JSON Lines / JSON conversations: fields, errors with file/line/field, metadata, real dev data."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.jsonl import conversation_from_dict, iter_jsonl_text, read_json, read_jsonl
from qa_pipeline.types import Conversation
from tests.sources.samples import call_record

BEIJING = ZoneInfo("Asia/Shanghai")  # QA_TIMEZONE's default: times without a zone are read there


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
        ("date", "2024-05-01", datetime(2024, 5, 1, tzinfo=BEIJING)),
        ("started_at", "2024/05/01 09:30:05", datetime(2024, 5, 1, 9, 30, 5, tzinfo=BEIJING)),
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
        ({"words": [{"text": "您好"}]}, E.MISSING_FIELD, "turns[0].words[0].start"),
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


# -- inputs that used to crash the importer or the store --------------------------------------


@pytest.mark.parametrize(
    "value",
    [1e20, -1e15, 10**400, "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00"],
    ids=["1e20", "-1e15", "10**400", "year-10000-in-utc", "year-0-in-utc"],
)
def test_out_of_range_started_at_is_a_bad_field(settings: Settings, value: Any) -> None:
    err = error_of(call_record(started_at=value), settings)
    assert (err.code, err.field, err.record) == (E.BAD_FIELD, "started_at", "c1")


def test_a_huge_integer_time_is_a_bad_field(settings: Settings) -> None:
    record = call_record()
    record["turns"][0]["start"] = 10**400
    err = error_of(record, settings)
    assert (err.code, err.field) == (E.BAD_FIELD, "turns[0].start")


def test_integers_over_the_digit_limit_are_invalid_json(tmp_path: Path, settings: Settings) -> None:
    big = '{"id": "c9", "x": ' + "9" * 5000 + ', "turns": [{"speaker": "agent", "text": "hi"}]}'
    path = tmp_path / "big.jsonl"
    path.write_text(jsonl(call_record("c1")) + big + "\n", encoding="utf-8")
    ok, err = list(read_jsonl(path, settings=settings))
    assert isinstance(ok, Conversation) and isinstance(err, InputError)
    assert (err.code, err.line) == (E.INVALID_JSON, 2)
    assert "4,300 digits" in err.detail
    for name, text in [("one.json", big), ("list.json", f"[\n{json.dumps(call_record('c1'))},\n{big}]")]:
        (tmp_path / name).write_text(text, encoding="utf-8")
        *_, last = read_json(tmp_path / name, settings=settings)
        assert isinstance(last, InputError) and last.code is E.INVALID_JSON


def test_deeply_nested_json_is_invalid_json_not_a_crash(tmp_path: Path, settings: Settings) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.jsonl"
    path.write_text(jsonl(call_record("c1")) + deep + "\n", encoding="utf-8")
    results = list(read_jsonl(path, settings=settings))
    assert isinstance(results[1], InputError) and (results[1].code, results[1].line) == (E.INVALID_JSON, 2)
    for name, text in [("deep.json", deep), ("deep_obj.json", '{"id": "x", "m": ' + deep + "}")]:
        (tmp_path / name).write_text(text, encoding="utf-8")
        [err] = list(read_json(tmp_path / name, settings=settings))
        assert isinstance(err, InputError) and err.code is E.INVALID_JSON


def _nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_metadata_nesting_is_capped(settings: Settings) -> None:
    assert convert(call_record(m=_nest(32)), settings).metadata["m"] == _nest(32)
    err = error_of(call_record(m=_nest(300)), settings)
    assert (err.code, err.field, err.detail) == (E.BAD_FIELD, "metadata", "nested deeper than 32 levels")


@pytest.mark.parametrize("bad", ["\x00", "\udc00", "\ud800"])
@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("id",), "id"),
        (("agent_id",), "agent_id"),
        (("team",), "team"),
        (("turns", 1, "text"), "turns[1].text"),
        (("turns", 1, "speaker"), "turns[1].speaker"),
        (("note",), "metadata"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_in_every_text_field(
    settings: Settings, bad: str, path: tuple[Any, ...], field: str
) -> None:
    record = call_record(note="备注")
    *parents, key = path
    target: Any = record
    for part in parents:
        target = target[part]
    target[key] = f"{target[key]}{bad}x"
    err = error_of(record, settings)
    assert (err.code, err.field) == (E.BAD_FIELD, field)


@pytest.mark.parametrize(
    ("key", "limit_ok"),
    [("id", "x" * 255), ("agent_id", "工" * 255), ("team", "T" * 255)],
    ids=["id", "agent_id", "team"],
)
def test_ids_longer_than_the_column_are_refused(settings: Settings, key: str, limit_ok: str) -> None:
    assert getattr(convert(call_record(**{key: limit_ok}), settings), key) == limit_ok
    err = error_of(call_record(**{key: limit_ok + "x"}), settings)
    assert (err.code, err.field) == (E.BAD_FIELD, key)


def test_a_slash_in_a_conversation_id_is_refused_with_a_hint(settings: Settings) -> None:
    err = error_of(call_record("2025/03/01-7"), settings)
    assert (err.code, err.field) == (E.BAD_FIELD, "id")
    assert "use '-'" in err.detail


@pytest.mark.parametrize(
    ("word", "field"),
    [
        ({"text": "您好", "start": 1.0, "end": 0.5}, "turns[0].words[0].end"),
        ({"text": "您好", "start": 0.0, "end": 0.5, "probability": 7}, "turns[0].words[0].probability"),
        ({"text": "您好", "start": 0.0, "end": 0.5, "probability": -0.1}, "turns[0].words[0].probability"),
        (
            {"text": "您好", "start": 0.0, "end": 0.5, "probability": float("nan")},
            "turns[0].words[0].probability",
        ),
        ({"text": "您好", "start": -1.0, "end": 0.5}, "turns[0].words[0].start"),
        ({"text": 5, "start": 0.0, "end": 0.5}, "turns[0].words[0].text"),
        ({"text": "您\x00好", "start": 0.0, "end": 0.5}, "turns[0].words[0].text"),
        ("您好", "turns[0].words[0]"),
    ],
)
def test_asr_words_are_validated(settings: Settings, word: Any, field: str) -> None:
    record = call_record()
    record["turns"][0]["words"] = [word]
    err = error_of(record, settings)
    assert (err.code, err.field) == (E.BAD_FIELD, field)


PHONE = "13812345678"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"turns": [{"speaker": PHONE, "text": "hi"}]}, "turns[0].speaker"),
        ({"turns": [{"speaker": f"用户{PHONE}", "text": "hi"}]}, "turns[0].speaker"),
        ({"channel": f"我的手机{PHONE}"}, "channel"),
        ({"started_at": f"身份证{PHONE}"}, "started_at"),
        ({"turns": [{"speaker": "agent", "text": "hi", "start": PHONE}]}, "turns[0].start"),
        ({"turns": [{"speaker": "agent", "text": "hi", "start": int(PHONE), "end": 1}]}, "turns[0].end"),
        (
            {
                "turns": [
                    {"speaker": "agent", "text": "hi", "words": [{"text": "x", "start": PHONE, "end": 1}]}
                ]
            },
            "turns[0].words[0].start",
        ),
    ],
)
def test_error_details_never_echo_personal_digits(
    settings: Settings, change: dict[str, Any], field: str
) -> None:
    err = error_of({**call_record(), **change}, settings)
    assert err.field == field
    assert PHONE not in err.message and "5678" not in err.message
