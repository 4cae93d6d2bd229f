"""The runner and the embedded worker on a real SQLite file: jobs run, retry transient failures with
backoff, bury bad input, survive killed workers (leases), and store each result exactly once."""

from __future__ import annotations

import gc
import logging
import time
import weakref
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from qa_pipeline.errors import E, InputError, StorageError
from qa_pipeline.jobs import CALL_JOB, CallHandler, CallPayload, JobRunner, JobWorker, RetryPolicy, spool_dir
from qa_pipeline.jobs.worker import Heartbeat
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, create_job, get_job
from qa_pipeline.store.job_leases import claim_next, complete_in, fail
from qa_pipeline.store.jobs import Job, find_job_by_key
from qa_pipeline.store.models import JobRow, ResultRow, utcnow
from qa_pipeline.types import Conversation
from tests.jobs.sidecar import PipelineFactoryCounter, write_call, write_transcript

FAST = RetryPolicy(max_attempts=3, base_s=0.0, jitter=0.0)


def runner(
    engine: Engine, handler: CallHandler, policy: RetryPolicy = FAST, lease_s: float = 30.0
) -> JobRunner:
    return JobRunner(engine, {CALL_JOB: handler}, Repository(engine), policy, lease_s)


def queue_call(engine: Engine, settings: Settings, transcripts: Path, name: str, **kw: object) -> Job:
    """Spool a WAV with its sidecar transcript and queue a job for it."""
    folder = spool_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    write_call(folder / f"{name}.wav")
    write_transcript(transcripts, f"orig-{name}.wav")
    payload = CallPayload(
        spool_file=f"{name}.wav",
        filename=f"orig-{name}.wav",
        conversation_id=f"conv-{name}",
        metadata={"agent_id": "agent-7", "team": "north"},
    )
    return create_job(engine, CALL_JOB, payload.model_dump(), **kw)  # type: ignore[arg-type]


class Exploding(CallHandler):
    """The real handler, except that chosen conversations raise (a bug or bad input) on their first
    ``times`` attempts."""

    def __init__(self, base: CallHandler, bad: dict[str, Exception], times: int = 100) -> None:
        super().__init__(base.settings, source=base.source, pipeline_factory=base.pipeline_factory)
        self.bad = bad
        self.times = times

    def __call__(self, job: Job) -> Conversation:
        exc = self.bad.get(str(job.payload["conversation_id"]))
        if exc is not None and job.attempts <= self.times:
            raise exc
        return super().__call__(job)


def wait_finished(engine: Engine, job_id: str, timeout: float = 10.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_job(engine, job_id)
        if job.state in ("done", "dead"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def results(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ResultRow)) or 0)


def test_run_scores_stores_and_cleans_up(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "a")
    claimed = claim_next(engine, "w1", 30.0)
    assert claimed is not None
    done = runner(engine, handler).run(claimed)
    assert done is not None and (done.state, done.error, done.lease_owner) == ("done", None, None)
    stored = Repository(engine).get_conversation("conv-a")
    assert stored is not None and stored.agent_id == "agent-7" and len(stored.turns) == 3
    assert not (spool_dir(settings) / "a.wav").exists()
    assert get_job(engine, job.id).state == "done" and results(engine) == 1


def test_pipeline_is_built_once_on_the_first_job(
    engine: Engine,
    settings: Settings,
    transcripts: Path,
    handler: CallHandler,
    factory: PipelineFactoryCounter,
) -> None:
    worker = JobWorker(runner(engine, handler))
    assert factory.calls == 0
    for name in ("a", "b"):
        queue_call(engine, settings, transcripts, name)
    assert worker.run_once() is not None and worker.run_once() is not None
    assert worker.run_once() is None
    assert factory.calls == 1


def test_worker_retries_transient_failures_and_buries_bad_input(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    bad = {
        "conv-bug": RuntimeError("secret text 13812345678"),
        "conv-bad": InputError(E.AUDIO_UNREADABLE, "truncated"),
        "conv-busy": StorageError(E.DATABASE, "database is locked"),
    }
    worker = JobWorker(runner(engine, Exploding(handler, bad, times=1)), poll_s=0.05).start()
    try:
        jobs = [queue_call(engine, settings, transcripts, n) for n in ("bug", "bad", "busy", "good")]
        worker.notify()
        bug, bad_input, busy, good = (wait_finished(engine, j.id) for j in jobs)
    finally:
        assert worker.stop(timeout=5)
    assert (bug.state, bug.attempts, bug.error) == ("done", 2, None)  # a transient failure, then success
    assert (busy.state, busy.attempts) == ("done", 2)
    assert (bad_input.state, bad_input.attempts) == ("dead", 1)  # bad input is never retried
    assert bad_input.error is not None and bad_input.error["code"] == "QA114"
    assert (good.state, good.attempts) == ("done", 1)
    assert not worker.alive


def test_a_job_failing_every_time_is_dead_after_max_attempts_with_its_error(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "bug")
    worker = JobWorker(runner(engine, Exploding(handler, {"conv-bug": RuntimeError("x 13812345678")})))
    while worker.run_once() is not None:
        pass
    dead = get_job(engine, job.id)
    assert (dead.state, dead.attempts) == ("dead", FAST.max_attempts)
    assert dead.error is not None and dead.error["code"] == "QA405" and "13812345678" not in str(dead.error)
    assert (spool_dir(settings) / "bug.wav").exists()  # kept for an admin's re-run


def test_missing_spool_file_kills_the_job_at_once(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "gone")
    (spool_dir(settings) / "gone.wav").unlink()
    assert JobWorker(runner(engine, handler)).run_once() is not None
    dead = get_job(engine, job.id)
    assert (dead.state, dead.attempts) == ("dead", 1) and dead.error is not None
    assert dead.error["code"] == "QA101" and dead.error["file"] == "orig-gone.wav"


def expire_leases(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(JobRow.__table__.update().values(lease_expires_at=utcnow() - timedelta(seconds=1)))


def test_a_killed_workers_job_is_reaped_and_run_once_by_another(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "crashed")
    assert claim_next(engine, "killed-worker", 30.0) is not None  # then SIGKILL: no heartbeat any more
    expire_leases(engine)
    survivor = JobWorker(runner(engine, handler))
    assert survivor.run_once() is not None  # reaps, then claims and runs it
    again = get_job(engine, job.id)
    assert (again.state, again.attempts) == ("done", 2) and results(engine) == 1


def test_a_job_that_keeps_killing_its_worker_is_dead(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "poison")
    run = runner(engine, handler)
    for n in range(FAST.max_attempts):
        assert claim_next(engine, f"victim-{n}", 30.0) is not None
        expire_leases(engine)
        assert run.reap() == 1
    dead = get_job(engine, job.id)
    assert dead.state == "dead" and dead.error is not None and dead.error["code"] == "QA406"


class StolenLease(CallHandler):
    """Scores the call, but meanwhile the lease lapses and another worker takes the job."""

    def __init__(self, base: CallHandler, engine: Engine) -> None:
        super().__init__(base.settings, source=base.source, pipeline_factory=base.pipeline_factory)
        self.engine = engine

    def __call__(self, job: Job) -> Conversation:
        conv = super().__call__(job)
        with self.engine.begin() as conn:
            conn.execute(JobRow.__table__.update().values(lease_owner="someone-else"))
        return conv


def test_a_worker_that_lost_its_lease_stores_nothing(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "slow")
    claimed = claim_next(engine, "w1", 30.0)
    assert claimed is not None
    assert runner(engine, StolenLease(handler, engine)).run(claimed) is None
    assert results(engine) == 0 and Repository(engine).get_conversation("conv-slow") is None
    assert get_job(engine, job.id).lease_owner == "someone-else"


def test_the_heartbeat_keeps_a_long_job_leased(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    class Slow(CallHandler):
        def __call__(self, job: Job) -> Conversation:
            time.sleep(2.5)  # longer than the lease: only the heartbeat keeps it
            return handler(job)

    job = queue_call(engine, settings, transcripts, "long")
    claimed = claim_next(engine, "w1", 1.5)
    assert claimed is not None
    done = runner(engine, Slow(settings), lease_s=1.5).run(claimed)
    assert done is not None and done.state == "done" and get_job(engine, job.id).attempts == 1


def test_stop_without_start_and_idle_stop(engine: Engine, handler: CallHandler) -> None:
    worker = JobWorker(runner(engine, handler), poll_s=10)
    assert worker.stop(timeout=1)
    worker = JobWorker(runner(engine, handler), poll_s=10).start()
    started = time.monotonic()
    assert worker.stop(timeout=5) and time.monotonic() - started < 2  # woken, not left polling


def test_find_job_by_key(engine: Engine, settings: Settings, transcripts: Path) -> None:
    job = queue_call(engine, settings, transcripts, "k", idempotency_key="upload-1")
    found = find_job_by_key(engine, "upload-1")
    assert found is not None and found.id == job.id
    assert find_job_by_key(engine, "upload-2") is None


def _beat_until(
    engine: Engine,
    job_id: str,
    change: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
    *,
    settling: bool,
) -> list[str]:
    """A heartbeat on a job leased to w1 while ``change`` happens (announced as the runner's own final
    write with ``settle`` when ``settling``); the warnings it logged."""
    caplog.set_level(logging.DEBUG, logger="qa_pipeline.jobs.worker")
    with Heartbeat(engine, [job_id], "w1", lease_s=0.09) as beat:
        if settling:
            beat.settle(job_id)
        change()
        time.sleep(0.15)  # several beats after the change
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _leased(engine: Engine) -> Job:
    job = create_job(engine, CALL_JOB, {})
    assert claim_next(engine, "w1", 30.0) is not None
    return job


def test_a_heartbeat_after_its_runner_stored_the_job_says_nothing(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    job = _leased(engine)

    def store() -> None:
        with engine.begin() as conn:
            complete_in(conn, job.id, "w1")

    # stored between two beats: found on the first multi-host run as a false "lease lost"
    assert _beat_until(engine, job.id, store, caplog, settling=True) == []
    assert get_job(engine, job.id).state == "done"


def test_a_heartbeat_after_its_runner_failed_the_job_says_nothing(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad-input chat in a batch: failed (retry_wait or dead) while the others are still scored."""
    job = _leased(engine)
    assert _beat_until(engine, job.id, lambda: _fail(engine, job.id), caplog, settling=True) == []
    assert get_job(engine, job.id).state == "dead"


def _fail(engine: Engine, job_id: str) -> None:
    fail(engine, job_id, "w1", {"code": "QA101"}, retry_at=None)


def test_a_heartbeat_whose_lease_was_taken_warns(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    job = _leased(engine)

    def taken() -> None:  # the lease lapsed and another worker claimed the job
        with engine.begin() as conn:
            conn.execute(JobRow.__table__.update().values(lease_owner="w2"))

    warnings = _beat_until(engine, job.id, taken, caplog, settling=False)
    assert warnings == [f"job {job.id}: lease lost; its result will not be stored"]


def test_a_job_finished_by_another_worker_warns(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """Reaped and done elsewhere: the state alone looks like the runner's own finish; it is a loss."""
    job = _leased(engine)

    def done_elsewhere() -> None:
        with engine.begin() as conn:
            conn.execute(JobRow.__table__.update().values(lease_owner="w2"))
            complete_in(conn, job.id, "w2")

    warnings = _beat_until(engine, job.id, done_elsewhere, caplog, settling=False)
    assert warnings == [f"job {job.id}: lease lost; its result will not be stored"]


class _SideEffect:
    """A job kind whose work is a side effect (no conversation), or that fails with bad input."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def __call__(self, job: Job) -> None:
        if self.error is not None:
            raise self.error

    def many(self, jobs: list[Job]) -> list[Conversation | Exception | None]:
        return [self.error if self.error is not None else None for _ in jobs]

    def cleanup(self, job: Job) -> None:
        pass


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("error", [None, InputError(E.EMPTY_CONVERSATION, "no turns")], ids=["done", "dead"])
def test_the_runner_settles_its_jobs_before_the_final_write(
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    batch: int,
    error: Exception | None,
) -> None:
    """Beats keep coming after the runner stored or failed its jobs (a slow read after the write):
    no false "lease lost" is logged, because the runner announced each final write (settle)."""
    import qa_pipeline.jobs.worker as worker_module

    def slowly(write: Callable[..., Job | None]) -> Callable[..., Job | None]:
        def after(*args: object, **kw: object) -> Job | None:
            job = write(*args, **kw)
            time.sleep(0.12)  # four beats of a 0.09 s lease
            return job

        return after

    monkeypatch.setattr(worker_module, "get_job", slowly(get_job))  # read after a stored result
    monkeypatch.setattr(worker_module, "fail", slowly(fail))  # returned by the write that fails a job
    jobs = [create_job(engine, "side", {}) for _ in range(batch)]
    first = claim_next(engine, "w1", 0.09)
    assert first is not None
    run = JobRunner(engine, {"side": _SideEffect(error)}, Repository(engine), FAST, 0.09, batch)
    caplog.set_level(logging.DEBUG, logger="qa_pipeline.jobs.worker")
    run.run(first)
    lost = [r.getMessage() for r in caplog.records if "lease lost" in r.getMessage()]
    assert lost == []
    assert {get_job(engine, j.id).state for j in jobs} == {"done" if error is None else "dead"}


class _Pinned:
    """Stands for what a failed pass's frames hold (a batch's audio)."""


class _FailingPass(_SideEffect):
    def __init__(self) -> None:
        super().__init__()
        self.pinned: list[weakref.ref[_Pinned]] = []

    def many(self, jobs: list[Job]) -> list[Conversation | Exception | None]:
        inputs = _Pinned()
        self.pinned.append(weakref.ref(inputs))
        raise StorageError(E.DATABASE, "the database went away")


def test_a_failed_pass_leaves_no_cycle_pinning_its_inputs(engine: Engine) -> None:
    """With the collector off, what the failed pass's frames held is freed when the runner returns
    (the exception was kept in the caller's frame, which its traceback holds: a cycle, before)."""
    jobs = [create_job(engine, "side", {}) for _ in range(3)]
    first = claim_next(engine, "w1", 30.0)
    assert first is not None
    handler = _FailingPass()
    gc.disable()
    try:
        JobRunner(engine, {"side": handler}, Repository(engine), FAST, 30.0, 3).run(first)
        assert [ref() for ref in handler.pinned] == [None]
    finally:
        gc.enable()
    assert {get_job(engine, j.id).state for j in jobs} == {"retry_wait"}
