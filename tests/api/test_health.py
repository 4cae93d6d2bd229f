"""/health and the OpenAPI documentation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import LIGHT_STAGES


def test_health_reports_database_and_pipeline(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema_revision"] == "0001"
    assert body["stages"] == list(LIGHT_STAGES)


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/v1/conversations",
        "/v1/conversations/{conversation_id}",
        "/v1/agents/{agent_id}/indices",
    } <= set(spec["paths"])
    post_op = spec["paths"]["/v1/conversations"]["post"]
    assert "turns" in post_op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "#/$defs/" not in client.get("/openapi.json").text  # every $ref resolves from the root
    assert client.get("/docs").status_code == 200


def test_unknown_route_has_the_error_shape(client: TestClient) -> None:
    response = client.get("/v2/nothing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "QA502"
    assert client.delete("/v1/conversations").status_code == 405
