"""What a schema-driven client and the logs see: documented bodies and parameters, the methods a
path allows, no 500 documented, and no personal data in the access log."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.access_log import ACCESS_LOGGER, MaskPii


def test_calls_declares_its_multipart_body_and_nothing_documents_500(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/calls"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"
    documented = {
        code for path in spec["paths"].values() for op in path.values() for code in op.get("responses", {})
    }
    assert "500" not in documented


def test_dates_and_speakers_are_constrained_in_the_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/v1/indices"]["get"]["parameters"]}
    assert "pattern" in params["from"]["schema"]["anyOf"][0]
    assert client.get("/v1/indices", params={"from": "yesterday"}).status_code == 422
    assert client.get("/v1/indices", params={"from": "2026-04-08"}).status_code == 200
    body = spec["paths"]["/v1/conversations"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    speaker = body["properties"]["turns"]["items"]["properties"]["speaker"]
    assert {"agent", "customer", "客服"} <= set(speaker["enum"])


def test_an_empty_idempotency_key_is_refused_as_documented(client: TestClient) -> None:
    response = client.post("/v1/calls", headers={"Idempotency-Key": ""}, files={"file": ("a.wav", b"x")})
    assert response.status_code == 422 and response.json()["error"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/conversations", "GET, POST"),
        ("DELETE", "/v1/conversations/c1", "GET"),
    ],
)
def test_405_lists_every_method_of_the_path(client: TestClient, method: str, path: str, allowed: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405 and response.headers["allow"] == allowed


def test_the_access_log_masks_phone_numbers() -> None:
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s"',
        ("127.0.0.1:1", "GET", "/v1/conversations/13812345678?x=1"),
        None,
    )
    MaskPii().filter(record)
    assert "13812345678" not in record.getMessage() and "/v1/conversations/" in record.getMessage()
    encoded = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "%s", ("/c/138%201234%205678",), None
    )
    MaskPii().filter(encoded)
    assert "5678" in encoded.getMessage() and "1234" not in encoded.getMessage()
