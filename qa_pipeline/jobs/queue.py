"""How the API hands new jobs to workers. The row is already committed when :meth:`JobQueue.submit`
is called; submitting only says "look now", so a lost notice delays a job but never loses it (the
embedded workers poll, the Dramatiq sweeper re-sends overdue jobs)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qa_pipeline.jobs.worker import JobWorker

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    def submit(self, job_ids: Sequence[str]) -> None: ...

    def close(self, timeout: float | None = None) -> bool: ...


@dataclass
class EmbeddedQueue:
    """``QA_QUEUE=embedded``: worker threads in this process, woken on submit."""

    workers: list[JobWorker] = field(default_factory=list)

    def start(self) -> EmbeddedQueue:
        for worker in self.workers:
            worker.start()
        return self

    def submit(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            for worker in self.workers:
                worker.notify()

    def close(self, timeout: float | None = None) -> bool:
        """Stop every worker after its current job; True when all ended within ``timeout`` each."""
        return all([worker.stop(timeout) for worker in self.workers])
