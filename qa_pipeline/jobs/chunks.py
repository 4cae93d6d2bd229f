"""Chunk jobs: a long recording's transcription shared by several workers.

A ``call`` job whose recording holds at least four chunks (``QA_ASR_CHUNK_S`` each, per channel)
splits the chunks into ``parts`` shares, up to ``QA_ASR_CHUNK_JOBS``: chunk ``i`` belongs to share
``i % parts``. Share 0 is the call job's own; each other share is an ``asr_chunk`` job (idempotency
key ``<call job>:chunk:<share>``, so a retried call job finds the ones it made) that any worker may
claim. Every finished chunk lands in the call job's checkpoint folder (``QA_AUDIO_DIR/chunks/<job>/``),
so the work is never done twice on purpose and never lost: a worker killed mid-share leaves its
finished chunks, and its job is retried like any other.

After its own share the call job takes every share still queued (nothing waits for an idle worker
that does not exist), waits for the shares other workers are running, then transcribes the recording
as usual: the finished chunks are read back, and the chunks of a share that failed (``retry_wait`` or
``dead``) are decoded there and then. The shares nobody finished are then closed as ``done`` without a
result (a share the call job's worker took and that failed keeps its error): their work was done.
An ``asr_chunk`` job whose call job has ended does nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field
from sqlalchemy import Engine

from qa_pipeline.jobs.payload import JobPayload
from qa_pipeline.jobs.retry import job_error
from qa_pipeline.jobs.worker import Heartbeat
from qa_pipeline.store.job_leases import claim, close_unfinished, complete_in, fail
from qa_pipeline.store.jobs import Job, create_job, jobs_by_id
from qa_pipeline.store.models import utcnow
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)

CHUNK_JOB = "asr_chunk"
MIN_CHUNKS_PER_SHARE = 2
POLL_S = 1.0


class ChunkPayload(JobPayload):
    """An ``asr_chunk`` job: which call job it works for, and which share of its chunks."""

    parent: str = Field(description="the call job whose recording this share belongs to")
    part: int = Field(ge=0)
    parts: int = Field(ge=2)


def shares(conv: Conversation, chunk_s: float, most: int) -> int:
    """How many shares a recording's chunks are split into (1: not split)."""
    audio = conv.audio
    if audio is None or not audio.duration_s or most < 2:
        return 1
    chunks = math.ceil(audio.duration_s / chunk_s) * max(1, audio.channels or 1)
    return max(1, min(most, chunks // MIN_CHUNKS_PER_SHARE))


def chunk_jobs(engine: Engine, parent: Job, parts: int) -> list[Job]:
    """The call job's ``asr_chunk`` jobs, shares 1..parts-1 (made once; a retry gets the same ones)."""
    return [
        create_job(
            engine,
            CHUNK_JOB,
            ChunkPayload(parent=parent.id, part=part, parts=parts).model_dump(mode="json"),
            idempotency_key=f"{parent.id}:chunk:{part}",
        )
        for part in range(1, parts)
    ]


RunShare = Callable[[Job], object]


@dataclass
class ShareWaiter:
    """The call job's side once its own share is done: take queued shares, wait for running ones."""

    engine: Engine
    owner: str
    lease_s: float
    run_share: RunShare  # runs one claimed asr_chunk job to the end
    limit_s: float = 4 * 3600.0  # never longer than a worker's own job limit (QA_JOB_TIME_LIMIT_S)

    def finish(self, jobs: list[Job]) -> None:
        """Return once no share is queued or running under a live lease. The shares not done then
        (failed, waiting for a retry, or their worker lost) are closed: the call job decodes their
        chunks itself, and a late run of them must not decode them again."""
        ids = [j.id for j in jobs]
        pending = set(ids)
        deadline = time.monotonic() + self.limit_s
        while pending and time.monotonic() < deadline:
            for job_id in sorted(pending):
                stolen = claim(self.engine, job_id, self.owner, self.lease_s)
                if stolen is not None:
                    self._run(stolen)
            still = {j.id for j in jobs_by_id(self.engine, sorted(pending)) if _live(j)}
            if still and still == pending:
                time.sleep(POLL_S)
            pending = still
        closed = close_unfinished(self.engine, ids)
        if closed:
            log.info("%d shares not finished by others; the call job decodes their chunks", closed)

    def _run(self, job: Job) -> None:
        """Run a share this worker claimed; a failure only means the call job decodes its chunks."""
        log.info("call job's share %s taken by its own worker", job.id)
        try:
            with Heartbeat(self.engine, [job.id], self.owner, self.lease_s):
                self.run_share(job)
            with self.engine.begin() as conn:
                complete_in(conn, job.id, self.owner)
        except Exception as exc:  # the share's chunks are decoded by the call job itself instead
            log.warning("share %s failed (%s); the call job decodes its chunks", job.id, type(exc).__name__)
            # not ``dead`` (nothing is lost, and an admin would re-run work already done): the error
            # is kept, and no worker may take the share again before finish() closes it as done
            later = utcnow() + timedelta(seconds=self.limit_s)
            fail(self.engine, job.id, self.owner, job_error(exc), retry_at=later)


def _live(job: Job) -> bool:
    """Queued, or running under a lease that has not expired (its worker still beats)."""
    if job.state == "queued":
        return True
    expires = job.lease_expires_at
    return job.state == "running" and expires is not None and expires > utcnow()
