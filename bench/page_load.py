"""Page load times of the review workbench: a 30-minute call's conversation page and the review queue
with 10,000 flagged conversations (paginated, 50 a page).

    python -m bench.page_load [--flagged 10000] [--turns 600]

Server time: the request through the ASGI app in-process (template rendering and queries). Browser
time: Debian's Chromium (Playwright) loading the page from a uvicorn server on loopback, until the
load event. Baseline in the same run: the login page (static form), so the ratios show what the
data costs.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session

from api.main import create_app
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.sessions import COOKIE, create_session
from qa_pipeline.access.users import NewUser, add_user
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.settings import Settings
from qa_pipeline.sources.jsonl import conversation_from_dict
from qa_pipeline.store import Repository, init_db
from qa_pipeline.store.models import ConversationRow
from qa_pipeline.store.models_review import QueueRow

LINES = [
    "您好，请问有什么可以帮您？",
    "我的宽带又断了，三天了还没人来修！",
    "非常抱歉给您添麻烦了，我马上帮您查一下。",
    "好的，那你快点。",
    "查到了，维修师傅明天上午九点到十一点上门。",
    "行吧，谢谢。",
]


def long_call(turns: int) -> dict[str, Any]:
    step = 1800.0 / turns
    out = [
        {
            "speaker": "agent" if i % 2 == 0 else "customer",
            "text": LINES[i % len(LINES)],
            "start": round(i * step, 2),
            "end": round(i * step + step * 0.8, 2),
        }
        for i in range(turns)
    ]
    return {
        "id": "long-call",
        "channel": "call",
        "agent_id": "A01",
        "team": "T1",
        "started_at": "2026-04-08T10:00:00+08:00",
        "turns": out,
    }


def flag_many(engine: Any, n: int) -> None:
    now = datetime.now(UTC)
    convs = [
        {
            "id": f"f{i}",
            "agent_id": f"A{i % 100:02d}",
            "team": "T1",
            "own_team": "T1",
            "channel": "chat",
            "started_at": now - timedelta(minutes=i),
            "imported_at": now,
            "updated_at": now,
            "source": "bench",
            "metadata": {},
            "content_hash": "x",
        }
        for i in range(n)
    ]
    rows = [
        {
            "conversation_id": f"f{i}",
            "state": "open",
            "reasons": [{"code": "low_quality", "text": "质检分过低", "detail": ""}],
            "codes": ",low_quality,",
            "due_at": now + timedelta(hours=2) if i % 7 == 0 else None,
            "period_at": now - timedelta(minutes=i),
            "uncertainty": (i % 10) / 10,
            "flagged_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    with Session(engine) as session, session.begin():
        session.execute(insert(ConversationRow), convs)
        session.execute(insert(QueueRow), rows)


def timed(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flagged", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument("--folder", type=Path, default=Path("out/bench-pages"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.folder.mkdir(parents=True, exist_ok=True)
    (args.folder / "qa.db").unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite:///{args.folder / 'qa.db'}", audio_dir=args.folder / "audio")
    engine = init_db(settings.database_url)
    pipeline = Pipeline.from_config(settings=settings)
    Repository(engine).save(pipeline(conversation_from_dict(long_call(args.turns), settings=settings)))
    flag_many(engine, args.flagged)
    who, _ = add_user(engine, NewUser(name="qa-bench", role="qa", password="bench-password"))
    cookie, _csrf = create_session(engine, Principal(user_id=who.id, name=who.name, role=who.role))
    engine.dispose()
    pages = {
        "login (baseline)": "/login",
        "conversation, 30-min call": "/conversations/long-call",
        "queue page 1 of 10,000": "/review",
        "queue page 150": "/review?page=150",
    }
    app = create_app(settings, pipeline=pipeline)
    with TestClient(app, cookies={COOKIE: cookie}) as client:
        server_s = {
            name: timed(lambda p=path: client.get(p).raise_for_status(), 5) for name, path in pages.items()
        }
    browser_s = _browser_times(app, pages, cookie)
    base_server = server_s["login (baseline)"]
    print(
        f"{args.turns}-turn call, {args.flagged} flagged conversations (median of 5 server / 3 browser loads)"
    )
    for name in pages:
        b = browser_s.get(name)
        ratio = f"{server_s[name] / base_server:5.1f}x" if base_server else ""
        shown = f"{b * 1000:7.0f} ms" if b is not None else "   (no chromium)"
        print(f"  {name:<28} server {server_s[name] * 1000:7.1f} ms ({ratio} login)   browser {shown}")


def _browser_times(app: Any, pages: dict[str, str], cookie: str) -> dict[str, float]:
    if not Path("/usr/bin/chromium").is_file():
        return {}
    from playwright.sync_api import sync_playwright

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=8799, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True
            )
            context = browser.new_context()
            context.add_cookies([{"name": COOKIE, "value": cookie, "url": "http://127.0.0.1:8799"}])
            page = context.new_page()
            for name, path in pages.items():
                loads = []
                for _ in range(3):
                    t = time.perf_counter()
                    page.goto("http://127.0.0.1:8799" + path, wait_until="load")
                    loads.append(time.perf_counter() - t)
                out[name] = statistics.median(loads)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    return out


if __name__ == "__main__":
    main()
