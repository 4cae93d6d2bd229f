"""The error shape for what no handler expects: a 500 that says nothing about the input."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import Settings

SECRET = "13812345678"


def test_an_unexpected_exception_is_a_500_in_the_error_shape(
    tmp_path: Path, light_pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}"), pipeline=light_pipeline)

    def broken() -> None:
        raise RuntimeError(f"bug while handling customer {SECRET}")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert (error["code"], error["error"], error["detail"]) == ("QA000", "internal error", "")
    assert error["hint"] and SECRET not in response.text
    logged = [r for r in caplog.records if r.name == "api.errors" and r.exc_info]
    assert logged and "/broken" in logged[0].getMessage()


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/users"), ("POST", "/v1/webhooks"), ("PUT", "/v1/agents/A01/team")],
)
def test_a_body_that_is_not_json_is_a_documented_422_not_a_400(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(
        method, path, content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "QA104" and error["hint"]


def test_an_admin_cannot_revoke_their_own_access(client: TestClient) -> None:
    response = client.post("/v1/users/admin/revoke")
    assert response.status_code == 409 and "another admin" in response.json()["error"]["detail"]
    assert client.get("/v1/users").status_code == 200  # still in
