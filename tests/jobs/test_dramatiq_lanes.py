"""Jobs taken up again (a lost worker's, a transient failure's retry, a lost message's) travel on
``qa-first``, whose actor outranks the one for new jobs, so they do not queue behind the backlog.
Real Redis (skipped without ``QA_TEST_REDIS_URL``), SQLite job table; the end-to-end run of both
queues by ``qa worker`` is in ``test_dramatiq.py`` (lost messages come back on ``qa-first``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from qa_pipeline.jobs import ingest_batch
from qa_pipeline.jobs.dramatiq_queue import (
    ACTOR,
    FIRST_ACTOR,
    FIRST_QUEUE,
    QUEUE,
    Sweeper,
    make_broker,
    pending_messages,
    send,
)
from qa_pipeline.jobs.retry import RetryPolicy
from qa_pipeline.settings import Settings
from qa_pipeline.store.job_leases import claim
from tests.jobs.test_chat_batches import chats

REDIS_ENV = "QA_TEST_REDIS_URL"
pytestmark = pytest.mark.skipif(not os.environ.get(REDIS_ENV), reason=f"set {REDIS_ENV} to run")


@pytest.fixture
def broker() -> Iterator[RedisBroker]:
    url = f"{os.environ[REDIS_ENV].rsplit('/', 1)[0]}/4"  # a database of its own
    brk = make_broker(url)
    brk.client.flushdb()
    yield brk
    brk.client.flushdb()
    brk.close()


def _waiting(broker: RedisBroker, queue: str) -> list[dict[str, object]]:
    """The messages waiting in ``queue`` (oldest first)."""
    ids = broker.client.lrange(f"{broker.namespace}:{queue}", 0, -1)
    bodies = broker.client.hmget(f"{broker.namespace}:{queue}.msgs", *ids) if ids else []
    return [json.loads(body) for body in bodies]


def test_new_jobs_and_jobs_taken_up_again_wait_in_their_own_queues(broker: RedisBroker) -> None:
    assert send(broker, "new-1") and send(broker, "again-1", first=True)
    assert send(broker, "again-2", first=True, delay_ms=60_000)
    assert [(m["actor_name"], m["args"]) for m in _waiting(broker, QUEUE)] == [(ACTOR, ["new-1"])]
    assert [(m["actor_name"], m["args"]) for m in _waiting(broker, FIRST_QUEUE)] == [
        (FIRST_ACTOR, ["again-1"])
    ]
    assert pending_messages(broker) == 3  # the delayed retry counts: the sweeper does not re-send it


def test_a_lost_workers_job_and_a_lost_message_come_back_on_the_first_queue(
    engine: Engine, settings: Settings, broker: RedisBroker
) -> None:
    settings = settings.model_copy(update={"job_retry_base_s": 0.0})  # the job table of conftest's engine
    ingested = ingest_batch(engine, settings, chats(2), filename="c.jsonl", fmt="jsonl")
    lost, unsent = ingested.job_ids
    assert claim(engine, lost, "killed-worker", lease_s=0.01) is not None
    time.sleep(0.05)
    sweeper = Sweeper(engine, broker, RetryPolicy.from_settings(settings), overdue_s=0.0)
    assert sweeper.sweep() == (1, 0)  # the reaped job was sent at once, so the queue is not empty
    assert [m["args"] for m in _waiting(broker, FIRST_QUEUE)] == [[lost]]
    broker.client.flushdb()
    assert sweeper.sweep()[1] == 2  # both due and unclaimed: re-sent, on the first queue too
    assert sorted(m["args"][0] for m in _waiting(broker, FIRST_QUEUE)) == sorted([lost, unsent])
    assert _waiting(broker, QUEUE) == []
