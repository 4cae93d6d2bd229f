"""Concurrent audits are scored together, each answered on its own (api.audit_batcher)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from api.audit_batcher import AuditBatcher
from api.state import AppState
from qa_pipeline.errors import E, InputError
from qa_pipeline.pipeline import Stage
from qa_pipeline.types import Conversation, Turn
from tests.api.helpers import post
from tests.api.test_health import _record, _wait_until


def _conv(conv_id: str) -> Conversation:
    return Conversation(id=conv_id, channel="chat", turns=[Turn(speaker="agent", text="您好")])


def test_requests_that_wait_are_run_as_one_batch_and_each_hears_its_own_outcome() -> None:
    batches: list[list[str]] = []
    gate = threading.Event()

    def run(convs: list[Conversation]) -> list[str | BaseException]:
        gate.wait(10)
        batches.append([c.id for c in convs])
        return [ValueError(c.id) if c.id == "bad" else f"ok:{c.id}" for c in convs]

    async def scenario() -> list[str | BaseException]:
        batcher: AuditBatcher[str] = AuditBatcher(run, max_batch=3)
        tasks = [asyncio.create_task(batcher.submit(_conv("a")))]
        await asyncio.sleep(0.05)  # "a" runs alone (the gate holds it); the rest queue behind it
        tasks += [asyncio.create_task(batcher.submit(_conv(i))) for i in ("b", "bad", "c", "d")]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert batches == [["a"], ["b", "bad", "c"], ["d"]]  # at most max_batch a pass, in arrival order
    assert outcomes[:2] == ["ok:a", "ok:b"] and outcomes[3:] == ["ok:c", "ok:d"]
    assert isinstance(outcomes[2], ValueError)  # only the bad one fails


def test_a_failing_batch_runner_fails_its_requests_not_the_next_batch() -> None:
    calls = 0

    def run(convs: list[Conversation]) -> list[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return ["ok" for _ in convs]

    async def scenario() -> tuple[BaseException | str, str]:
        batcher: AuditBatcher[str] = AuditBatcher(run)
        first = await asyncio.gather(batcher.submit(_conv("x")), return_exceptions=True)
        return first[0], await batcher.submit(_conv("y"))

    failed, ok = asyncio.run(scenario())
    assert isinstance(failed, RuntimeError) and ok == "ok"


def test_concurrent_posts_share_pipeline_passes_and_are_all_stored(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: AppState = client.app.state.qa  # type: ignore[attr-defined]
    sizes: list[int] = []
    score_many = state.score_many

    def counted(convs: list[Conversation]) -> list[object]:
        sizes.append(len(convs))
        return score_many(convs)  # type: ignore[return-value]

    monkeypatch.setattr(state, "score_many", counted)
    with ThreadPoolExecutor(max_workers=8) as pool:
        with state._pipeline_lock:  # the first audit holds the pipeline while the others arrive
            posts = [pool.submit(post, client, _record(f"batch-{i}")) for i in range(8)]
            _wait_until(lambda: state.audits_in_flight == 8)
        assert [f.result(timeout=60).status_code for f in posts] == [201] * 8
    assert sum(sizes) == 8 and len(sizes) == 2  # the first alone, then the seven that waited
    for i in range(8):
        assert client.get(f"/v1/conversations/batch-{i}").status_code == 200


class _Breaks(Stage):
    """A fault injected in front of the pipeline: a stage that fails on one conversation id."""

    name = "breaks"

    def __call__(self, conv: Conversation) -> Conversation:
        if conv.id == "boom":
            raise InputError(E.BAD_FIELD, "injected fault", field="turns")
        return conv


def test_one_failing_conversation_in_a_batch_fails_alone(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: AppState = client.app.state.qa  # type: ignore[attr-defined]
    monkeypatch.setattr(state.pipeline, "stages", [_Breaks(), *state.pipeline.stages])
    alone = post(client, _record("boom"))
    assert alone.status_code == 422 and "injected fault" in alone.text
    with ThreadPoolExecutor(max_workers=4) as pool:
        with state._pipeline_lock:
            first = pool.submit(post, client, _record("good-0"))
            _wait_until(lambda: state.audits_in_flight == 1)
            posts = [pool.submit(post, client, _record(i)) for i in ("good-1", "boom", "good-2")]
            _wait_until(lambda: state.audits_in_flight == 4)
        answers = [f.result(timeout=60) for f in (first, *posts)]
    assert [a.status_code for a in answers] == [201, 201, 422, 201]
    assert answers[2].json()["error"] == alone.json()["error"]  # the same answer as when sent alone
    assert client.get("/v1/conversations/boom").status_code == 404


def test_a_request_cancelled_while_waiting_is_not_audited() -> None:
    seen: list[str] = []
    gate = threading.Event()

    def run(convs: list[Conversation]) -> list[str | BaseException]:
        gate.wait(10)
        seen.extend(c.id for c in convs)
        return ["ok" for _ in convs]

    async def scenario() -> None:
        batcher: AuditBatcher[str] = AuditBatcher(run)
        first = asyncio.create_task(batcher.submit(_conv("first")))
        await asyncio.sleep(0.05)
        gone = asyncio.create_task(batcher.submit(_conv("gone")))
        kept = asyncio.create_task(batcher.submit(_conv("kept")))
        await asyncio.sleep(0.05)
        gone.cancel()  # the client went away while the pipeline was busy
        gate.set()
        assert await first == "ok" and await kept == "ok"

    asyncio.run(scenario())
    assert seen == ["first", "kept"]
