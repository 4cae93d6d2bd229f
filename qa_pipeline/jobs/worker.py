"""Running leased jobs: :class:`JobRunner` (one job, with a heartbeat, exactly-once result) and
:class:`JobWorker` (the embedded deployment's worker thread: claim → run → repeat, reaping the leases
of workers that died).

The runner knows nothing of FastAPI or Dramatiq: it needs an engine, handlers by job kind (job →
scored conversation), a :class:`~qa_pipeline.store.Repository` and a :class:`RetryPolicy`. The
Dramatiq actor (:mod:`qa_pipeline.jobs.dramatiq_queue`) claims the job its message names and calls
the same :meth:`JobRunner.run`.

A job's result is stored and the job marked ``done`` in one transaction
(:func:`~qa_pipeline.store.job_leases.complete_in`): a worker killed before the commit leaves
neither, one killed after it leaves both, and a worker that lost its lease has its result rolled back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

from sqlalchemy import Engine

from qa_pipeline.errors import QAError
from qa_pipeline.jobs.retry import RetryPolicy, is_permanent, job_error, worker_lost_error
from qa_pipeline.store import Repository
from qa_pipeline.store.job_leases import (
    LeaseLost,
    claim_more,
    claim_next,
    complete_in,
    expired,
    fail,
    reap,
    renew,
)
from qa_pipeline.store.jobs import Job, get_job
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)

POLL_S = 1.0
REAP_EVERY_S = 5.0


class JobHandler(Protocol):
    """Turns a claimed job into a scored conversation; ``cleanup`` runs once the job is finished."""

    def __call__(self, job: Job) -> Conversation | None: ...

    def cleanup(self, job: Job) -> None: ...


class BatchHandler(JobHandler, Protocol):
    """A handler that scores several jobs in one pipeline pass (each outcome, or its error, in order)."""

    def many(self, jobs: list[Job]) -> list[Conversation | Exception]: ...


def new_owner(prefix: str = "") -> str:
    """A lease owner name unique to this process and call: host, pid and a random suffix."""
    return f"{prefix}{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Heartbeat:
    """Renews the leases of the running jobs every third of ``lease_s`` on its own thread.

    The runner calls :meth:`settle` before the write that stores or fails a job: a renewal refused after
    that (the write ended the lease between two beats) is the job's end, not a lost lease, and goes
    unreported."""

    def __init__(self, engine: Engine, job_ids: list[str], owner: str, lease_s: float) -> None:
        self.engine, self.job_ids, self.owner, self.lease_s = engine, job_ids, owner, lease_s
        self._stop = threading.Event()
        self._settling: set[str] = set()  # jobs whose final write has begun
        self._thread = threading.Thread(target=self._beat, name=f"qa-heartbeat-{job_ids[0][:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def settle(self, job_id: str) -> None:
        """The write that stores or fails ``job_id`` begins (its lease is still renewed until it ends)."""
        self._settling.add(job_id)

    def _beat(self) -> None:
        live = list(self.job_ids)
        while live and not self._stop.wait(self.lease_s / 3):
            for job_id in list(live):
                try:
                    if not renew(self.engine, job_id, self.owner, self.lease_s):
                        self._lost(job_id)
                        live.remove(job_id)
                except QAError as exc:  # the database is briefly unreachable: try again next beat
                    log.warning("job %s: cannot renew the lease: %s", job_id, exc)

    def _lost(self, job_id: str) -> None:
        if job_id in self._settling:  # being finished by its runner (which reports a lost lease itself)
            log.debug("job %s: finished; the heartbeat stops", job_id)
        else:
            log.warning("job %s: lease lost; its result will not be stored", job_id)


@dataclass
class JobRunner:
    """Runs claimed jobs of the kinds it has handlers for."""

    engine: Engine
    handlers: Mapping[str, JobHandler]
    repository: Repository
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    lease_s: float = 30.0
    batch_size: int = 1  # jobs of a batch-capable kind leased and scored together

    @property
    def kinds(self) -> list[str]:
        return sorted(self.handlers)

    def run(self, job: Job) -> Job | None:
        """Process ``job`` (leased to ``job.lease_owner``) and record the outcome: ``done``, ``retry_wait``
        or ``dead``; None when the lease was lost meanwhile. Never raises for the job's own failure.

        For a handler that scores batches, up to ``batch_size - 1`` more due jobs of the same kind are
        leased and scored in the same pipeline pass; each is still stored and finished on its own."""
        handler = self.handlers[job.kind]
        if self.batch_size > 1 and hasattr(handler, "many"):
            more = claim_more(self.engine, job.lease_owner or "", self.lease_s, job.kind, self.batch_size - 1)
            return self._run_many(cast(BatchHandler, handler), [job, *more])[0]
        owner = job.lease_owner or ""
        with Heartbeat(self.engine, [job.id], owner, self.lease_s) as beat:
            try:
                self._process(job, owner, beat)
                finished: Job | None = get_job(self.engine, job.id)
            except LeaseLost:
                log.warning("job %s: lease lost before the result was stored; dropped", job.id)
                return None
            except Exception as exc:  # any failure belongs to the job, not the worker
                beat.settle(job.id)
                finished = self._failed(job, owner, exc)
        if finished is not None and (finished.state == "done" or _bad_input(finished)):
            self._cleanup(finished)
        return finished

    def _process(self, job: Job, owner: str, beat: Heartbeat) -> None:
        conv = self.handlers[job.kind](job)
        beat.settle(job.id)
        self._store(job, owner, conv)

    def _store(self, job: Job, owner: str, conv: Conversation | None) -> None:
        if conv is None:  # a job whose work is its side effect (an asr_chunk share): done, no result
            with self.engine.begin() as conn:
                complete_in(conn, job.id, owner)
            return
        outcome = self.repository.save(conv, within=lambda session: complete_in(session, job.id, owner))
        log.info("job %s: conversation %s %s", job.id, outcome.conversation_id, outcome.status)

    def _run_many(self, handler: BatchHandler, jobs: list[Job]) -> list[Job | None]:
        owner = jobs[0].lease_owner or ""
        with Heartbeat(self.engine, [j.id for j in jobs], owner, self.lease_s) as beat:
            try:
                outputs = handler.many(jobs)
            except Exception as exc:  # the whole pass failed (the database, a bug): each job's failure
                outputs = [exc] * len(jobs)
            finished: list[Job | None] = []
            for job, out in zip(jobs, outputs, strict=True):
                beat.settle(job.id)
                finished.append(self._finish_one(job, owner, out))
            # a failed pass's exception holds this frame (its traceback), which holds the exception:
            # unlinked here, the cycle and the inputs it pins go with the frame, not at a later collection
            del outputs, out
        for ended in finished:
            if ended is not None and (ended.state == "done" or _bad_input(ended)):
                self._cleanup(ended)
        return finished

    def _finish_one(self, job: Job, owner: str, output: Conversation | Exception) -> Job | None:
        if isinstance(output, Exception):  # not re-raised: that would tie this frame into a cycle
            return self._failed(job, owner, output)
        try:
            self._store(job, owner, output)
            return get_job(self.engine, job.id)
        except LeaseLost:
            log.warning("job %s: lease lost before the result was stored; dropped", job.id)
            return None
        except Exception as exc:
            return self._failed(job, owner, exc)

    def _failed(self, job: Job, owner: str, exc: Exception) -> Job | None:
        permanent = is_permanent(exc)
        retry_at = self.policy.next_run(job.attempts, permanent)
        log.warning(
            "job %s attempt %d failed (%s): %s",
            job.id,
            job.attempts,
            "dead" if retry_at is None else f"retry at {retry_at:%H:%M:%S}",
            str(exc) if isinstance(exc, QAError) else type(exc).__name__,  # a kept record pins no frames
        )
        log.debug("job %s traceback", job.id, exc_info=exc)
        return fail(self.engine, job.id, owner, job_error(exc), retry_at=retry_at)

    def _cleanup(self, job: Job) -> None:
        try:
            self.handlers[job.kind].cleanup(job)
        except OSError as exc:
            log.warning("job %s: cannot clean up: %s", job.id, exc)

    def reap(self) -> int:
        """Send jobs whose worker stopped heart-beating to ``retry_wait`` (or ``dead`` after the last
        attempt); how many were taken."""
        taken = 0
        for job in expired(self.engine):
            retry_at = self.policy.next_run(job.attempts, permanent=False)
            if reap(self.engine, job, worker_lost_error(job.attempts), retry_at=retry_at):
                log.warning("job %s: worker %s lost; %s", job.id, job.lease_owner, _fate(retry_at))
                taken += 1
        return taken


def _fate(retry_at: object) -> str:
    return "dead after its last attempt" if retry_at is None else "retried"


def _bad_input(job: Job) -> bool:
    """A dead job whose input is bad: nothing an admin re-run could fix, so its files may go."""
    code = (job.error or {}).get("code", "")
    return job.state == "dead" and isinstance(code, str) and code.startswith("QA1")


class JobWorker:
    """The embedded deployment's worker: one thread claiming and running due jobs until :meth:`stop`;
    :meth:`notify` wakes it early. It also reaps expired leases every ``REAP_EVERY_S`` seconds, so a
    job of a process that was killed runs again once its lease has lapsed."""

    def __init__(self, runner: JobRunner, *, poll_s: float = POLL_S, owner: str | None = None) -> None:
        self.runner = runner
        self.poll_s = poll_s
        self.owner = owner or new_owner()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._reaped_at = 0.0

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> JobWorker:
        if self.alive:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="qa-jobs", daemon=True)
        self._thread.start()
        return self

    def notify(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to end after the current job; True when it ended within ``timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run_once(self) -> Job | None:
        """Reap if it is time, then claim and process one due job; None when none is due."""
        if time.monotonic() - self._reaped_at >= REAP_EVERY_S:
            self._reaped_at = time.monotonic()
            self.runner.reap()
        job = claim_next(self.runner.engine, self.owner, self.runner.lease_s, kinds=self.runner.kinds)
        if job is None:
            return None
        return self.runner.run(job) or job

    def _loop(self) -> None:
        log.info("job worker %s started (kinds %s)", self.owner, ", ".join(self.runner.kinds))
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception:  # the database is down, or a bug: log it, wait, go on
                log.exception("job worker: cannot claim or finish a job")
                done = None
            if done is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
        log.info("job worker %s stopped", self.owner)
