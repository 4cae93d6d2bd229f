"""Webhooks against a real HTTP server on loopback: signature, retry with backoff, dead after N,
and no duplicate effect when a delivery arrives twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from qa_pipeline.access.audit_log import Actor
from qa_pipeline.access.principal import SYSTEM
from qa_pipeline.store import Repository, init_db
from qa_pipeline.store.models import utcnow
from qa_pipeline.store.models_access import DeliveryRow
from qa_pipeline.webhooks import MAX_ATTEMPTS, Sender, WebhookCreate, deliveries, register
from tests.store.factory import make_conversation

ADMIN = Actor(SYSTEM, "test")


class Receiver(ThreadingHTTPServer):
    """A subscriber that checks signatures, fails the first ``fail_first`` requests, and applies each
    delivery's effect once (keyed by X-QA-Delivery), like a well-behaved KPI system."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = ""
        self.fail_first = 0
        self.requests = 0
        self.bad_signatures = 0
        self.effects: dict[str, dict[str, object]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        srv = self.server
        srv.requests += 1
        expected = (
            "sha256="
            + hmac.new(
                srv.secret.encode(), self.headers["X-QA-Timestamp"].encode() + b"." + body, hashlib.sha256
            ).hexdigest()
        )
        if not hmac.compare_digest(expected, self.headers["X-QA-Signature"]):
            srv.bad_signatures += 1
            self._answer(401)
            return
        if srv.requests <= srv.fail_first:
            self._answer(503)
            return
        srv.effects.setdefault(self.headers["X-QA-Delivery"], json.loads(body))  # idempotent effect
        self._answer(204)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = init_db(f"sqlite:///{tmp_path / 'qa.db'}")
    yield eng
    eng.dispose()


def _subscribe(engine: Engine, receiver: Receiver, events: list[str]) -> str:
    hook = register(engine, WebhookCreate.model_validate({"url": receiver.url, "events": events}), ADMIN)
    receiver.secret = hook.secret
    return hook.id


def test_a_scored_conversation_is_delivered_signed(engine: Engine, receiver: Receiver) -> None:
    hook = _subscribe(engine, receiver, ["scored", "flagged"])
    conv = make_conversation("c1")
    conv.emotion_index = 20.0  # severe negative emotion: flagged too
    Repository(engine).save(conv)
    assert Sender(engine).run_once() == 2
    events = sorted(e["event"] for e in receiver.effects.values())  # type: ignore[type-var]
    assert events == ["flagged", "scored"] and receiver.bad_signatures == 0
    scored = next(e for e in receiver.effects.values() if e["event"] == "scored")
    assert scored["data"]["conversation_id"] == "c1" and scored["data"]["quality_index"] == 72.5  # type: ignore[index]
    assert {d.state for d in deliveries(engine, hook)} == {"delivered"}


def test_failures_are_retried_with_backoff_then_delivered_once(engine: Engine, receiver: Receiver) -> None:
    _subscribe(engine, receiver, ["scored"])
    receiver.fail_first = 2
    Repository(engine).save(make_conversation("c1"))
    sender, now = Sender(engine), utcnow()
    assert sender.run_once(now) == 1 and receiver.effects == {}
    assert sender.run_once(now) == 0  # not due again yet: backoff
    assert sender.run_once(now + timedelta(seconds=5)) == 1  # second failure
    assert sender.run_once(now + timedelta(seconds=5 + 10)) == 1
    assert len(receiver.effects) == 1 and receiver.requests == 3
    # the same delivery arriving again (e.g. the answer was lost) changes nothing on the receiver
    with Session(engine) as session, session.begin():
        row = session.query(DeliveryRow).one()
        row.state = "pending"
    sender.run_once(now + timedelta(hours=1))
    assert receiver.requests == 4 and len(receiver.effects) == 1


def test_an_unreachable_subscriber_ends_dead_after_the_last_attempt(
    engine: Engine, receiver: Receiver
) -> None:
    hook = _subscribe(engine, receiver, ["scored"])
    receiver.fail_first = 10**6
    Repository(engine).save(make_conversation("c1"))
    sender, now = Sender(engine), utcnow()
    for attempt in range(MAX_ATTEMPTS):
        now += timedelta(hours=2)
        assert sender.run_once(now) == 1, attempt
    [delivery] = deliveries(engine, hook)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("dead", MAX_ATTEMPTS, 503)
    assert sender.run_once(now + timedelta(days=1)) == 0


def test_only_subscribed_events_are_queued(engine: Engine, receiver: Receiver) -> None:
    _subscribe(engine, receiver, ["reviewed"])
    Repository(engine).save(make_conversation("c1"))
    assert Sender(engine).run_once() == 0


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookCreate.model_validate({"url": "file:///etc/passwd", "events": ["scored"]})


def test_a_broken_subscriber_does_not_hold_up_the_others(engine: Engine, receiver: Receiver) -> None:
    import http.client

    from qa_pipeline.webhooks import http_post

    _subscribe(engine, receiver, ["scored"])
    broken = register(
        engine, WebhookCreate.model_validate({"url": "http://broken.invalid/", "events": ["scored"]}), ADMIN
    )

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        if "broken" in url:
            raise http.client.BadStatusLine("not HTTP")
        return http_post(url, body, headers)

    Repository(engine).save(make_conversation("c1"))
    assert Sender(engine, post).run_once() == 2
    assert len(receiver.effects) == 1
    [failed] = deliveries(engine, broken.id)
    assert (failed.state, failed.attempts) == ("pending", 1) and "BadStatusLine" in (failed.last_error or "")
