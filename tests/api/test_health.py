"""/health and the OpenAPI documentation; /health while audits queue for the pipeline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.state import AppState
from qa_pipeline.store import head_revision
from tests.api.helpers import LIGHT_STAGES, post


def test_health_reports_database_and_pipeline(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema_revision"] == head_revision()
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


def test_health_does_not_log_on_every_call(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _record(conv_id: str) -> dict[str, Any]:
    return {
        "id": conv_id,
        "turns": [{"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "你好"}],
    }


def test_health_and_reads_answer_while_audits_queue_for_the_pipeline(client: TestClient) -> None:
    state: AppState = client.app.state.qa  # type: ignore[attr-defined]
    queued = 45  # more than the shared threadpool's 40 workers
    with ThreadPoolExecutor(max_workers=queued + 2) as pool:
        with state._pipeline_lock:  # an audit that takes forever
            posts = [pool.submit(post, client, _record(f"q{i}")) for i in range(queued)]
            _wait_until(lambda: state.audits_in_flight == queued)
            started = time.monotonic()
            reads = [pool.submit(client.get, "/health"), pool.submit(client.get, "/v1/conversations")]
            done, _ = wait(reads, timeout=10)
            elapsed = time.monotonic() - started
        assert len(done) == 2, "/health or GET /v1/conversations waited for the pipeline"
        assert [r.result().status_code for r in reads] == [200, 200] and elapsed < 5
        assert {f.result(timeout=60).status_code for f in posts} == {201}


def test_a_full_audit_queue_is_503_with_retry_after(client: TestClient) -> None:
    state: AppState = client.app.state.qa  # type: ignore[attr-defined]
    state.max_queued_audits = 2
    with ThreadPoolExecutor(max_workers=3) as pool:
        with state._pipeline_lock:
            posts = [pool.submit(post, client, _record(f"q{i}")) for i in range(3)]  # 1 running + 2 waiting
            _wait_until(lambda: state.audits_in_flight == 3)
            busy = post(client, _record("one-too-many"))
        assert [f.result(timeout=60).status_code for f in posts] == [201, 201, 201]
    assert busy.status_code == 503 and busy.headers["retry-after"]
    assert busy.json()["error"]["code"] == "QA603" and "waiting" in busy.json()["error"]["detail"]
    assert client.get("/v1/conversations/one-too-many").status_code == 404
