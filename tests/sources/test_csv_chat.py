"""CSV chat exports: column mapping, grouping, time offsets, bad rows, GBK files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from qa_pipeline.errors import E, InputError
from qa_pipeline.settings import Settings
from qa_pipeline.sources.csv_chat import CsvMapping, iter_csv_text, read_csv_chat, sniff_delimiter
from qa_pipeline.types import Conversation

BEIJING = ZoneInfo("Asia/Shanghai")

CHINESE_MAP = "id=会话ID,time=时间,speaker=角色,text=内容,agent_id=坐席工号"

# Rows of two conversations interleaved, and s1's rows not in time order.
CHINESE_CSV = """会话ID,时间,角色,内容,坐席工号,渠道
s1,2024-05-01 09:00:05,客户,你好，我的快递三天没动了,,app
s2,2024-05-01 10:00:00,用户,"发票怎么开？
要专票",,web
s1,2024-05-01 09:00:00,客服,您好，很高兴为您服务,A07,app
s2,2024-05-01 10:01:30,坐席,"您好，专票需要提供税号",A09,web
s1,2024-05-01 09:01:05,坐席,抱歉让您久等，我查一下,A07,app
"""


def read(text: str, settings: Settings, mapping: CsvMapping | None = None) -> list[Conversation | InputError]:
    return list(iter_csv_text(text, settings=settings, mapping=mapping, source="chat.csv"))


def conversations(results: list[Conversation | InputError]) -> dict[str, Conversation]:
    return {r.id: r for r in results if isinstance(r, Conversation)}


def errors(results: list[Conversation | InputError]) -> list[InputError]:
    return [r for r in results if isinstance(r, InputError)]


def test_default_columns(settings: Settings) -> None:
    text = "conversation_id,time,speaker,text\nx1,0,agent,您好\nx1,12.5,customer,你好\n"
    [conv] = read(text, settings)
    assert isinstance(conv, Conversation)
    assert (conv.id, conv.channel, conv.started_at, conv.source) == ("x1", "chat", None, "chat.csv")
    assert [(t.speaker, t.start, t.end) for t in conv.turns] == [
        ("agent", 0.0, 0.0),
        ("customer", 12.5, 12.5),
    ]


def test_chinese_mapping_interleaved_rows(settings: Settings) -> None:
    results = read(CHINESE_CSV, settings, CsvMapping.parse(CHINESE_MAP))
    assert [getattr(r, "id", None) for r in results] == ["s1", "s2"]  # order of first appearance
    s1, s2 = conversations(results).values()
    assert [t.text for t in s1.turns] == [
        "您好，很高兴为您服务",
        "你好，我的快递三天没动了",
        "抱歉让您久等，我查一下",
    ]
    assert [t.speaker for t in s1.turns] == ["agent", "customer", "agent"]
    assert [t.start for t in s1.turns] == [0.0, 5.0, 65.0]
    assert all(t.end == t.start for t in s1.turns)
    assert s1.started_at == datetime(2024, 5, 1, 9, 0, 0, tzinfo=BEIJING)
    assert (s1.agent_id, s2.agent_id) == ("A07", "A09")
    assert s2.turns[0].text == "发票怎么开？\n要专票"
    assert [t.start for t in s2.turns] == [0.0, 90.0]


def test_gbk_export_with_semicolons(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "导出.csv"
    path.write_bytes(CHINESE_CSV.replace(",", ";").encode("gbk"))
    results = list(read_csv_chat(path, settings=settings, mapping=CsvMapping.parse(CHINESE_MAP)))
    assert errors(results) == []
    got = conversations(results)
    expected = conversations(read(CHINESE_CSV, settings, CsvMapping.parse(CHINESE_MAP)))
    assert [c.turns for c in got.values()] == [c.turns for c in expected.values()]
    assert got["s1"].source == str(path)


def test_tab_delimited_utf8_bom(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "tabs.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "conversation_id\ttime\tspeaker\ttext\nq\t3\t客户\t在吗\n".encode())
    [conv] = list(read_csv_chat(path, settings=settings))
    assert isinstance(conv, Conversation)
    assert conv.turns[0].speaker == "customer"


def test_missing_columns_lists_found_and_expected(settings: Settings) -> None:
    with pytest.raises(InputError) as err:
        read("会话ID,时间,角色,消息\ns1,0,客服,您好\n", settings, CsvMapping.parse(CHINESE_MAP))
    assert err.value.code is E.CSV_COLUMNS
    assert err.value.file == "chat.csv"
    assert "missing ['内容']" in err.value.detail
    assert "'消息'" in err.value.detail  # found
    assert "'会话ID'" in err.value.detail  # expected


def test_empty_file_has_no_columns(settings: Settings) -> None:
    with pytest.raises(InputError) as err:
        read("", settings)
    assert err.value.code is E.CSV_COLUMNS


@pytest.mark.parametrize(
    ("bad_row", "code", "field"),
    [
        ("b,5,机器人,你好", E.UNKNOWN_SPEAKER, "speaker"),
        ("b,5,agent,   ", E.MISSING_FIELD, "text"),
        ("b,yesterday,agent,你好", E.BAD_FIELD, "time"),
        ("b,,agent,你好", E.BAD_FIELD, "time"),
        ("b,2024-05-01 10:00:00,agent,你好", E.BAD_FIELD, "time"),  # mixes seconds and dates
    ],
)
def test_bad_row_skips_only_its_conversation(settings: Settings, bad_row: str, code: E, field: str) -> None:
    text = (
        "conversation_id,time,speaker,text\na,0,agent,您好\nb,0,customer,在吗\n" + bad_row + "\nc,1,user,hi\n"
    )
    results = read(text, settings)
    assert [getattr(r, "id", None) for r in results] == ["a", None, "c"]
    [err] = errors(results)
    assert (err.code, err.file, err.line, err.record, err.field) == (code, "chat.csv", 4, "b", field)


def test_line_numbers_count_multiline_cells(settings: Settings) -> None:
    text = 'conversation_id,time,speaker,text\na,0,agent,"一\n二\n三"\na,1,bot,hi\n'
    [err] = read(text, settings)
    assert isinstance(err, InputError)
    assert err.line == 5


def test_text_too_long_and_too_many_rows() -> None:
    header = "conversation_id,time,speaker,text\n"
    [err] = read(header + "a,0,agent," + "长" * 11 + "\n", Settings(max_turn_chars=10))
    assert isinstance(err, InputError)
    assert (err.code, err.line) == (E.TEXT_TOO_LONG, 2)
    [err] = read(header + "a,0,agent,x\na,1,agent,y\na,2,agent,z\n", Settings(max_turns=2))
    assert isinstance(err, InputError)
    assert err.code is E.TOO_MANY_TURNS


def test_rows_without_id_are_reported_once(settings: Settings) -> None:
    text = "conversation_id,time,speaker,text\n,0,agent,x\na,0,agent,y\n ,1,agent,z\n"
    results = read(text, settings)
    err = errors(results)[0]
    assert (err.code, err.line, err.field) == (E.MISSING_FIELD, 2, "conversation_id")
    assert "2 row(s)" in err.detail
    assert list(conversations(results)) == ["a"]


def test_blank_rows_are_skipped_and_ties_keep_file_order(settings: Settings) -> None:
    text = "conversation_id,time,speaker,text\na,5,agent,一\n\n,,,\na,5,customer,二\na,1,customer,零\n"
    [conv] = read(text, settings)
    assert isinstance(conv, Conversation)
    assert [t.text for t in conv.turns] == ["零", "一", "二"]


def test_no_time_column_keeps_file_order(settings: Settings) -> None:
    mapping = CsvMapping.parse("id=会话, time=, speaker=角色, text=内容")
    [conv] = read("会话,角色,内容\nz,客户,在吗\nz,客服,在的\n", settings, mapping)
    assert isinstance(conv, Conversation)
    assert [(t.text, t.start) for t in conv.turns] == [("在吗", None), ("在的", None)]


def test_speaker_map(settings: Settings) -> None:
    mapping = CsvMapping.parse("id=id,time=t,speaker=who,text=msg", speaker_map="访客=customer, 小二=客服")
    [conv] = read("id,t,who,msg\na,0,访客,在吗\na,1,小二,亲，在的\n", settings, mapping)
    assert isinstance(conv, Conversation)
    assert [t.speaker for t in conv.turns] == ["customer", "agent"]


def test_mapping_parse_errors() -> None:
    for spec in ("id", "colour=red", "id=a,delimiter=;;"):
        with pytest.raises(InputError) as err:
            CsvMapping.parse(spec)
        assert err.value.code is E.BAD_REQUEST
    with pytest.raises(InputError):
        CsvMapping.parse("id=a", speaker_map="访客=robot")
    with pytest.raises(ValidationError):
        CsvMapping(speaker_map={"x": "nobody"})


def test_mapping_parse_values() -> None:
    mapping = CsvMapping.parse("id=会话ID，text=内容,delimiter=tab,team=")
    assert (mapping.id, mapping.text, mapping.delimiter, mapping.team) == ("会话ID", "内容", "\t", None)
    assert mapping.speaker == "speaker"


def test_sniff_delimiter() -> None:
    assert sniff_delimiter("a;b;c\n1;2;3") == ";"
    assert sniff_delimiter("\na\tb\n") == "\t"
    assert sniff_delimiter("a,b\n") == ","
    assert sniff_delimiter("single\n") == ","


def test_iso_times_with_zone_and_slashes(settings: Settings) -> None:
    text = (
        "conversation_id,time,speaker,text\n"
        "a,2024-05-01T01:00:30Z,customer,二\n"
        "a,2024-05-01T09:00:00+08:00,agent,一\n"
    )
    [conv] = read(text, settings)
    assert isinstance(conv, Conversation)
    assert [(t.text, t.start) for t in conv.turns] == [("一", 0.0), ("二", 30.0)]
    [conv] = read("conversation_id,time,speaker,text\nb,2024/05/01 09:00:00,agent,x\n", settings)
    assert isinstance(conv, Conversation)
    assert conv.started_at == datetime(2024, 5, 1, 9, tzinfo=BEIJING)  # no zone: QA_TIMEZONE


def test_common_chinese_headers_need_no_mapping(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "export.csv"
    rows = (
        "会话ID,时间,角色,内容,坐席工号\n"
        "S1,2026-03-01 10:00:00,客户,你好,\nS1,2026-03-01 10:00:30,客服,您好,K9\n"
    )
    path.write_bytes(rows.encode("gb18030"))
    (conv,) = list(read_csv_chat(path, settings=settings))
    assert isinstance(conv, Conversation)
    assert (conv.id, conv.agent_id, [t.speaker for t in conv.turns]) == ("S1", "K9", ["customer", "agent"])
    assert conv.turns[1].start == 30.0


def test_explicit_mapping_is_not_second_guessed_by_aliases(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "export.csv"
    path.write_text("会话ID,时间,角色,内容\nS1,2026-03-01 10:00:00,客户,你好\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing"):
        list(read_csv_chat(path, settings=settings, mapping=CsvMapping.parse("id=编号")))


PHONE = "13812345678"


def test_a_data_row_in_place_of_the_header_is_not_echoed(settings: Settings) -> None:
    with pytest.raises(InputError) as err:
        read(f"c1,2025-01-01 10:00:00,customer,我的手机{PHONE} 身份证110101199003077571\n", settings)
    assert err.value.code is E.CSV_COLUMNS
    assert "does not look like a header" in err.value.detail
    assert (
        PHONE not in err.value.detail and "110101" not in err.value.detail and "2025" not in err.value.detail
    )


@pytest.mark.parametrize(
    ("row", "code", "field"),
    [
        (f"c1,2025-01-01 10:00:00,用户{PHONE},你好", E.UNKNOWN_SPEAKER, "speaker"),
        (f"c1,{PHONE}号,agent,hi", E.BAD_FIELD, "time"),
        ("c1,0001-01-01T00:00:00+01:00,agent,hi", E.BAD_FIELD, "time"),
        ("c1,9999-12-31T23:59:59-14:00,agent,hi", E.BAD_FIELD, "time"),
        ("c1,0,agent,hi\x00there", E.BAD_FIELD, "text"),
        ("c1,0,agent\udc00,hi", E.BAD_FIELD, "speaker"),
        ("2025/01/c1,0,agent,hi", E.BAD_FIELD, "conversation_id"),
        ("c1\x00,0,agent,hi", E.BAD_FIELD, "conversation_id"),
    ],
)
def test_bad_cells_are_typed_errors_that_never_echo_digits(
    settings: Settings, row: str, code: E, field: str
) -> None:
    [err] = read("conversation_id,time,speaker,text\n" + row + "\n", settings)
    assert isinstance(err, InputError)
    assert (err.code, err.field, err.line) == (code, field, 2)
    assert PHONE not in err.detail


def test_overlong_agent_id_and_team_are_refused(settings: Settings) -> None:
    header = "conversation_id,time,speaker,text,agent_id,team\n"
    [ok] = read(header + f"c1,0,agent,hi,{'A' * 255},{'T' * 255}\n", settings)
    assert isinstance(ok, Conversation) and ok.agent_id == "A" * 255
    for row, field in [
        (f"c1,0,agent,hi,{'A' * 256},T1", "agent_id"),
        (f"c1,0,agent,hi,A1,{'T' * 256}", "team"),
    ]:
        [err] = read(header + row + "\n", settings)
        assert isinstance(err, InputError) and (err.code, err.field) == (E.BAD_FIELD, field)
