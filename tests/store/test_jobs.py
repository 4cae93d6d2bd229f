"""Job records: create, idempotency keys, atomic claim (one winner), finish, personal data masked."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import Engine, select

from qa_pipeline.errors import NotFoundError, StorageError
from qa_pipeline.store import claim_next_job, create_job, finish_job, get_job
from qa_pipeline.store.jobs import try_claim
from qa_pipeline.store.models import JobRow


def test_create_and_get(engine: Engine) -> None:
    job = create_job(engine, "audit", {"path": "calls.jsonl", "n": 3})
    got = get_job(engine, job.id)
    assert got == job
    assert (got.state, got.attempts, got.error) == ("queued", 0, None)
    assert got.created_at.tzinfo is not None


def test_missing_job_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFoundError, match="QA502"):
        get_job(engine, "nope")


def test_idempotency_key_returns_the_existing_job(engine: Engine) -> None:
    first = create_job(engine, "audit", {"n": 1}, idempotency_key="upload-42")
    second = create_job(engine, "audit", {"n": 2}, idempotency_key="upload-42")
    assert second.id == first.id and second.payload == {"n": 1}
    other = create_job(engine, "audit", {"n": 3})
    assert other.id != first.id


def test_claim_takes_the_oldest_queued_job_of_its_kind(engine: Engine) -> None:
    a = create_job(engine, "audit", {})
    b = create_job(engine, "train", {})
    c = create_job(engine, "audit", {})
    assert claim_next_job(engine, "train") == get_job(engine, b.id)
    first = claim_next_job(engine)
    assert first is not None and (first.id, first.state, first.attempts) == (a.id, "running", 1)
    second = claim_next_job(engine, "audit")
    assert second is not None and second.id == c.id
    assert claim_next_job(engine) is None


def test_two_sessions_race_for_one_job_and_one_wins(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    with engine.connect() as one, engine.connect() as two:
        won_one = try_claim(one, job.id)
        one.commit()
        won_two = try_claim(two, job.id)
        two.commit()
    assert (won_one, won_two) == (True, False)
    assert get_job(engine, job.id).attempts == 1


def test_concurrent_workers_claim_each_job_exactly_once(engine: Engine) -> None:
    ids = {create_job(engine, "audit", {"i": i}).id for i in range(12)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (job := claim_next_job(engine)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(claimed) == sorted(ids)


def test_finish_done_and_failed(engine: Engine) -> None:
    ok = create_job(engine, "audit", {})
    bad = create_job(engine, "audit", {})
    claim_next_job(engine)
    claim_next_job(engine)
    assert finish_job(engine, ok.id).state == "done"
    failed = finish_job(engine, bad.id, error={"code": "QA104", "line": 3})
    assert (failed.state, failed.error) == ("failed", {"code": "QA104", "line": 3})


def test_finishing_a_job_that_is_not_running_is_refused(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    with pytest.raises(StorageError, match="queued, not running"):
        finish_job(engine, job.id)
    with pytest.raises(NotFoundError):
        finish_job(engine, "nope")


def test_payload_and_error_are_stored_masked(engine: Engine) -> None:
    payload = {"note": "回拨13812345678", "13912345678": {"cards": ["6222021234567894"]}, "n": 3}
    job = create_job(engine, "audit", payload)
    expected = {"note": "回拨138****5678", "139****5678": {"cards": ["************7894"]}, "n": 3}
    assert job.payload == expected and get_job(engine, job.id).payload == expected
    claim_next_job(engine)
    error = {"code": "QA106", "detail": "bad id 110101199003077571", "conversation": "li.lei@example.com"}
    failed = finish_job(engine, job.id, error=error)
    assert failed.error == {
        "code": "QA106",
        "detail": "bad id 110***********7571",
        "conversation": "l*****@example.com",
    }
    with engine.connect() as conn:
        stored = conn.execute(select(JobRow.payload, JobRow.error).where(JobRow.id == job.id)).one()
    raw = json.dumps(list(stored), ensure_ascii=False)
    for secret in ("13812345678", "13912345678", "6222021234567894", "110101199003077571", "li.lei@"):
        assert secret not in raw
