"""Chat jobs are leased and scored in batches (one pipeline pass for many jobs), yet each is stored
and finished on its own: a bad record in the batch fails alone."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine

from qa_pipeline.jobs import CHAT_JOB, ChatHandler, JobRunner, JobWorker, RetryPolicy, ingest_batch
from qa_pipeline.jobs.batches import TextScorer, batch_dir
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository
from qa_pipeline.store.jobs import count_by_state, list_jobs
from qa_pipeline.types import Conversation
from tests.jobs.sidecar import light_pipeline_config


class Counting(TextScorer):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.passes: list[int] = []

    def many(self, convs: list[Conversation]) -> list[object]:  # type: ignore[override]
        self.passes.append(len(convs))
        return super().many(convs)  # type: ignore[return-value]


def chats(n: int) -> bytes:
    turns = [{"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "我的快递还没到"}]
    return "".join(
        json.dumps({"id": f"cb-{i}", "turns": turns}, ensure_ascii=False) + "\n" for i in range(n)
    ).encode()


def test_forty_chats_in_three_passes_each_stored_once(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"pipeline_config": light_pipeline_config(tmp_path / "p")})
    ingested = ingest_batch(engine, settings, chats(40), filename="c.jsonl", fmt="jsonl")
    scorer = Counting(settings)
    handler = ChatHandler(engine, settings, scorer, scorer.many)
    runner = JobRunner(engine, {CHAT_JOB: handler}, Repository(engine), RetryPolicy(base_s=0.0), 30.0, 16)
    worker = JobWorker(runner)
    while worker.run_once() is not None:
        pass
    assert scorer.passes == [16, 16, 8]
    assert count_by_state(engine)["done"] == 40
    assert {j.attempts for j in list_jobs(engine)} == {1}
    assert Repository(engine).get_conversation("cb-39") is not None
    assert not (batch_dir(settings) / f"{ingested.batch.id}.jsonl").exists()  # all done: the file goes


def test_a_damaged_record_fails_alone_in_its_batch(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"pipeline_config": light_pipeline_config(tmp_path / "p")})
    ingested = ingest_batch(engine, settings, chats(5), filename="c.jsonl", fmt="jsonl")
    path = batch_dir(settings) / f"{ingested.batch.id}.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"x" * len(lines[2])  # the third conversation's bytes damaged on the shared volume
    path.write_bytes(b"\n".join(lines))
    scorer = Counting(settings)
    handler = ChatHandler(engine, settings, scorer, scorer.many)
    runner = JobRunner(engine, {CHAT_JOB: handler}, Repository(engine), RetryPolicy(base_s=0.0), 30.0, 16)
    while JobWorker(runner).run_once() is not None:
        pass
    counts = count_by_state(engine)
    assert (counts["done"], counts["dead"]) == (4, 1)
    [dead] = list_jobs(engine, state="dead")
    assert dead.record == 2 and dead.error is not None and dead.error["code"] == "QA104"


def test_a_batch_whose_id_holds_a_phone_shape_still_runs(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A random batch id can hold 11 digits shaped like a mobile number (180…9286 here, about 1 in
    280 ids): masking the stored payload must not rename the batch file the job reads."""
    settings = settings.model_copy(update={"pipeline_config": light_pipeline_config(tmp_path / "p")})
    phone_shaped = uuid.UUID("ec927466d43045d18012349286d378ab")
    ids = iter([phone_shaped])
    real = uuid.uuid4
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids, None) or real())  # the batch's id, then random
    ingested = ingest_batch(engine, settings, chats(2), filename="c.jsonl", fmt="jsonl")
    assert ingested.batch.id == phone_shaped.hex
    scorer = Counting(settings)
    runner = JobRunner(
        engine,
        {CHAT_JOB: ChatHandler(engine, settings, scorer, scorer.many)},
        Repository(engine),
        RetryPolicy(base_s=0.0),
        30.0,
        16,
    )
    while JobWorker(runner).run_once() is not None:
        pass
    assert count_by_state(engine)["done"] == 2
