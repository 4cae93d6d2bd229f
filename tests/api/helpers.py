"""Helpers shared by the API tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

LIGHT_STAGES = ("normalize", "pii", "segment", "timing", "negativity")
JSON = {"content-type": "application/json"}

MakeClient = Callable[..., TestClient]


def post(client: TestClient, record: Any) -> Any:
    """POST one conversation record as JSON."""
    return client.post("/v1/conversations", content=json.dumps(record, ensure_ascii=False), headers=JSON)


def authorize(client: TestClient, name: str = "admin", role: str = "admin", **fields: str) -> str:
    """Create a user on the client's database and send its token with every request; returns it."""
    from qa_pipeline.access.users import NewUser, add_user

    engine = client.app.state.qa.engine  # type: ignore[attr-defined]
    _user, token = add_user(engine, NewUser(name=name, role=role, **fields))  # type: ignore[arg-type]
    client.headers["Authorization"] = f"Bearer {token}"
    return token
