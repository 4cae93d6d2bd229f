"""Audit a stream of conversations: run the pipeline in batches, store results, report problems.

Shared by ``qa audit``, ``qa eval`` and the API so they behave the same. A bad record or a
conversation a stage cannot process is reported and skipped; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from qa_pipeline.errors import E, InputError, QAError, StorageError
from qa_pipeline.pipeline import BatchHandle, Failure, Pipeline, one_ahead
from qa_pipeline.store import Repository
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """A record or conversation that was skipped, and why."""

    error: QAError
    conversation_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"conversation": self.conversation_id or self.error.record, **self.error.to_dict()}


@dataclass
class AuditSummary:
    audited: int = 0
    stored: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


OnDone = Callable[[Conversation], None]


@dataclass(frozen=True)
class _Pending:
    """A batch handed to the pipeline, and the bad records read with it."""

    handle: BatchHandle
    problems: list[Problem]

    @property
    def ahead(self) -> bool:
        """Worker processes are scoring it: the next batch may be started before it is stored."""
        return self.handle.ahead


def _batches(items: Iterable[Conversation | QAError], size: int) -> Iterator[list[Conversation | QAError]]:
    batch: list[Conversation | QAError] = []
    for item in items:
        batch.append(item)
        if sum(isinstance(b, Conversation) for b in batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _unique(items: Iterable[Conversation | QAError]) -> Iterator[Conversation | QAError]:
    """The same conversation id twice in one run is ambiguous: audit the first, report the others."""
    seen: dict[str, str | None] = {}
    for item in items:
        if isinstance(item, Conversation) and item.id in seen:
            first = seen[item.id] or "an earlier input"
            yield InputError(E.DUPLICATE_ID, f"also in {first}", file=item.source, record=item.id)
            continue
        if isinstance(item, Conversation):
            seen[item.id] = item.source
        yield item


class Auditor:
    """Runs the pipeline over conversations and stores each result (when a repository is given)."""

    def __init__(
        self, pipeline: Pipeline, repository: Repository | None = None, batch_size: int = 32
    ) -> None:
        self.pipeline = pipeline
        self.repository = repository
        self.batch_size = batch_size

    def run(
        self,
        items: Iterable[Conversation | QAError],
        on_done: OnDone | None = None,
        on_item: Callable[[], None] | None = None,
    ) -> AuditSummary:
        summary = AuditSummary()
        for pending in one_ahead(self._start(batch) for batch in _batches(_unique(items), self.batch_size)):
            self._finish_batch(pending, summary, on_done, on_item)
        return summary

    def _start(self, batch: list[Conversation | QAError]) -> _Pending:
        convs = [b for b in batch if isinstance(b, Conversation)]
        problems = [Problem(b) for b in batch if isinstance(b, QAError)]
        return _Pending(self.pipeline.start_batch(convs), problems)

    def _finish_batch(
        self,
        pending: _Pending,
        summary: AuditSummary,
        on_done: OnDone | None,
        on_item: Callable[[], None] | None,
    ) -> None:
        summary.problems += pending.problems
        for out in pending.handle.result():
            self._finish(out, summary, on_done)
            if on_item:
                on_item()

    def _finish(self, out: Conversation | Failure, summary: AuditSummary, on_done: OnDone | None) -> None:
        if isinstance(out, Failure):
            log.warning("%s", out.error.message)
            summary.problems.append(Problem(out.error, out.conversation_id))
            return
        if self.repository is not None:
            try:
                summary.stored[_save(self.repository, out)] += 1
            except QAError as exc:
                log.warning("%s", exc.message)
                summary.problems.append(Problem(exc, out.id))
                return
        summary.audited += 1
        if on_done:
            on_done(out)


def _save(repository: Repository, conv: Conversation) -> str:
    """Store ``conv``; an unexpected exception becomes a StorageError so the batch goes on.

    Only the exception's type goes into the error (its text may quote stored values, i.e.
    personal data); the traceback is logged at DEBUG level.
    """
    try:
        return repository.save(conv).status
    except QAError:
        raise
    except Exception as exc:
        log.debug("saving %s failed", conv.id, exc_info=True)
        detail = f"unexpected {type(exc).__name__} while saving (traceback at log level DEBUG)"
        raise StorageError(E.DATABASE, detail, record=conv.id) from exc
