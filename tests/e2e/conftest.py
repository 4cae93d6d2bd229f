"""A real server on loopback for the browser tests, seeded with two teams, users of every role and
a call with a recording; Debian's Chromium driven by Playwright (no browser download).

The tests skip with a message where Chromium or Playwright is missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from api.main import create_app
from qa_pipeline.access.users import NewUser, add_user
from qa_pipeline.pipeline import Pipeline
from qa_pipeline.recordings import store_recording
from qa_pipeline.settings import Settings
from qa_pipeline.sources.jsonl import conversation_from_dict
from qa_pipeline.store import Repository, init_db
from qa_pipeline.types import AudioRef
from tests.asr.audio_files import tone, write_wav

CHROMIUM = Path("/usr/bin/chromium")
PASSWORDS = {
    "sup1": "sup1-password",
    "sup2": "sup2-password",
    "wang": "wang-password",
    "kpi1": "kpi1-password",
    "qa1": "qa1-password",
}
USERS = {
    "sup1": {"role": "supervisor", "team": "T1"},
    "sup2": {"role": "supervisor", "team": "T2"},
    "wang": {"role": "agent", "agent_id": "A01"},
    "kpi1": {"role": "kpi"},
    "qa1": {"role": "qa"},
}
CALL_TURNS = [
    ("agent", "您好，星联通信客服，工号二零六，请问有什么可以帮您？", 0.5, 4.0),
    ("customer", "你们这速度太慢了，我的宽带三天了还没修好！", 4.5, 8.0),
    ("agent", "你自己看短信通知，随便你。", 9.0, 11.0),
    ("customer", "我要投诉你们！", 11.5, 13.0),
    ("agent", "好的，再见。", 14.0, 15.0),
]


def _record(conv_id: str, agent: str, team: str, channel: str = "call") -> dict[str, Any]:
    return {
        "id": conv_id,
        "channel": channel,
        "agent_id": agent,
        "team": team,
        "started_at": "2026-04-08T10:00:00+08:00",
        "turns": [{"speaker": s, "text": t, "start": a, "end": b} for s, t, a, b in CALL_TURNS],
    }


@dataclass
class Site:
    base: str
    folder: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(settings: Settings, folder: Path) -> None:
    engine = init_db(settings.database_url)
    try:
        for name, fields in USERS.items():
            add_user(engine, NewUser(name=name, password=PASSWORDS[name], **fields))  # type: ignore[arg-type]
        pipeline = Pipeline.from_config(settings=settings)
        repo = Repository(engine)
        for conv_id, agent, team in [
            ("call-t1", "A01", "T1"),
            ("call-t1b", "A02", "T1"),
            ("call-t2", "A05", "T2"),
        ]:
            conv = pipeline(conversation_from_dict(_record(conv_id, agent, team), settings=settings))
            repo.save(conv)
            wav = write_wav(
                folder / f"{conv_id}.wav", np.stack([tone(8000, 16.0, 440.0), tone(8000, 16.0, 660.0)]), 8000
            )
            conv.audio = AudioRef(path=str(wav), format="wav", channels=2, sample_rate=8000, duration_s=16.0)
            store_recording(conv, settings)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    settings = Settings(database_url=f"sqlite:///{folder / 'qa.db'}", audio_dir=folder / "audio")
    _seed(settings, folder)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.started, "the test server did not start"
    yield Site(f"http://127.0.0.1:{port}", folder)
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def login(page: Any, site: Site, user: str) -> None:
    page.goto(site.base + "/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (axe is injected by the test)."""
    script = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
    page.add_script_tag(content=script)
    result = page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    return [v for v in json.loads(result) if v.get("impact") in ("serious", "critical")]
