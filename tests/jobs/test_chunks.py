"""Chunk jobs: a long recording's chunks shared by several workers (qa_pipeline.jobs.chunks)."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from qa_pipeline.jobs import (
    CALL_JOB,
    CHUNK_JOB,
    CallPayload,
    ChunkHandler,
    JobRunner,
    JobWorker,
    chunks,
    spool_dir,
)
from qa_pipeline.jobs.calls import CallHandler, call_handlers
from qa_pipeline.jobs.chunks import chunk_jobs, shares
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, create_job, get_job, init_db
from qa_pipeline.store.job_leases import claim, complete_in, fail
from qa_pipeline.store.jobs import Job, list_jobs
from qa_pipeline.store.models import utcnow
from qa_pipeline.types import AudioRef, Conversation
from tests.jobs.test_worker import FAST, wait_finished


def _conv(seconds: float, channels: int) -> Conversation:
    audio = AudioRef(path="x.wav", duration_s=seconds, channels=channels)
    return Conversation(id="c", channel="call", turns=[], audio=audio)


def test_shares_give_each_worker_at_least_two_chunks() -> None:
    assert shares(_conv(45, 2), chunk_s=15, most=4) == 3  # 6 chunks
    assert shares(_conv(600, 2), chunk_s=120, most=4) == 4  # 10 chunks, at most 4 shares
    assert shares(_conv(200, 1), chunk_s=120, most=4) == 1  # 2 chunks: not worth a job
    assert shares(_conv(600, 2), chunk_s=120, most=1) == 1  # QA_ASR_CHUNK_JOBS=1: never split
    assert shares(Conversation(id="t", channel="chat", turns=[]), chunk_s=15, most=4) == 1


def test_a_retried_call_job_gets_the_same_chunk_jobs(engine: Engine) -> None:
    parent = create_job(
        engine, CALL_JOB, {"spool_file": "a.wav", "filename": "a.wav", "conversation_id": "a"}
    )
    first = chunk_jobs(engine, parent, 3)
    assert [j.id for j in chunk_jobs(engine, parent, 3)] == [j.id for j in first]
    assert [j.payload["part"] for j in first] == [1, 2] and {j.kind for j in first} == {CHUNK_JOB}


def _queue(engine: Engine, settings: Settings, recording: Path) -> Job:
    folder = spool_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(recording, folder / "long.wav")
    payload = CallPayload(spool_file="long.wav", filename="c0002.wav", conversation_id="long-call")
    return create_job(engine, CALL_JOB, payload.model_dump())


def _texts(engine: Engine) -> list[tuple[str, str]]:
    stored = Repository(engine).get_conversation("long-call")
    assert stored is not None
    return [(t.speaker, t.text) for t in stored.turns]


class CountingChunks(ChunkHandler):
    """The real chunk handler, counting the shares this worker ran."""

    ran = 0

    def __call__(self, job: Job) -> None:
        type(self).ran += 1
        super().__call__(job)


@pytest.mark.slow
@pytest.mark.data
def test_a_long_recording_is_shared_and_gives_the_unshared_transcript(
    shared_data: Path, tmp_path: Path
) -> None:
    recording = shared_data / "conversations_dev" / "audio" / "c0002.wav"  # 45 s stereo: 6-8 chunks of 15 s
    base = {"asr_chunk_s": 15.0, "job_lease_s": 30.0}
    # the reference: one worker, no sharing (QA_ASR_CHUNK_JOBS=1)
    alone = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.db'}", audio_dir=tmp_path / "a", asr_chunk_jobs=1, **base
    )
    engine_a = init_db(alone.database_url)
    job = _queue(engine_a, alone, recording)
    JobRunner(engine_a, call_handlers(alone, engine_a), Repository(engine_a), FAST).run(_claim(engine_a, job))
    reference = _texts(engine_a)
    assert reference and list_jobs(engine_a, kind=CHUNK_JOB) == []

    # two workers: the call job's worker does its share, the other takes the others
    shared = Settings(
        database_url=f"sqlite:///{tmp_path / 'b.db'}", audio_dir=tmp_path / "b", asr_chunk_jobs=4, **base
    )
    engine_b = init_db(shared.database_url)
    workers = []
    for _ in range(2):
        calls = CallHandler(shared, engine=engine_b)
        assert calls.asr_stage is not None  # built before the job arrives: no worker is still loading
        handlers = {CALL_JOB: calls, CHUNK_JOB: CountingChunks(calls)}
        workers.append(JobWorker(JobRunner(engine_b, handlers, Repository(engine_b), FAST), poll_s=0.05))
    CountingChunks.ran = 0
    for w in workers:
        w.start()
    try:
        job = _queue(engine_b, shared, recording)
        assert wait_finished(engine_b, job.id, timeout=300).state == "done"
    finally:
        for w in workers:
            w.stop(timeout=60)
    parts = list_jobs(engine_b, kind=CHUNK_JOB)
    assert len(parts) >= 2 and {p.state for p in parts} == {"done"}  # the call job's share and the others
    assert CountingChunks.ran >= 1  # at least one share ran on a worker's own claim
    assert _texts(engine_b) == reference
    assert not (shared.audio_dir / "chunks" / job.id).exists()  # the call job removed its chunks


@pytest.mark.slow
@pytest.mark.data
def test_alone_the_call_job_takes_every_share_itself(shared_data: Path, tmp_path: Path) -> None:
    recording = shared_data / "conversations_dev" / "audio" / "c0002.wav"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'q.db'}", audio_dir=tmp_path / "s", asr_chunk_s=15.0
    )
    engine = init_db(settings.database_url)
    job = _queue(engine, settings, recording)
    started = time.monotonic()
    finished = JobRunner(engine, call_handlers(settings, engine), Repository(engine), FAST).run(
        _claim(engine, job)
    )
    assert finished is not None and finished.state == "done" and time.monotonic() - started < 240
    assert {p.state for p in list_jobs(engine, kind=CHUNK_JOB)} == {"done"}  # no idle worker was needed
    # a share whose call job has ended does nothing (a late duplicate message)
    [late, *_] = list_jobs(engine, kind=CHUNK_JOB)
    assert CallHandler(settings, engine=engine).prefill_share(late) == 0
    assert get_job(engine, job.id).state == "done"


def _claim(engine: Engine, job: Job) -> Job:
    claimed = claim(engine, job.id, "test-owner", 30.0)
    assert claimed is not None
    return claimed


def _shares(engine: Engine, n: int) -> list[Job]:
    payload = {"spool_file": "a.wav", "filename": "a.wav", "conversation_id": "a"}
    return chunk_jobs(engine, create_job(engine, CALL_JOB, payload), n + 1)


def test_the_call_job_runs_queued_shares_itself_and_closes_what_nobody_runs(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "POLL_S", 0.02)
    queued, waiting, failing, lost = _shares(engine, 4)
    fail(
        engine,
        claim(engine, waiting.id, "w", 30).id,
        "w",
        {"code": "QA406"},
        retry_at=utcnow() + timedelta(hours=1),
    )  # type: ignore[union-attr]
    claim(engine, lost.id, "gone", -1.0)  # running, its lease already expired: its worker was killed
    ran: list[int] = []

    def run_share(job: Job) -> None:
        ran.append(int(job.payload["part"]))
        if job.id == failing.id:
            raise RuntimeError("decoder crashed")

    chunks.ShareWaiter(engine, "call-owner", 30.0, run_share).finish([queued, waiting, failing, lost])
    assert sorted(ran) == [1, 3]  # the queued ones; neither the retry nor the lost one was waited for
    states = {j.id: get_job(engine, j.id).state for j in (queued, waiting, failing, lost)}
    assert states == {queued.id: "done", waiting.id: "done", failing.id: "done", lost.id: "done"}
    # the failed share is closed like the others (its chunks were decoded by the call job), not left
    # "dead" for an admin to re-run; its error stays on record
    assert get_job(engine, failing.id).error["code"]
    assert claim(engine, waiting.id, "late", 30) is None  # a late run cannot decode them again


def test_the_call_job_waits_for_a_share_another_worker_is_running(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "POLL_S", 0.02)
    [share] = _shares(engine, 1)
    assert claim(engine, share.id, "other-worker", 30.0) is not None

    def other_worker_finishes() -> None:
        time.sleep(0.3)
        with engine.begin() as conn:
            complete_in(conn, share.id, "other-worker")

    threading.Thread(target=other_worker_finishes).start()
    started = time.monotonic()
    chunks.ShareWaiter(engine, "call-owner", 30.0, lambda job: None).finish([share])
    assert time.monotonic() - started >= 0.25 and get_job(engine, share.id).state == "done"
