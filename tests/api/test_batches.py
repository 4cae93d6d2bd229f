"""POST /v1/batches and GET /v1/batches/{id}; GET /v1/jobs (list) and POST /v1/jobs/{id}/retry.

The app runs its embedded job workers on a real SQLite file: each conversation of a batch becomes a
``chat`` job scored by the app's pipeline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from qa_pipeline.jobs import batch_dir
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import Settings
from qa_pipeline.store.models import JobRow
from tests.api.helpers import authorize

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NDJSON = {"Content-Type": "application/x-ndjson"}
StartApp = Callable[..., TestClient]


@pytest.fixture
def start_app(tmp_path: Path, light_pipeline: Pipeline) -> Iterator[StartApp]:
    clients: list[TestClient] = []

    def start(**overrides: Any) -> TestClient:
        fast = {"job_retry_base_s": 0.0, "job_max_attempts": 2, "audio_dir": tmp_path / "store"}
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", **{**fast, **overrides})
        client = TestClient(create_app(settings, pipeline=light_pipeline))
        client.__enter__()
        clients.append(client)
        authorize(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def chat(i: int) -> dict[str, Any]:
    return {
        "id": f"b-{i:03d}",
        "agent_id": f"A0{i % 3 + 1}",
        "turns": [
            {"speaker": "agent", "text": "您好，很高兴为您服务"},
            {"speaker": "customer", "text": f"我的订单{i}号还没发货，怎么回事"},
            {"speaker": "agent", "text": "非常抱歉，我马上帮您催一下，今天之内给您回复。还有其他问题吗？"},
        ],
    }


def wait_finished(client: TestClient, url: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(url).json()
        if body["finished"]:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} did not finish within {timeout} s: {body}")


def test_a_jsonl_batch_becomes_jobs_that_all_get_done(start_app: StartApp, tmp_path: Path) -> None:
    client = start_app()
    resp = client.post(
        "/v1/batches?filename=export.jsonl", content=jsonl([chat(i) for i in range(12)]), headers=NDJSON
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert (body["records"], body["invalid"], body["format"], body["filename"]) == (
        12,
        0,
        "jsonl",
        "export.jsonl",
    )
    done = wait_finished(client, body["links"]["self"])
    assert done["jobs"] == {"queued": 0, "running": 0, "done": 12, "retry_wait": 0, "dead": 0}
    assert done["errors"] == []
    assert client.get("/v1/conversations/b-007").status_code == 200
    jobs = client.get(body["links"]["jobs"]).json()["items"]
    assert len(jobs) == 12 and {j["kind"] for j in jobs} == {"chat"}
    assert sorted(j["record"] for j in jobs) == list(range(12))
    assert not list(batch_dir(client.app.state.qa.settings).glob("*.jsonl"))  # type: ignore[attr-defined]


def test_bad_records_are_reported_and_the_good_ones_run(start_app: StartApp) -> None:
    client = start_app()
    lines = jsonl([chat(1)]) + b'{"id": "broken", "turns": "not a list"}\n{not json\n' + jsonl([chat(2)])
    resp = client.post("/v1/batches", content=lines, headers=NDJSON)
    assert resp.status_code == 202, resp.text
    assert (resp.json()["records"], resp.json()["invalid"]) == (4, 2)
    done = wait_finished(client, resp.json()["links"]["self"])
    assert done["jobs"]["done"] == 2
    errors = done["errors"]
    assert [e["record"] for e in errors] == [1, 2]
    assert errors[0]["error"]["code"] == "QA106" and errors[1]["error"]["code"] == "QA104"
    assert all(e["error"]["hint"] for e in errors)


def test_a_gbk_csv_export_is_read_like_qa_audit_reads_it(start_app: StartApp) -> None:
    client = start_app()
    data = (EXAMPLES / "chat_export_gbk.csv").read_bytes()
    resp = client.post("/v1/batches?filename=chat.csv", content=data, headers={"Content-Type": "text/csv"})
    assert resp.status_code == 202, resp.text
    done = wait_finished(client, resp.json()["links"]["self"])
    assert done["records"] >= 2 and done["jobs"]["done"] == done["records"] - done["invalid"]


def test_the_same_export_twice_is_one_batch(start_app: StartApp) -> None:
    client = start_app()
    data = jsonl([chat(i) for i in range(3)])
    first = client.post("/v1/batches", content=data, headers=NDJSON)
    again = client.post("/v1/batches", content=data, headers=NDJSON)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["batch_id"] == first.json()["batch_id"]
    keyed = client.post("/v1/batches", content=data, headers={**NDJSON, "Idempotency-Key": "exp-1"})
    keyed_again = client.post(
        "/v1/batches", content=b"ignored", headers={**NDJSON, "Idempotency-Key": "exp-1"}
    )
    assert keyed.status_code == 202 and keyed_again.status_code == 200
    assert keyed_again.json()["batch_id"] == keyed.json()["batch_id"] != first.json()["batch_id"]
    with client.app.state.qa.engine.connect() as conn:  # type: ignore[attr-defined]
        assert len(conn.execute(JobRow.__table__.select()).all()) == 6


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Content-Type": "application/json"}, b"{}", 415, "QA601"),
        ({}, b"x", 415, "QA601"),
        (NDJSON, b"", 422, "QA108"),
        (NDJSON, b"\x00\x01\x02binary\xff", 422, "QA104"),
        (NDJSON, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, 422, "QA102"),
        ({"Content-Type": "text/csv"}, "名字,年龄\n张三,3\n".encode(), 422, "QA111"),
    ],
)
def test_bad_bodies_are_typed_errors_and_queue_nothing(
    start_app: StartApp, headers: dict[str, str], body: bytes, status: int, code: str
) -> None:
    client = start_app()
    resp = client.post("/v1/batches", content=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    with client.app.state.qa.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(JobRow.__table__.select()).first() is None
    assert not list(batch_dir(client.app.state.qa.settings).glob("*"))  # type: ignore[attr-defined]


def test_an_oversized_batch_is_refused_before_it_is_read(start_app: StartApp) -> None:
    client = start_app(max_batch_bytes=1000)
    resp = client.post("/v1/batches", content=jsonl([chat(i) for i in range(40)]), headers=NDJSON)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "QA110"


def test_unknown_batch_is_404_and_roles_are_enforced(start_app: StartApp) -> None:
    client = start_app()
    assert client.get("/v1/batches/nope").status_code == 404
    authorize(client, name="sup", role="supervisor", team="T1")
    assert client.post("/v1/batches", content=jsonl([chat(1)]), headers=NDJSON).status_code == 403
    assert client.get("/v1/batches/nope").status_code == 403


def test_dead_jobs_are_listed_with_their_error_and_an_admin_can_rerun_them(start_app: StartApp) -> None:
    client = start_app()
    resp = client.post("/v1/batches", content=jsonl([chat(1)]), headers=NDJSON)
    batch = wait_finished(client, resp.json()["links"]["self"])
    [job] = client.get(f"/v1/jobs?batch_id={batch['batch_id']}").json()["items"]
    assert client.post(f"/v1/jobs/{job['job_id']}/retry").status_code == 409  # done, not dead
    engine = client.app.state.qa.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # as if every attempt had failed
        conn.execute(JobRow.__table__.update().values(state="dead", error={"code": "QA501"}))
    dead = client.get("/v1/jobs?state=dead").json()["items"]
    assert [(j["job_id"], j["error"]["code"]) for j in dead] == [(job["job_id"], "QA501")]
    assert client.get(f"/v1/batches/{batch['batch_id']}").json()["errors"][0]["job_id"] == job["job_id"]
    authorize(client, name="qa1", role="qa")
    assert client.post(f"/v1/jobs/{job['job_id']}/retry").status_code == 403
    authorize(client, name="admin2", role="admin")
    rerun = client.post(f"/v1/jobs/{job['job_id']}/retry")
    assert rerun.status_code == 200 and rerun.json()["state"] == "queued"
    assert client.post("/v1/jobs/nope/retry").status_code == 404
