"""Faults the job machinery must absorb: the storage volume filling up mid-job (a real tmpfs of a few
MB), and 30 % injected transient failures beside one poison job, with two workers."""

from __future__ import annotations

import errno
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from qa_pipeline.errors import E, StorageError
from qa_pipeline.jobs import CALL_JOB, CallHandler, CallPayload, JobRunner, JobWorker, RetryPolicy, spool_dir
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.recordings import recording_path
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository, create_job, get_job, init_db
from qa_pipeline.store.jobs import Job, count_by_state, list_jobs
from qa_pipeline.types import AudioRef, Conversation
from tests.api.helpers import LIGHT_STAGES
from tests.jobs.sidecar import SidecarSource, write_call, write_transcript

FAST = RetryPolicy(max_attempts=4, base_s=0.0, jitter=0.0)


class RecordedSource(SidecarSource):
    """The sidecar transcript with the recording attached, as the audio reader attaches it: the
    ``recording`` stage then writes the silenced copy into the storage folder."""

    def __call__(self, path: Path, payload: CallPayload, settings: Settings) -> Conversation:
        conv = super().__call__(path, payload, settings)
        conv.audio = AudioRef(path=str(path), format="wav", channels=2, sample_rate=16_000, duration_s=1.0)
        return conv


def recording_pipeline(folder: Path, settings: Settings) -> Pipeline:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "recording.yaml"
    stages = [*LIGHT_STAGES, "recording"]
    config.write_text("name: rec\nstages:\n" + "".join(f"  - stage: {s}\n" for s in stages))
    return Pipeline.from_config(config, settings=settings)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (needs root; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write until the volume is full; the filler file (delete it to give the space back)."""
    filler = folder / "filler.bin"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_storage_volume_mid_job_is_a_typed_error_and_the_job_runs_once_space_returns(
    tmp_path: Path, small_disk: Path
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}", audio_dir=small_disk)
    engine = init_db(settings.database_url)
    transcripts = tmp_path / "transcripts"
    spool_dir(settings).mkdir(parents=True)
    write_call(spool_dir(settings) / "c1.wav", seconds=4.0)  # the silenced copy needs ~256 KB
    write_transcript(transcripts, "c1.wav")
    payload = CallPayload(spool_file="c1.wav", filename="c1.wav", conversation_id="disk-1")
    job = create_job(engine, CALL_JOB, payload.model_dump())
    pipeline = recording_pipeline(tmp_path / "pipeline", settings)
    handler = CallHandler(settings, source=RecordedSource(transcripts), pipeline_factory=lambda _s: pipeline)
    worker = JobWorker(JobRunner(engine, {CALL_JOB: handler}, Repository(engine), FAST))
    filler = fill(small_disk)

    assert worker.run_once() is not None
    waiting = get_job(engine, job.id)
    assert waiting.state == "retry_wait" and waiting.error is not None
    assert (waiting.error["code"], waiting.error["stage"]) == ("QA504", "recording")
    assert not list(small_disk.glob("*.partial"))  # no half-written copy left taking space
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"

    filler.unlink()  # space returns
    assert worker.run_once() is not None
    done = get_job(engine, job.id)
    assert (done.state, done.attempts, done.error) == ("done", 2, None)
    assert recording_path(settings, "disk-1").is_file()
    assert Repository(engine).get_conversation("disk-1") is not None
    engine.dispose()


class Flaky:
    """A chat-like handler: 30 % of the jobs first fail with a transient error (database busy, disk
    full) once or twice; the poison conversation crashes on every attempt."""

    def __init__(self, rng: random.Random, pipeline: Pipeline, ids: list[str]) -> None:
        self.pipeline = pipeline
        self.lock = threading.Lock()
        self.failures = 0
        self.flaky = {i: rng.randint(1, 2) for i in rng.sample(ids, k=int(0.3 * len(ids)))}

    def __call__(self, job: Job) -> Conversation:
        from qa_pipeline.sources.jsonl import conversation_from_dict

        conv_id = str(job.payload["id"])
        if conv_id == "poison":
            raise ZeroDivisionError("the decoder blew up")
        if job.attempts <= self.flaky.get(conv_id, 0):
            with self.lock:
                self.failures += 1
            if job.attempts % 2:
                raise StorageError(E.DATABASE, "database is locked")
            raise OSError(errno.ENOSPC, "No space left on device")
        turns = [{"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "谢谢"}]
        conv = conversation_from_dict({"id": conv_id, "turns": turns}, settings=Settings())
        return self.pipeline(conv)

    def cleanup(self, job: Job) -> None:
        return None


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = init_db(f"sqlite:///{tmp_path / 'faults.db'}")
    yield eng
    eng.dispose()


def test_transient_failures_all_recover_and_the_poison_job_is_dead_after_n_attempts(
    engine: Engine, tmp_path: Path
) -> None:
    config = tmp_path / "light.yaml"
    config.write_text("name: light\nstages:\n" + "".join(f"  - stage: {s}\n" for s in LIGHT_STAGES))
    pipeline = Pipeline.from_config(config, settings=Settings())
    names = [f"c{i:03d}" for i in range(60)]
    ids = [create_job(engine, "flaky", {"id": name}).id for name in names]
    poison = create_job(engine, "flaky", {"id": "poison"}).id
    handler = Flaky(random.Random(11), pipeline, names)
    runners = [JobRunner(engine, {"flaky": handler}, Repository(engine), FAST) for _ in range(2)]
    workers = [JobWorker(r, poll_s=0.02).start() for r in runners]
    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline and count_by_state(engine)["done"] + count_by_state(engine)["dead"] < 61
    ):
        time.sleep(0.1)
    for w in workers:
        assert w.stop(timeout=10)
    assert handler.failures >= 18  # 18 of 60 jobs failed at least once
    assert all(get_job(engine, i).state == "done" for i in ids)
    dead = get_job(engine, poison)
    assert (dead.state, dead.attempts) == ("dead", FAST.max_attempts)
    assert dead.error is not None and dead.error["code"] == "QA405"
    assert [j.id for j in list_jobs(engine, state="dead")] == [poison]
