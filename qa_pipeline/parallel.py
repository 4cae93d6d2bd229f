"""Run a text pipeline in several worker processes, so a batch audit uses every core.

The stages are CPU-bound Python (jieba, regular expressions, scikit-learn), so threads would share
one core. :class:`ProcessPipeline` starts ``workers`` processes (``spawn``: nothing half-initialised
is inherited); each builds the pipeline once from the same settings and pipeline YAML, then takes
slices of every batch. Results come back in input order; a conversation that fails in a worker
comes back as its :class:`Failure`, like in-process. ``QA_WORKERS`` (or ``qa audit --workers``)
sets the number; 1 runs in-process.

Results travel as JSON, so they come back as JSON carries them: what the importers produce (metadata
of JSON values, finite numbers) comes back equal (``tests/test_parallel.py``); a tuple in metadata
comes back a list, a non-finite number in an optional field None, and one in a required field, or
metadata JSON cannot hold, fails that conversation (typed) rather than the batch.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from qa_pipeline.errors import StageError
from qa_pipeline.pipeline import BatchHandle, Failure, Pipeline, settle_heap
from qa_pipeline.settings import Settings
from qa_pipeline.types import Conversation

log = logging.getLogger(__name__)

# conversations per slice sent to a worker: a pipeline pass has a fixed cost (each model's call, numpy
# on small arrays), about 0.5 ms a conversation more in slices of 16 than of 64 (bench/text_throughput)
PART = 64
_WORKER_PIPELINE: list[Pipeline] = []  # the one pipeline of a worker process (set by _init)


def _init(settings: dict[str, Any], config: str | None) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one process per core: native thread pools would oversubscribe the cores
    logging.basicConfig(level=settings.get("log_level", "WARNING"))
    built = Settings.model_validate(settings)
    _WORKER_PIPELINE.append(Pipeline.from_config(Path(config) if config else None, settings=built))
    settle_heap()


def _run(batch: list[Conversation]) -> list[str | Failure]:
    """Score a slice; each result travels as its JSON (pydantic writes and reads that in compiled
    code: a scored conversation pickles in about 0.7 ms and unpickles in as long, its JSON takes 0.1 ms
    to write and about 0.3 ms to read)."""
    return [_encode(out) for out in _WORKER_PIPELINE[0].run_batch(batch)]


def _encode(out: Conversation | Failure) -> str | Failure:
    if isinstance(out, Failure):
        return out
    try:
        return out.model_dump_json()
    except (PydanticSerializationError, ValueError, TypeError) as exc:  # e.g. metadata that is no JSON
        log.warning("the result of %s cannot be written as JSON: %s", out.id, type(exc).__name__)
        detail = "its result cannot be sent back from the worker process as JSON (metadata that is no JSON?)"
        return Failure(out.id, StageError("transport", detail, record=out.id))


def _decode(out: str | Failure, conversation_id: str) -> Conversation | Failure:
    """A worker's result read back. A value JSON cannot carry (a stage that produced a NaN or an
    infinite number in a required field: a bug) fails that conversation, typed, not the batch."""
    if isinstance(out, Failure):
        return out
    try:
        return Conversation.model_validate_json(out)
    except ValidationError as exc:
        log.warning(
            "the result of %s did not survive the transport from its worker: %s", conversation_id, exc
        )
        detail = "its result could not be read back from the worker process (a non-finite number?)"
        return Failure(conversation_id, StageError("transport", detail, record=conversation_id))


@dataclass(frozen=True)
class _Started:
    ids: list[list[str]]  # each slice's conversation ids, in order
    parts: list[Future[list[str | Failure]]]

    @property
    def ahead(self) -> bool:
        return True

    def result(self) -> list[Conversation | Failure]:
        return [
            _decode(out, cid)
            for ids, part in zip(self.ids, self.parts, strict=True)
            for out, cid in zip(part.result(), ids, strict=True)
        ]


def split(batch: list[Conversation], parts: int) -> list[list[Conversation]]:
    """``parts`` contiguous slices of nearly equal size (empty ones dropped), order kept."""
    size, extra = divmod(len(batch), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        if end > start:
            out.append(batch[start:end])
        start = end
    return out


class ProcessPipeline(Pipeline):
    """``run_batch`` spread over worker processes; use as a context manager (or call ``close``)."""

    def __init__(self, settings: Settings, workers: int, config: Path | None = None) -> None:
        super().__init__([], name=f"processes-{workers}")
        self.workers = workers
        ctx = multiprocessing.get_context("spawn")
        state = settings.model_dump(mode="json")
        self.pool = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init, initargs=(state, str(config) if config else None)
        )

    def run_batch(self, batch: list[Conversation]) -> list[Conversation | Failure]:
        return self.start_batch(batch).result()

    def start_batch(self, batch: list[Conversation]) -> BatchHandle:
        """Slices of at most about :data:`PART` conversations (at least one per worker) go to the workers
        at once; the caller stores an earlier batch meanwhile (``one_ahead``), so the workers do not
        wait for this process to read a batch's results."""
        parts = split(batch, max(self.workers, -(-len(batch) // PART)))
        return _Started(
            [[c.id for c in part] for part in parts], [self.pool.submit(_run, part) for part in parts]
        )

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ProcessPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
