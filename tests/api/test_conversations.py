"""POST/GET /v1/conversations: audit and store, read back, idempotency, every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa_pipeline.pipeline import Pipeline
from tests.api.helpers import JSON, MakeClient, post

PHONE = "13812345678"


def _record(conv_id: str = "api-1", **extra: Any) -> dict[str, Any]:
    return {
        "id": conv_id,
        "channel": "chat",
        "agent_id": "A01",
        "team": "T1",
        "turns": [
            {"speaker": "agent", "text": "您好，请问有什么可以帮您？", "start": 0, "end": 0},
            {"speaker": "customer", "text": f"我的手机号{PHONE}收不到验证码。", "start": 20, "end": 20},
            {"speaker": "agent", "text": "好的，已为您重新发送，再见。", "start": 40, "end": 40},
        ],
        **extra,
    }


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["hint"]
    return dict(body["error"])


def test_post_a_dev_conversation_and_get_it_back(
    client: TestClient, dev_records: list[dict[str, Any]]
) -> None:
    record = dev_records[0]
    created = post(client, record)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == record["id"] and body["status"] == "created"
    assert len(body["result"]["turns"]) == len(record["turns"])

    got = client.get(f"/v1/conversations/{record['id']}")
    assert got.status_code == 200
    conv = got.json()
    assert conv["result"] == body["result"]
    assert conv["transcript"] == body["result"]["turns"]
    assert conv["agent_id"] == record["agent_id"] and conv["team"] == record["team"]
    assert conv["source"] == "api"
    assert conv["metadata"]["industry"] == record["industry"]  # unknown top-level fields are kept


def test_repost_is_idempotent_and_a_change_is_stored(client: TestClient) -> None:
    assert post(client, _record()).status_code == 201
    again = post(client, _record())
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    changed = _record()
    changed["turns"][2]["text"] = "好的，验证码已重新发送，祝您愉快，再见。"
    updated = post(client, changed)
    assert (updated.status_code, updated.json()["status"]) == (201, "updated")
    got = client.get("/v1/conversations/api-1").json()
    assert got["transcript"][2]["text"] == "好的，验证码已重新发送，祝您愉快，再见。"
    assert client.get("/v1/conversations").json()["total"] == 1


def test_personal_numbers_never_come_back(client: TestClient) -> None:
    created = post(client, _record(caller=PHONE))
    assert created.status_code == 201
    for response in (created, client.get("/v1/conversations/api-1"), client.get("/v1/conversations")):
        assert PHONE not in response.text
    body = client.get("/v1/conversations/api-1").json()
    assert [s["type"] for s in body["result"]["pii"]] == ["phone"]


def test_unknown_conversation_is_404(client: TestClient) -> None:
    err = _error(client.get("/v1/conversations/nope"), 404, "QA502")
    assert "nope" in err["detail"]


def test_list_filters_and_pages(client: TestClient) -> None:
    for i, agent in enumerate(["A01", "A02", "A01"]):
        post(client, _record(f"c{i}", agent_id=agent, started_at=f"2025-03-0{i + 1}T09:00:00+08:00"))
    page = client.get("/v1/conversations", params={"agent_id": "A01", "limit": 1}).json()
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == ["c2"]
    page2 = client.get("/v1/conversations", params={"agent_id": "A01", "limit": 1, "offset": 1}).json()
    assert [i["id"] for i in page2["items"]] == ["c0"]
    _error(client.get("/v1/conversations", params={"limit": 0}), 422, "QA601")


def test_body_over_the_limit_is_413_from_content_length(
    make_client: MakeClient, light_pipeline: Pipeline
) -> None:
    client = make_client(light_pipeline, max_body_bytes=2_000)
    big = json.dumps(_record(filler="很长" * 2_000), ensure_ascii=False)
    _error(client.post("/v1/conversations", content=big, headers=JSON), 413, "QA110")
    assert client.get("/v1/conversations").json()["total"] == 0


def test_body_over_the_limit_is_413_while_streaming(
    make_client: MakeClient, light_pipeline: Pipeline
) -> None:
    client = make_client(light_pipeline, max_body_bytes=2_000)

    def chunks() -> Iterator[bytes]:  # chunked, no Content-Length: the server must count
        for _ in range(1_000):
            yield b" " * 1_000

    response = client.post("/v1/conversations", content=chunks(), headers=JSON)
    _error(response, 413, "QA110")


def test_wrong_content_type_is_415(client: TestClient) -> None:
    body = json.dumps(_record())
    _error(
        client.post("/v1/conversations", content=body, headers={"content-type": "text/plain"}), 415, "QA601"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"id": "x", "turns": [', "QA104"),
        (b"\xff\xfe{}", "QA103"),
        (b"[1, 2]", "QA106"),
        (b"", "QA104"),
    ],
)
def test_unparseable_body_is_422(client: TestClient, body: bytes, code: str) -> None:
    _error(client.post("/v1/conversations", content=body, headers=JSON), 422, code)


@pytest.mark.parametrize("body", [b'{"id": "x", "turns": [', b"[1, 2]", b'{"id": "a"}\n{"id": "b"}'])
def test_a_bad_body_gets_a_hint_about_one_json_object(client: TestClient, body: bytes) -> None:
    err = client.post("/v1/conversations", content=body, headers=JSON).json()["error"]
    assert "single JSON object" in err["hint"] and "Each line" not in err["hint"]


def test_missing_speaker_is_422_naming_the_field(client: TestClient) -> None:
    record = _record()
    del record["turns"][1]["speaker"]
    err = _error(post(client, record), 422, "QA105")
    assert "speaker" in (err["field"] or "") and err["conversation"] == "api-1"


def test_empty_turns_is_422(client: TestClient) -> None:
    _error(post(client, _record(turns=[])), 422, "QA108")


def test_unknown_speaker_and_missing_id_are_422(client: TestClient) -> None:
    record = _record()
    record["turns"][0]["speaker"] = "robot"
    _error(post(client, record), 422, "QA107")
    no_id = _record()
    del no_id["id"]
    _error(post(client, no_id), 422, "QA105")


# -- inputs that used to be a bare 500 or a stored-but-unreadable conversation -----------------


def _raw(client: TestClient, body: bytes, content_type: str = "application/json") -> Any:
    return client.post("/v1/conversations", content=body, headers={"content-type": content_type})


@pytest.mark.parametrize(
    "started_at",
    [1e20, -1e15, "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00"],
    ids=["1e20", "-1e15", "year-10000-in-utc", "year-0-in-utc"],
)
def test_out_of_range_start_time_is_422(client: TestClient, started_at: Any) -> None:
    err = _error(post(client, _record(started_at=started_at)), 422, "QA106")
    assert err["field"] == "started_at"
    assert client.get("/v1/conversations").json()["total"] == 0


def test_integer_over_the_digit_limit_is_invalid_json(client: TestClient) -> None:
    body = b'{"id": "n6", "x": ' + b"9" * 5000 + b', "turns": [{"speaker": "agent", "text": "hi"}]}'
    err = _error(_raw(client, body), 422, "QA104")
    assert "digits" in err["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"id": "s\\ud800", "turns": [{"speaker": "agent", "text": "hi"}]}', "id"),
        (b'{"id": "s", "turns": [{"speaker": "agent", "text": "hi\\udc00"}]}', "turns[0].text"),
        (b'{"id": "s", "turns": [{"speaker": "agent", "text": "hi\\u0000there"}]}', "turns[0].text"),
        (b'{"id": "s", "agent_id": "A\\u0000", "turns": [{"speaker": "agent", "text": "hi"}]}', "agent_id"),
        (b'{"id": "s", "note": ["\\udfff"], "turns": [{"speaker": "agent", "text": "hi"}]}', "metadata"),
    ],
)
def test_nul_and_lone_surrogates_are_422(client: TestClient, body: bytes, field: str) -> None:
    assert _error(_raw(client, body), 422, "QA106")["field"] == field


def test_ids_the_api_cannot_serve_are_refused(client: TestClient) -> None:
    err = _error(post(client, _record("a/b")), 422, "QA106")
    assert err["field"] == "id" and "'/'" in err["detail"]
    _error(post(client, _record("x" * 256)), 422, "QA106")
    assert _error(post(client, _record(agent_id="x" * 256)), 422, "QA106")["field"] == "agent_id"
    assert _error(post(client, _record(team="x" * 256)), 422, "QA106")["field"] == "team"
    assert client.get("/v1/conversations").json()["total"] == 0


def _nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_metadata_nesting_is_capped_and_what_is_stored_can_be_read(client: TestClient) -> None:
    assert _error(post(client, _record("deep", m=_nest(300))), 422, "QA106")["field"] == "metadata"
    assert post(client, _record("ok", m=_nest(32))).status_code == 201
    assert client.get("/v1/conversations/ok").json()["metadata"]["m"] == _nest(32)


def test_asr_words_are_validated(client: TestClient) -> None:
    record = _record()
    record["turns"][0]["words"] = [{"text": "您好", "start": 5, "end": 1, "probability": 7}]
    assert _error(post(client, record), 422, "QA106")["field"] == "turns[0].words[0].end"


def test_offset_is_bounded(client: TestClient) -> None:
    err = _error(client.get("/v1/conversations", params={"offset": "99999999999999999999999"}), 422, "QA601")
    assert err["field"] == "offset"
    assert client.get("/v1/conversations", params={"offset": 2**31 - 1}).json()["items"] == []


def test_speaker_values_with_digits_are_not_echoed(client: TestClient) -> None:
    record = _record()
    record["turns"][0]["speaker"] = PHONE
    err = _error(post(client, record), 422, "QA107")
    assert PHONE not in json.dumps(err)


# -- request charsets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "content_type"),
    [
        ("gbk", "application/json; charset=gbk"),
        ("gb18030", 'application/json; charset="GB18030"'),
        ("utf-16", "application/json;charset=utf-16"),
        ("utf-8", "application/json; charset=utf-8"),
    ],
)
def test_the_declared_charset_decodes_the_body(client: TestClient, codec: str, content_type: str) -> None:
    body = json.dumps(_record(), ensure_ascii=False).encode(codec)
    created = _raw(client, body, content_type)
    assert created.status_code == 201, created.text
    assert created.json()["result"]["turns"][0]["text"] == "您好，请问有什么可以帮您？"


def test_undecodable_body_says_how_to_declare_the_charset(client: TestClient) -> None:
    body = json.dumps(_record(), ensure_ascii=False).encode("gbk")
    err = _error(_raw(client, body), 422, "QA103")
    assert "charset=gbk" in err["detail"] and "--encoding" not in json.dumps(err)
    err = _error(_raw(client, "您好".encode(), "application/json; charset=ascii"), 422, "QA103")
    assert "--encoding" not in json.dumps(err)


def test_unknown_charset_is_415(client: TestClient) -> None:
    body = json.dumps(_record()).encode()
    err = _error(_raw(client, body, "application/json; charset=klingon-8"), 415, "QA103")
    assert "klingon-8" in err["detail"]


def test_a_huge_review_comment_is_422_and_nothing_is_stored(client: TestClient) -> None:
    assert post(client, _record()).status_code == 201
    body = {"items": {"greeting": {"verdict": "pass"}}, "comment": "很长" * 5000}
    response = client.post("/v1/conversations/api-1/reviews", json=body)
    assert response.status_code == 422 and response.json()["error"]["field"] == "comment"
    assert client.get("/v1/audit-log?action=review").json() == []


def _large_record(conv_id: str, chars: int) -> dict[str, Any]:
    """A chat whose JSON is about ``chars`` characters of turn text (3 bytes each in UTF-8)."""
    line = "我想问一下这个月的账单为什么比上个月多了一些，麻烦帮我看看。"
    turns = [
        {"speaker": ("agent", "customer")[i % 2], "text": line * 8, "start": i * 30, "end": i * 30}
        for i in range(chars // (len(line) * 8) + 1)
    ]
    return {"id": conv_id, "channel": "chat", "agent_id": "A01", "team": "T1", "turns": turns}


def test_a_large_body_hands_memory_back_after_the_answer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routes import conversations

    calls: list[str] = []
    monkeypatch.setattr(conversations, "release_memory", lambda: calls.append("trim") or True)
    small = post(client, _record("small-1"))
    assert small.status_code == 201 and calls == []  # an ordinary audit leaves the heap alone

    record = _large_record("large-1", conversations.LARGE_BODY_BYTES // 3 + 1000)
    assert len(json.dumps(record, ensure_ascii=False).encode()) >= conversations.LARGE_BODY_BYTES
    large = post(client, record)
    assert large.status_code == 201, large.text
    assert calls == ["trim"]  # the background task ran once the answer was sent
