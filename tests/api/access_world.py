"""A small world for the access tests: users of every role and conversations of two teams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import post

USERS: dict[str, dict[str, str]] = {
    "admin1": {"role": "admin"},
    "qa1": {"role": "qa"},
    "sup_t1": {"role": "supervisor", "team": "T1"},
    "sup_t2": {"role": "supervisor", "team": "T2"},
    "agent_a01": {"role": "agent", "agent_id": "A01"},
    "agent_a02": {"role": "agent", "agent_id": "A02"},
    "kpi1": {"role": "kpi"},
}
CONVERSATIONS = {"c-t1": ("A01", "T1"), "c-t2": ("A02", "T2")}


def record(conv_id: str, agent: str, team: str) -> dict[str, Any]:
    """A chat that fails several items (no greeting, a banned phrase, an unanswered complaint)."""
    return {
        "id": conv_id,
        "channel": "chat",
        "agent_id": agent,
        "team": team,
        "started_at": "2026-04-08T10:00:00+08:00",
        "turns": [
            {"speaker": "customer", "text": "我的快递三天了还没到，你们怎么搞的！", "start": 0, "end": 0},
            {"speaker": "agent", "text": "查一下，订单显示明天送达。", "start": 20, "end": 20},
            {"speaker": "customer", "text": "太慢了，我要投诉！", "start": 40, "end": 40},
            {"speaker": "agent", "text": "你自己没看物流信息吗，随便你。", "start": 60, "end": 60},
        ],
    }


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]

    def as_user(self, name: str | None) -> dict[str, str]:
        return {} if name is None else {"Authorization": f"Bearer {self.tokens[name]}"}

    def call(self, name: str | None, method: str, path: str, body: Any = None) -> Any:
        headers = self.as_user(name)
        if body is None:
            return self.client.request(method, path, headers=headers)
        return self.client.request(method, path, headers=headers, json=body)


def build_world(client: TestClient) -> World:
    """Users through the admin API, conversations of both teams through POST /v1/conversations."""
    tokens: dict[str, str] = {}
    for name, fields in USERS.items():
        response = client.post("/v1/users", json={"name": name, **fields})
        assert response.status_code == 201, response.text
        tokens[name] = response.json()["token"]
    for conv_id, (agent, team) in CONVERSATIONS.items():
        assert post(client, record(conv_id, agent, team)).status_code == 201
    return World(client, tokens)
