"""The KPI pull's fast path serves a repeated pull only while it is the same caller, the same query
and the same data: never a stale answer, never another caller's, never to a revoked token."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import authorize

PULL = "/v1/indices?period=month&from=2026-03-01&to=2026-04-01"


def conversation(conv_id: str, agent: str, team: str) -> dict[str, Any]:
    return {
        "id": conv_id,
        "agent_id": agent,
        "team": team,
        "started_at": "2026-03-10T10:00:00+08:00",
        "turns": [
            {"speaker": "agent", "text": "您好，请问有什么可以帮您"},
            {"speaker": "customer", "text": "谢谢"},
        ],
    }


def test_a_repeated_pull_comes_from_the_memo_and_changes_with_the_data(client: TestClient) -> None:
    assert client.post("/v1/conversations", json=conversation("fp-1", "A01", "T1")).status_code == 201
    first = client.get(PULL)
    again = client.get(PULL)
    assert first.status_code == again.status_code == 200 and again.content == first.content
    assert len(client.app.state.qa.kpi_answers._answers) == 1  # type: ignore[attr-defined]
    assert client.post("/v1/conversations", json=conversation("fp-2", "A02", "T2")).status_code == 201
    after = client.get(PULL).json()
    assert {r["agent_id"] for r in after["rows"]} == {"A01", "A02"}  # not the memo of the old data


def test_the_memo_is_per_caller_and_a_revoked_token_gets_nothing(client: TestClient) -> None:
    for conv_id, agent, team in (("fp-3", "A01", "T1"), ("fp-4", "A02", "T2")):
        assert client.post("/v1/conversations", json=conversation(conv_id, agent, team)).status_code == 201
    admin_token = client.headers["Authorization"]
    assert len(client.get(PULL).json()["rows"]) == 2
    authorize(client, name="sup1", role="supervisor", team="T1")
    sup_token = client.headers["Authorization"]
    rows = client.get(PULL).json()["rows"]
    assert [r["agent_id"] for r in rows] == ["A01"]  # the supervisor's scope, not the admin's memo
    assert client.get(PULL).json()["rows"] == rows
    client.headers["Authorization"] = admin_token
    assert client.post("/v1/users/sup1/revoke").status_code == 200
    client.headers["Authorization"] = sup_token
    assert client.get(PULL).status_code == 401
