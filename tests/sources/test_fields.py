"""Field helpers: values described without leaking digits, bad characters, ids, date/time ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from qa_pipeline.errors import E, InputError
from qa_pipeline.sources.fields import (
    ID_LENGTH,
    Locator,
    check_chars,
    check_metadata,
    clean_conversation_id,
    clean_id,
    datetime_from_json,
    describe_value,
    in_range,
    is_number,
)
from qa_pipeline.store.models import ConversationRow

LOC = Locator(file="in.jsonl", line=3, record="c1")


def raised(fn: Any, *args: Any, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as err:
        fn(*args, **kwargs)
    assert (err.value.file, err.value.line) == ("in.jsonl", 3)
    return err.value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("机器人", "'机器人'"),
        ("video", "'video'"),
        ("13812345678", "a string of 11 characters"),
        ("用户13812345678", "a string of 13 characters"),
        ("电话１３８", "a string of 5 characters"),  # full-width digits
        ("一个很长很长很长很长很长很长很长很长的说明文字", "a string of 23 characters"),
        ("a\x00b", "a string of 3 characters"),
        (13812345678, "a number"),
        (float("nan"), "a non-finite number"),
        ({"phone": "13812345678"}, "an object"),
    ],
)
def test_describe_value_never_shows_digits(value: Any, shown: str) -> None:
    assert describe_value(value) == shown


@pytest.mark.parametrize(("text", "what"), [("hi\x00there", "NUL"), ("hi\udc00", "U+DC00")])
def test_nul_and_lone_surrogates_are_refused(text: str, what: str) -> None:
    err = raised(check_chars, text, loc=LOC, field="turns[0].text")
    assert (err.code, err.field) == (E.BAD_FIELD, "turns[0].text")
    assert what in err.detail
    assert check_chars("您好😀", loc=LOC, field="x") == "您好😀"  # astral characters are fine


def test_id_length_matches_the_store_column() -> None:
    columns = ConversationRow.__table__.c
    assert {columns[name].type.length for name in ("id", "agent_id", "team")} == {ID_LENGTH}  # type: ignore[attr-defined]
    assert clean_id(" " + "x" * ID_LENGTH + " ", loc=LOC, field="agent_id") == "x" * ID_LENGTH
    err = raised(clean_id, "x" * (ID_LENGTH + 1), loc=LOC, field="agent_id")
    assert (err.code, err.field) == (E.BAD_FIELD, "agent_id")


def test_conversation_ids_may_not_hold_a_slash() -> None:
    err = raised(clean_conversation_id, "2025/03/c1", loc=LOC, field="id")
    assert (err.code, err.field) == (E.BAD_FIELD, "id")
    assert "'-'" in err.detail  # says what to do
    assert clean_id("T1/北区", loc=LOC, field="team") == "T1/北区"  # teams are never in a URL path


@pytest.mark.parametrize(
    "value",
    [1e20, -1e15, 1.7e12, 10**400, "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00", "1899-12-31"],
)
def test_out_of_range_start_times_are_a_typed_error(value: Any) -> None:
    err = raised(datetime_from_json, value, loc=LOC, field="started_at")
    assert (err.code, err.field) == (E.BAD_FIELD, "started_at")
    assert "13812345678" not in err.detail


def test_start_times_in_range() -> None:
    assert datetime_from_json(0, loc=LOC, field="t") == datetime(1970, 1, 1, tzinfo=UTC)
    plus8 = timezone(timedelta(hours=8))
    got = datetime_from_json("2199-12-31T23:00:00+08:00", loc=LOC, field="t")
    assert got == datetime(2199, 12, 31, 23, tzinfo=plus8)  # the given offset is kept
    assert in_range(datetime(1900, 1, 1)) and not in_range(datetime(2200, 1, 1))


def test_time_value_with_digits_is_not_echoed() -> None:
    err = raised(datetime_from_json, "身份证110101199003077578", loc=LOC, field="started_at")
    assert "110101" not in err.detail and "21 characters" in err.detail


def test_huge_ints_are_not_numbers() -> None:
    assert is_number(3) and is_number(2.5) and not is_number(True)
    assert not is_number(10**400) and not is_number(float("inf"))


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_metadata_depth_is_capped_without_recursion() -> None:
    check_metadata({"m": nested(32)}, loc=LOC)
    for depth in (33, 100_000):
        err = raised(check_metadata, {"m": nested(depth)}, loc=LOC)
        assert (err.code, err.field, err.detail) == (E.BAD_FIELD, "metadata", "nested deeper than 32 levels")


@pytest.mark.parametrize(
    "meta",
    [
        {"note": {"k": ["ok", "bad\x00"]}},
        {"bad\udc00key": 1},
        {"x": [{"y\x00": 1}]},
        {"score": float("nan")},
    ],
)
def test_metadata_strings_keys_and_numbers_are_checked(meta: dict[str, Any]) -> None:
    err = raised(check_metadata, meta, loc=LOC)
    assert (err.code, err.field) == (E.BAD_FIELD, "metadata")
