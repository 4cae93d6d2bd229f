"""GET /v1/agents/{agent_id}/indices: local-time periods, unknown agents, empty periods, bad dates."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa_pipeline.pipeline import Pipeline
from tests.api.helpers import MakeClient, post


def _conv(conv_id: str, agent: str, started_at: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": conv_id,
        "channel": "chat",
        "agent_id": agent,
        "team": "T1",
        "turns": [
            {"speaker": "agent", "text": "您好，请问有什么可以帮您？", "start": 0, "end": 0},
            {"speaker": "customer", "text": "查一下订单。", "start": 10, "end": 10},
            {"speaker": "agent", "text": "已为您查到，明天送达，再见。", "start": 30, "end": 30},
        ],
    }
    if started_at is not None:
        record["started_at"] = started_at
    return record


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    for conv_id, agent, when in [
        ("a1", "A01", "2025-03-01T09:00:00+08:00"),
        ("a2", "A01", "2025-03-02T09:00:00+08:00"),
        ("a3", "A01", "2025-03-03T09:00:00+08:00"),
        ("b1", "A02", "2025-03-02T09:00:00+08:00"),
    ]:
        assert post(client, _conv(conv_id, agent, when)).status_code == 201
    return client


def _indices(client: TestClient, agent: str, **params: str) -> Any:
    return client.get(f"/v1/agents/{agent}/indices", params=params)


def test_counts_the_agents_conversations_in_the_period(seeded: TestClient) -> None:
    assert _indices(seeded, "A01").json()["conversations"] == 3
    body = _indices(seeded, "A01", **{"from": "2025-03-02", "to": "2025-03-04"}).json()
    assert body["conversations"] == 2  # a2, a3 (dates without a zone are Beijing midnight)
    assert body["agent_id"] == "A01" and body["team"] == "T1"
    assert body["from"] == "2025-03-02T00:00:00+08:00" and body["to"] == "2025-03-04T00:00:00+08:00"
    assert {"quality_index", "emotion_index", "agent_score", "grade", "components"} <= set(body)


def test_from_is_inclusive_and_to_exclusive(seeded: TestClient) -> None:
    # a2 starts exactly at `from` (in), a3 exactly at `to` (out)
    body = _indices(seeded, "A01", **{"from": "2025-03-02T01:00:00Z", "to": "2025-03-03T01:00:00Z"}).json()
    assert body["conversations"] == 1


def test_unknown_agent_is_404(seeded: TestClient) -> None:
    response = _indices(seeded, "A99")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "QA502"


def test_known_agent_without_conversations_in_the_period_gets_nulls(seeded: TestClient) -> None:
    response = _indices(seeded, "A02", **{"from": "2025-04-01", "to": "2025-05-01"})
    assert response.status_code == 200
    body = response.json()
    assert body["conversations"] == 0
    assert body["quality_index"] is None and body["emotion_index"] is None and body["agent_score"] is None


def test_days_are_cut_at_local_midnight(client: TestClient) -> None:
    # 07:30 in Beijing on 2 March is 23:30 UTC on 1 March: it belongs to Beijing's 2 March
    post(client, _conv("early", "A05", "2025-03-02T07:30:00+08:00"))
    assert _indices(client, "A05", **{"from": "2025-03-02", "to": "2025-03-03"}).json()["conversations"] == 1
    assert _indices(client, "A05", **{"from": "2025-03-01", "to": "2025-03-02"}).json()["conversations"] == 0


def test_dates_follow_the_configured_time_zone(make_client: MakeClient, light_pipeline: Pipeline) -> None:
    utc = make_client(light_pipeline, timezone="UTC")
    post(utc, _conv("early", "A05", "2025-03-02T07:30:00+08:00"))
    assert _indices(utc, "A05", **{"from": "2025-03-01", "to": "2025-03-02"}).json()["conversations"] == 1


def test_conversations_without_start_time_count_by_import_time(client: TestClient) -> None:
    post(client, _conv("u1", "A03", None))
    assert _indices(client, "A03", **{"from": "2000-01-01"}).json()["conversations"] == 1
    assert _indices(client, "A03", to="2000-01-01").json()["conversations"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-13-01"}, "to"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
    ],
)
def test_bad_dates_are_422(seeded: TestClient, params: dict[str, str], field: str) -> None:
    response = _indices(seeded, "A01", **params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "QA601" and response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "9999-12-31T23:59:59-14:00"}, "from"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"to": "0001-01-01T00:00:00+14:00"}, "to"),
        ({"to": "1899-12-31"}, "to"),
    ],
)
def test_out_of_range_dates_are_422_naming_the_field(
    seeded: TestClient, params: dict[str, str], field: str
) -> None:
    response = _indices(seeded, "A01", **params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "QA601" and response.json()["error"]["field"] == field


def test_bad_dates_with_digits_are_not_echoed(seeded: TestClient) -> None:
    response = _indices(seeded, "A01", **{"from": "13812345678"})
    assert response.status_code == 422 and "13812345678" not in response.text
