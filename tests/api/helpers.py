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
