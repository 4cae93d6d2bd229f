"""When a failed job runs again: which errors are worth retrying, and after how long.

An error in the job's *input* (a typed :class:`~qa_pipeline.errors.InputError`: not audio, a bad
record) fails the same way every time: the job is ``dead`` at once. Anything else (the database
busy or down, the disk full, the worker killed, a bug that may depend on memory pressure) is
*transient*: the job waits ``base_s · 2^(attempt-1)`` seconds (capped at ``max_s``, with ±``jitter``
so that jobs failed together do not come back together) and runs again, until ``max_attempts``
starts have been made; then it is ``dead``, with its last error, for an admin to re-run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from qa_pipeline.errors import E, InputError, QAError, StageError, disk_full_error, is_disk_full
from qa_pipeline.settings import Settings
from qa_pipeline.store.models import utcnow


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a job is retried (``QA_JOB_MAX_ATTEMPTS``, ``QA_JOB_RETRY_BASE_S``, …)."""

    max_attempts: int = 5
    base_s: float = 2.0
    max_s: float = 300.0
    jitter: float = 0.25

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.job_max_attempts,
            base_s=settings.job_retry_base_s,
            max_s=settings.job_retry_max_s,
        )

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        raw = min(self.max_s, self.base_s * 2 ** max(0, attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, raw * (1 + spread))

    def next_run(self, attempts: int, permanent: bool, now: datetime | None = None) -> datetime | None:
        """When to run again after ``attempts`` starts; None: the job is dead."""
        if permanent or attempts >= self.max_attempts:
            return None
        return (now or utcnow()) + timedelta(seconds=self.delay_s(attempts))


def _cause(exc: BaseException) -> BaseException:
    """A stage's typed error behind the :class:`StageError` that carries it."""
    return exc.cause if isinstance(exc, StageError) and exc.cause is not None else exc


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying cannot help: the input itself is bad."""
    return isinstance(_cause(exc), InputError)


def job_error(exc: BaseException) -> dict[str, Any]:
    """The error stored on a failed job: the typed error (a stage's own cause, with the stage named);
    a full disk as ``QA504``; a bug as ``QA405`` without its message (it may quote the data)."""
    cause = _cause(exc)
    if isinstance(cause, QAError):
        stage = {"stage": exc.stage} if isinstance(exc, StageError) else {}
        return {**cause.to_dict(), **stage}
    if is_disk_full(cause):
        return disk_full_error(cause).to_dict()
    return QAError(E.STAGE_CRASHED, f"{type(exc).__name__} while processing the job").to_dict()


def worker_lost_error(attempts: int) -> dict[str, Any]:
    """The error a reaped job carries: its worker stopped heart-beating."""
    return QAError(E.WORKER_LOST, f"the worker stopped during attempt {attempts}").to_dict()
