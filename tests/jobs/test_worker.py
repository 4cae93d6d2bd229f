"""The worker loop on a real SQLite file: jobs run, fail with typed errors, survive restarts."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine

from qa_pipeline.errors import E, InputError
from qa_pipeline.jobs import (
    CALL_JOB,
    CallHandler,
    CallPayload,
    JobWorker,
    find_job_by_key,
    requeue_interrupted,
    run_job,
    spool_dir,
)
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, claim_next_job, create_job, get_job
from qa_pipeline.store.jobs import Job
from qa_pipeline.types import Conversation
from tests.jobs.sidecar import PipelineFactoryCounter, write_call, write_transcript


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
    """The real handler, except that chosen conversations raise (a bug or bad input)."""

    def __init__(self, base: CallHandler, bad: dict[str, Exception]) -> None:
        super().__init__(base.settings, source=base.source, pipeline_factory=base.pipeline_factory)
        self.bad = bad

    def __call__(self, job: Job) -> Conversation:
        exc = self.bad.get(str(job.payload["conversation_id"]))
        if exc is not None:
            raise exc
        return super().__call__(job)


def wait_finished(engine: Engine, job_id: str, timeout: float = 10.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_job(engine, job_id)
        if job.state in ("done", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def test_run_job_scores_stores_and_cleans_up(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "a")
    claimed = claim_next_job(engine, CALL_JOB)
    assert claimed is not None
    done = run_job(engine, Repository(engine), handler, claimed)
    assert (done.state, done.error) == ("done", None)
    stored = Repository(engine).get_conversation("conv-a")
    assert stored is not None and stored.agent_id == "agent-7" and len(stored.turns) == 3
    assert not (spool_dir(settings) / "a.wav").exists()
    assert get_job(engine, job.id).state == "done"


def test_pipeline_is_built_once_on_the_first_job(
    engine: Engine,
    settings: Settings,
    transcripts: Path,
    handler: CallHandler,
    factory: PipelineFactoryCounter,
) -> None:
    worker = JobWorker(engine, handler, kind=CALL_JOB)
    assert factory.calls == 0
    for name in ("a", "b"):
        queue_call(engine, settings, transcripts, name)
    assert worker.run_once() is not None and worker.run_once() is not None
    assert worker.run_once() is None
    assert factory.calls == 1


def test_worker_survives_failing_jobs(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    bad = {
        "conv-bug": RuntimeError("secret text 13812345678"),
        "conv-bad": InputError(E.AUDIO_UNREADABLE, "truncated"),
    }
    worker = JobWorker(engine, Exploding(handler, bad), kind=CALL_JOB, poll_s=0.05).start()
    try:
        jobs = [queue_call(engine, settings, transcripts, n) for n in ("bug", "bad", "good")]
        worker.notify()
        bug, bad_input, good = (wait_finished(engine, j.id) for j in jobs)
    finally:
        assert worker.stop(timeout=5)
    assert bug.state == "failed" and bug.error is not None
    assert bug.error["code"] == "QA405" and "13812345678" not in str(bug.error)
    assert bad_input.error is not None and bad_input.error["code"] == "QA114"
    assert (good.state, good.error) == ("done", None)
    assert not worker.alive


def test_missing_spool_file_fails_the_job(
    engine: Engine, settings: Settings, transcripts: Path, handler: CallHandler
) -> None:
    job = queue_call(engine, settings, transcripts, "gone")
    (spool_dir(settings) / "gone.wav").unlink()
    assert JobWorker(engine, handler).run_once() is not None
    failed = get_job(engine, job.id)
    assert failed.state == "failed" and failed.error is not None
    assert failed.error["code"] == "QA101" and failed.error["file"] == "orig-gone.wav"


def test_requeue_interrupted_jobs(engine: Engine, settings: Settings, transcripts: Path) -> None:
    crashed = queue_call(engine, settings, transcripts, "crashed")
    assert claim_next_job(engine) is not None  # "running", then the process died
    assert requeue_interrupted(engine) == 1
    again = get_job(engine, crashed.id)
    assert (again.state, again.attempts) == ("queued", 1)
    assert requeue_interrupted(engine) == 0


def test_a_job_that_keeps_killing_its_worker_is_failed(
    engine: Engine, settings: Settings, transcripts: Path
) -> None:
    job = queue_call(engine, settings, transcripts, "poison")
    for _ in range(2):
        assert claim_next_job(engine) is not None
        requeue_interrupted(engine, max_attempts=2)
    failed = get_job(engine, job.id)
    assert failed.state == "failed" and failed.error is not None and failed.error["code"] == "QA405"


def test_stop_without_start_and_idle_stop(engine: Engine, handler: CallHandler) -> None:
    worker = JobWorker(engine, handler, poll_s=10)
    assert worker.stop(timeout=1)
    worker = JobWorker(engine, handler, poll_s=10).start()
    started = time.monotonic()
    assert worker.stop(timeout=5) and time.monotonic() - started < 2  # woken, not left polling


def test_find_job_by_key(engine: Engine, settings: Settings, transcripts: Path) -> None:
    job = queue_call(engine, settings, transcripts, "k", idempotency_key="upload-1")
    found = find_job_by_key(engine, "upload-1")
    assert found is not None and found.id == job.id
    assert find_job_by_key(engine, "upload-2") is None
