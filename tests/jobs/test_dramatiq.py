"""``QA_QUEUE=dramatiq`` end to end: the API enqueues on a real Redis, ``qa worker`` (a real Dramatiq
process) runs the jobs; lost and duplicated messages change nothing. PostgreSQL when
``QA_TEST_POSTGRES_URL`` is set, else a SQLite file; skipped without ``QA_TEST_REDIS_URL``
(``.ci/run`` starts Debian's redis-server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from api.main import create_app
from qa_pipeline.jobs import get_batch, ingest_batch
from qa_pipeline.jobs.dramatiq_queue import DramatiqQueue, make_broker, send
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import Settings
from qa_pipeline.store import get_job, init_db, make_engine
from qa_pipeline.store.models import ResultRow
from tests.api.helpers import authorize
from tests.jobs.sidecar import light_pipeline_config

REDIS_ENV, PG_ENV = "QA_TEST_REDIS_URL", "QA_TEST_POSTGRES_URL"
pytestmark = pytest.mark.skipif(
    not os.environ.get(REDIS_ENV), reason=f"set {REDIS_ENV} to run the Dramatiq tests"
)


def _redis_url() -> str:
    base = os.environ[REDIS_ENV].rsplit("/", 1)[0]
    return f"{base}/3"  # a database of its own, flushed per module


def _database_url(folder: Path) -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        return f"sqlite:///{folder / 'qa.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("dramatiq")
    make_broker(_redis_url()).client.flushdb()
    return Settings(
        database_url=_database_url(folder),
        queue="dramatiq",
        redis_url=_redis_url(),
        audio_dir=folder / "store",
        pipeline_config=light_pipeline_config(folder / "pipeline"),
        job_sweep_s=0.5,
        job_retry_base_s=0.0,
    )


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "QA_LOG_LEVEL": "INFO"}
    for name, value in settings.model_dump(exclude_unset=True).items():
        env[f"QA_{name.upper()}"] = str(value)
    init_db(settings.database_url).dispose()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa_pipeline.cli", "worker", "--processes", "1", "--threads", "2"], env=env
    )
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.database_url)
    yield eng
    eng.dispose()


def chats(prefix: str, n: int) -> bytes:
    records = [
        {
            "id": f"{prefix}-{i}",
            "agent_id": "A01",
            "turns": [
                {"speaker": "agent", "text": "您好，请问有什么可以帮您"},
                {"speaker": "customer", "text": "快递三天了还没到，太慢了"},
                {"speaker": "agent", "text": "非常抱歉，我帮您催件，明天中午前给您回电"},
            ],
        }
        for i in range(n)
    ]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def wait_batch(engine: Engine, batch_id: str, timeout: float = 90.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = get_batch(engine, batch_id)
        if batch.finished:
            return batch.jobs
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} not finished in {timeout} s: {get_batch(engine, batch_id).jobs}")


def results_for(engine: Engine, prefix: str) -> int:
    stmt = select(func.count()).select_from(ResultRow).where(ResultRow.conversation_id.like(f"{prefix}-%"))
    with engine.connect() as conn:
        return int(conn.scalar(stmt) or 0)


def test_the_api_enqueues_and_a_dramatiq_worker_runs_the_batch(
    settings: Settings, worker: subprocess.Popen[bytes], engine: Engine, light_pipeline_path: Pipeline
) -> None:
    with TestClient(create_app(settings, pipeline=light_pipeline_path)) as client:
        assert isinstance(client.app.state.qa.queue, DramatiqQueue)  # type: ignore[attr-defined]
        authorize(client)
        resp = client.post(
            "/v1/batches", content=chats("api", 8), headers={"Content-Type": "application/x-ndjson"}
        )
        assert resp.status_code == 202, resp.text
        jobs = wait_batch(engine, resp.json()["batch_id"])
        assert jobs["done"] == 8 and results_for(engine, "api") == 8
        assert client.get("/v1/conversations/api-3").status_code == 200


def test_jobs_whose_message_was_lost_are_sent_again_by_the_sweeper(
    settings: Settings, worker: subprocess.Popen[bytes], engine: Engine
) -> None:
    ingested = ingest_batch(engine, settings, chats("lost", 4), filename="lost.jsonl", fmt="jsonl")
    assert ingested.job_ids  # queued in the table, never sent to Redis
    assert wait_batch(engine, ingested.batch.id)["done"] == 4 and results_for(engine, "lost") == 4


def test_duplicate_messages_run_a_job_once(
    settings: Settings, worker: subprocess.Popen[bytes], engine: Engine
) -> None:
    ingested = ingest_batch(engine, settings, chats("dup", 1), filename="dup.jsonl", fmt="jsonl")
    broker = make_broker(settings.redis_url)
    for _ in range(4):
        assert send(broker, ingested.job_ids[0])
    assert wait_batch(engine, ingested.batch.id)["done"] == 1
    time.sleep(1.0)  # let the other three messages be consumed
    job = get_job(engine, ingested.job_ids[0])
    assert (job.state, job.attempts) == ("done", 1) and results_for(engine, "dup") == 1


def test_an_unreachable_redis_does_not_lose_the_submission(settings: Settings, engine: Engine) -> None:
    queue = DramatiqQueue(make_broker("redis://127.0.0.1:1/0"))
    queue.submit(["some-job-id"])  # logged, not raised: the row is stored and the sweeper sends it later
    queue.close()


@pytest.fixture(scope="module")
def light_pipeline_path(settings: Settings) -> Pipeline:
    assert settings.pipeline_config is not None
    return Pipeline.from_config(settings.pipeline_config, settings=settings)
