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
