"""Latency of the KPI pull: ``GET /v1/indices`` for a team of 100 agents over 30 days of 20,000 conversations.

    python -m bench.kpi_latency [--conversations 20000] [--agents 100] [--days 30] [--requests 20]
                                [--postgres postgresql+psycopg://...]   (default: QA_TEST_POSTGRES_URL)

Builds the store once per database (SQLite file, and PostgreSQL when a URL is given): the results are
real pipeline outputs of the dev dialogues (or the examples), cloned with new ids, agents and start
times, with 5 % of conversations carrying human verdicts. Then it times, in-process through the ASGI
app (the HTTP server's own overhead is not included):

- ``GET /v1/indices?team=T1&from=..&to=..&period=day`` (one request for every agent-day of the team),
- the baseline: what a KPI system had to do before, one ``GET /v1/agents/{id}/indices`` per agent
  (100 requests for one 30-day figure each), timed once,

and prints the first (computed) pull, p50/p99 of repeated pulls (answered from the KPI cache while
nothing changed: what a polling KPI system sees) and the ratio baseline / computed pull.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from api.main import create_app
from bench.scratch_db import reset_postgres
from bench.text_throughput import DEFAULT_DATA, EXAMPLES
from qa_pipeline.access.users import NewUser, add_user
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.review.verdicts import Decision
from qa_pipeline.settings import Settings
from qa_pipeline.sources.jsonl import conversation_from_dict
from qa_pipeline.store import init_db
from qa_pipeline.store.kpi_facts import facts_of
from qa_pipeline.store.models import ConversationRow, ResultRow
from qa_pipeline.store.reviews import add_verdict
from qa_pipeline.types import Conversation, ConversationResult

log = logging.getLogger("bench")
START = datetime(2026, 3, 1, tzinfo=UTC)


def templates(settings: Settings) -> list[ConversationResult]:
    """Real results: the default pipeline over the dev dialogues (or the bundled examples)."""
    import json

    path = DEFAULT_DATA if DEFAULT_DATA.is_file() else EXAMPLES
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    pipeline = Pipeline.from_config(settings=settings)
    convs = pipeline.pipe([conversation_from_dict(r, settings=settings) for r in rows])
    return [c.to_result() for c in convs if isinstance(c, Conversation)]


def populate(engine: Engine, base: list[ConversationResult], n: int, agents: int, days: int) -> None:
    """``n`` conversations over ``days`` days for ``agents`` agents in teams of 100 (bulk inserts)."""
    rng = random.Random(0)
    with Session(engine) as session, session.begin():
        for start in range(0, n, 1000):
            convs, results = [], []
            for i in range(start, min(n, start + 1000)):
                agent = f"A{i % agents:03d}"
                when = START + timedelta(seconds=rng.uniform(0, days * 86400))
                result = rng.choice(base).model_copy(
                    update={
                        "id": f"b{i}",
                        "agent_id": agent,
                        "team": f"T{1 + (i % agents) // 100}",
                        "started_at": when,
                    }
                )
                convs.append(_conversation_row(result, when))
                results.append(_result_row(result))
            session.execute(insert(ConversationRow), convs)
            session.execute(insert(ResultRow), results)
        current = (
            select(ResultRow.id).where(ResultRow.conversation_id == ConversationRow.id).scalar_subquery()
        )
        session.execute(update(ConversationRow).values(current_result_id=current))
        _human_verdicts(session, rng, n)


def _conversation_row(r: ConversationResult, when: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "agent_id": r.agent_id,
        "team": r.team,
        "channel": r.channel,
        "started_at": when,
        "imported_at": when,
        "updated_at": when,
        "source": "bench",
        "metadata": {},
        "content_hash": "x",
    }


def _result_row(r: ConversationResult) -> dict[str, Any]:
    return {
        "conversation_id": r.id,
        "rubric_version": r.versions.rubric,
        "pipeline_version": r.versions.pipeline,
        "models_version": "bench",
        "content_hash": "x",
        "quality_index": r.quality_index,
        "emotion_index": r.emotion_index,
        "grade": r.grade,
        "result": r.model_dump(mode="json"),
        "facts": facts_of(r),
        "created_at": datetime.now(UTC),
    }


def _human_verdicts(session: Session, rng: random.Random, n: int) -> None:
    for i in rng.sample(range(n), n // 20):
        d = Decision(
            conversation_id=f"b{i}",
            item="empathy",
            verdict="pass",
            machine_verdict="fail",
            source="review",
            user_name="bench",
            created_at=datetime.now(UTC),
        )
        add_verdict(session, d, "bench")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, base: list[ConversationResult], args: argparse.Namespace, folder: Path) -> None:
    settings = Settings(database_url=url, audio_dir=folder / "audio")
    engine = init_db(url)
    t0 = time.perf_counter()
    populate(engine, base, args.conversations, args.agents, args.days)
    _user, token = add_user(engine, NewUser(name=f"kpi-{uuid.uuid4().hex[:6]}", role="kpi"))
    engine.dispose()
    log.info("stored %d conversations in %.1f s", args.conversations, time.perf_counter() - t0)
    headers = {"Authorization": f"Bearer {token}"}
    period = {"from": "2026-03-01", "to": "2026-03-31"}
    with TestClient(create_app(settings, pipeline=Pipeline(stages=[], name="bench"))) as client:
        pull = dict(period, team="T1", period="day")
        first = client.get("/v1/indices", params=pull, headers=headers)
        assert first.status_code == 200, first.text
        rows = len(first.json()["rows"])
        computed = []
        for _ in range(args.computed):
            client.app.state.qa.kpi_cache.clear()  # type: ignore[attr-defined]
            t = time.perf_counter()
            assert client.get("/v1/indices", params=pull, headers=headers).status_code == 200
            computed.append(time.perf_counter() - t)
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            assert client.get("/v1/indices", params=pull, headers=headers).status_code == 200
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        for a in range(min(args.agents, 100)):
            assert (
                client.get(f"/v1/agents/A{a:03d}/indices", params=period, headers=headers).status_code == 200
            )
        baseline = time.perf_counter() - t
    p50, p99 = _percentile(times, 0.5), _percentile(times, 0.99)
    name = url.split(":", 1)[0]
    c50, c99 = _percentile(computed, 0.5), _percentile(computed, 0.99)
    ms = lambda v: f"{v * 1000:7.1f} ms"  # noqa: E731
    print(f"{name}: {rows} rows (agent-days)")
    print(f"  computed ({len(computed)} requests, cache cleared)  p50 {ms(c50)}  p99 {ms(c99)}")
    print(f"  repeated ({len(times)} requests, answered from cache)  p50 {ms(p50)}  p99 {ms(p99)}")
    print(f"  baseline: 100 x GET /v1/agents/{{id}}/indices {ms(baseline)} = {baseline / c50:.1f}x the pull")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20, help="repeated (cached) pulls")
    parser.add_argument("--computed", type=int, default=5, help="pulls with the cache cleared first")
    parser.add_argument("--postgres", default=os.environ.get("QA_TEST_POSTGRES_URL"))
    parser.add_argument("--folder", type=Path, default=Path("out/bench-kpi"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("alembic", "httpx", "httpx2", "qa_pipeline", "api"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args.folder.mkdir(parents=True, exist_ok=True)
    base = templates(Settings())
    db = args.folder / "kpi.db"
    db.unlink(missing_ok=True)
    print(
        f"GET /v1/indices: {args.conversations} conversations, {args.agents} agents, {args.days} days; "
        f"{args.requests} requests per database"
    )
    measure(f"sqlite:///{db}", base, args, args.folder)
    if args.postgres:
        reset_postgres(args.postgres)
        measure(args.postgres, base, args, args.folder)
    else:
        print("postgresql: skipped (pass --postgres URL or set QA_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
