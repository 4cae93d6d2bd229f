"""100 concurrent identical submissions to a real ``qa serve`` make one job (one batch): the unique
idempotency key decides, with or without the client's ``Idempotency-Key``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bench.live_server import LiveServer
from bench.scratch_db import reset_postgres
from qa_pipeline.store import make_engine
from qa_pipeline.store.models import BatchRow, JobRow
from tests.jobs.sidecar import write_call

CLIENTS = 100


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"QA_JOB_WORKERS": "0"}
    if request.param == "postgresql":
        url = os.environ.get("QA_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("set QA_TEST_POSTGRES_URL to run against PostgreSQL")
        reset_postgres(url)
        env["QA_DATABASE_URL"] = url
    with LiveServer(tmp_path_factory.mktemp("concurrent"), env) as live:
        yield live


def count(server: LiveServer, table: type[JobRow] | type[BatchRow]) -> int:
    engine = make_engine(server.env["QA_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        engine.dispose()


def fire(n: int, send: object) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: send(), range(n)))  # type: ignore[operator]


@pytest.mark.parametrize("key", [None, "upload-7"])
def test_identical_uploads_make_one_job(server: LiveServer, tmp_path: Path, key: str | None) -> None:
    wav = write_call(tmp_path / f"same-{key}.wav").read_bytes()
    headers = {**server.headers, **({"Idempotency-Key": key} if key else {})}
    before = count(server, JobRow)

    def send() -> httpx.Response:
        files = {"file": ("same.wav", wav, "audio/wav")}
        data = {"metadata": json.dumps({"id": f"same-{key}"})}
        return httpx.post(server.url + "/v1/calls", files=files, data=data, headers=headers, timeout=120)

    responses = fire(CLIENTS, send)
    assert all(r.status_code in (200, 202) for r in responses), {r.status_code for r in responses}
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert sum(r.status_code == 202 for r in responses) == 1
    assert count(server, JobRow) == before + 1
    spool = Path(server.env["QA_AUDIO_DIR"]) / "spool"
    assert len(list(spool.iterdir())) == count(server, JobRow)  # the 99 duplicates left no file behind


def test_identical_batches_make_one_batch(server: LiveServer) -> None:
    line = {
        "id": "conc-1",
        "turns": [{"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "在吗"}],
    }
    body = (json.dumps(line, ensure_ascii=False) + "\n").encode()
    headers = {**server.headers, "Content-Type": "application/x-ndjson"}

    def send() -> httpx.Response:
        return httpx.post(server.url + "/v1/batches", content=body, headers=headers, timeout=120)

    responses = fire(CLIENTS, send)
    assert all(r.status_code in (200, 202) for r in responses), {r.status_code for r in responses}
    assert len({r.json()["batch_id"] for r in responses}) == 1
    assert count(server, BatchRow) == 1
    batches = Path(server.env["QA_AUDIO_DIR"]) / "batches"
    assert len(list(batches.iterdir())) == 1
