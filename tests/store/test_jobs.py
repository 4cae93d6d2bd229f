"""Job records: create, idempotency keys, atomic claim (one winner), leases, finish exactly once, retry
and bury, reap, admin re-run, personal data masked (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from qa_pipeline.errors import ConflictError, NotFoundError
from qa_pipeline.store import create_job, get_job
from qa_pipeline.store.job_leases import (
    LeaseLost,
    claim,
    claim_more,
    claim_next,
    complete_in,
    due_unclaimed,
    expired,
    fail,
    reap,
    renew,
)
from qa_pipeline.store.jobs import Job, count_by_state, list_jobs, requeue_dead
from qa_pipeline.store.models import JobRow, utcnow

LEASE = 30.0


def claim_next_job(engine: Engine, kind: str | None = None, owner: str = "w1") -> Job | None:
    return claim_next(engine, owner, LEASE, kinds=[kind] if kind else None)


def finish(engine: Engine, job_id: str, owner: str = "w1") -> Job:
    with engine.begin() as conn:
        complete_in(conn, job_id, owner)
    return get_job(engine, job_id)


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


def test_a_named_job_is_claimed_once(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    won = claim(engine, job.id, "w1", LEASE)
    assert won is not None and (won.state, won.lease_owner, won.attempts) == ("running", "w1", 1)
    assert claim(engine, job.id, "w2", LEASE) is None  # a duplicate message changes nothing
    assert claim(engine, "nope", "w2", LEASE) is None


def test_concurrent_workers_claim_each_job_exactly_once(engine: Engine) -> None:
    ids = {create_job(engine, "audit", {"i": i}).id for i in range(12)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(owner: str) -> None:
        while (job := claim_next_job(engine, owner=owner)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(claimed) == sorted(ids)


def test_done_in_the_result_transaction_and_only_by_the_owner(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    claim_next_job(engine, owner="w1")
    with pytest.raises(LeaseLost), engine.begin() as conn:
        complete_in(conn, job.id, "w2")
    done = finish(engine, job.id, "w1")
    assert (done.state, done.lease_owner, done.finished_at is not None) == ("done", None, True)
    with pytest.raises(LeaseLost):
        finish(engine, job.id, "w1")  # twice: refused, so a result is never stored twice


def test_a_failed_attempt_waits_then_runs_again_and_the_last_one_is_dead(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    claim_next_job(engine)
    later = utcnow() + timedelta(seconds=60)
    waiting = fail(engine, job.id, "w1", {"code": "QA501"}, retry_at=later)
    assert waiting is not None and (waiting.state, waiting.error) == ("retry_wait", {"code": "QA501"})
    assert claim_next_job(engine) is None  # not due yet
    assert claim(engine, job.id, "w2", LEASE) is None
    fail_now = fail(engine, job.id, "w1", {"code": "QA501"}, retry_at=None)
    assert fail_now is None  # w1 no longer owns it
    with engine.begin() as conn:
        conn.execute(JobRow.__table__.update().values(next_run_at=utcnow()))
    again = claim_next_job(engine, owner="w2")
    assert again is not None and (again.attempts, again.lease_owner) == (2, "w2")
    dead = fail(engine, job.id, "w2", {"code": "QA114"}, retry_at=None)
    assert dead is not None and (dead.state, dead.error) == ("dead", {"code": "QA114"})
    assert dead.finished_at is not None


def test_heartbeat_renews_only_the_owners_lease(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    first = claim_next(engine, "w1", 1.0)
    assert first is not None and first.lease_expires_at is not None
    assert renew(engine, job.id, "w1", LEASE)
    renewed = get_job(engine, job.id).lease_expires_at
    assert renewed is not None and renewed > first.lease_expires_at
    assert not renew(engine, job.id, "w2", LEASE)


def test_an_expired_lease_is_reaped_and_its_worker_can_no_longer_finish(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    claim_next(engine, "w1", 0.001)
    with engine.begin() as conn:  # the worker was killed a while ago
        conn.execute(JobRow.__table__.update().values(lease_expires_at=utcnow() - timedelta(seconds=5)))
    [lost] = expired(engine)
    assert lost.id == job.id
    assert reap(engine, lost, {"code": "QA406"}, retry_at=utcnow())
    assert not reap(engine, lost, {"code": "QA406"}, retry_at=utcnow())  # once
    assert get_job(engine, job.id).state == "retry_wait"
    with pytest.raises(LeaseLost):
        finish(engine, job.id, "w1")
    assert claim_next_job(engine, owner="w2") is not None
    assert finish(engine, job.id, "w2").state == "done"


def test_due_unclaimed_lists_overdue_jobs_only(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    assert due_unclaimed(engine, overdue_s=60) == []
    assert due_unclaimed(engine, overdue_s=0) == [job.id]
    claim_next_job(engine)
    assert due_unclaimed(engine, overdue_s=0) == []


def test_admin_rerun_of_a_dead_job(engine: Engine) -> None:
    job = create_job(engine, "audit", {})
    with pytest.raises(ConflictError, match="queued"):
        requeue_dead(engine, job.id)
    claim_next_job(engine)
    fail(engine, job.id, "w1", {"code": "QA405"}, retry_at=None)
    again = requeue_dead(engine, job.id)
    assert (again.state, again.attempts, again.finished_at) == ("queued", 0, None)
    assert claim_next_job(engine) is not None
    with pytest.raises(NotFoundError):
        requeue_dead(engine, "nope")


def test_list_and_count(engine: Engine) -> None:
    a = create_job(engine, "audit", {})
    create_job(engine, "train", {})
    claim_next_job(engine, "audit")
    assert count_by_state(engine) == {"queued": 1, "running": 1, "done": 0, "retry_wait": 0, "dead": 0}
    assert [j.id for j in list_jobs(engine, state="running")] == [a.id]
    assert len(list_jobs(engine, kind="train")) == 1


def test_payload_and_error_are_stored_masked(engine: Engine) -> None:
    payload = {"note": "回拨13812345678", "13912345678": {"cards": ["6222021234567894"]}, "n": 3}
    job = create_job(engine, "audit", payload)
    expected = {"note": "回拨138****5678", "139****5678": {"cards": ["************7894"]}, "n": 3}
    assert job.payload == expected and get_job(engine, job.id).payload == expected
    claim_next_job(engine)
    error = {"code": "QA106", "detail": "bad id 110101199003077571", "conversation": "li.lei@example.com"}
    failed = fail(engine, job.id, "w1", error, retry_at=None)
    assert failed is not None
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


def test_claim_more_leases_at_most_its_limit(engine: Engine) -> None:
    """A worker filling a batch takes ``limit`` jobs and leaves the rest to the others (on PostgreSQL
    an ``IN (SELECT … LIMIT … FOR UPDATE SKIP LOCKED)`` leased all 200 to the first worker)."""
    for i in range(200):
        create_job(engine, "chat", {"i": i})
    first = claim_more(engine, "w1", LEASE, "chat", 15)
    second = claim_more(engine, "w2", LEASE, "chat", 15)
    assert (len(first), len(second)) == (15, 15)
    assert not {j.id for j in first} & {j.id for j in second}
    assert all(j.lease_owner == "w1" and j.state == "running" for j in first)
    assert count_by_state(engine).get("queued") == 170
