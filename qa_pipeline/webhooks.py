"""Webhooks: signed event deliveries to the KPI system or any subscriber, retried, logged.

Events: ``scored`` (a new result stored), ``flagged`` (a conversation entered the review queue),
``reviewed`` (a human changed verdicts), ``appealed`` (an appeal was filed or decided).

Delivery is an outbox: :func:`enqueue` adds one ``webhook_deliveries`` row per subscribed hook in the
caller's transaction (so an event is recorded exactly when its change commits); :class:`Sender`
posts due rows. Each POST carries ``X-QA-Event``, ``X-QA-Delivery`` (the delivery id: the same on
every retry, so a receiver drops duplicates), ``X-QA-Timestamp`` (Unix seconds) and
``X-QA-Signature: sha256=HEX`` = HMAC-SHA256(secret, ``"{timestamp}.{body}"``). A 2xx marks it
delivered; anything else is retried after ``BACKOFF_S × 2^(attempt−1)`` (capped) until
``MAX_ATTEMPTS``, then ``dead``. Every attempt is logged and kept on the row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from qa_pipeline.errors import E, InputError, NotFoundError
from qa_pipeline.store.models import utcnow
from qa_pipeline.store.models_access import DeliveryRow, WebhookRow

if TYPE_CHECKING:  # the audit log imports the store, which imports this module
    from qa_pipeline.access.audit_log import Actor

log = logging.getLogger(__name__)

Event = Literal["scored", "flagged", "reviewed", "appealed"]
EVENTS: tuple[Event, ...] = ("scored", "flagged", "reviewed", "appealed")
MAX_ATTEMPTS = 8
BACKOFF_S = 5.0
MAX_BACKOFF_S = 3600.0
TIMEOUT_S = 5.0
BATCH = 50


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, pattern=r"^https?://[^\s/?#]+[^\s]*$")
    events: list[Event] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or not url.isprintable() or " " in url:
            raise ValueError("url must be an http:// or https:// address without spaces")
        return url


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[str]
    active: bool
    created_by: str
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="shown once: verify X-QA-Signature with it")


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    webhook_id: str
    event: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``"{timestamp}." + body`` with the hook's secret."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def register(engine: Engine, body: WebhookCreate, actor: Actor) -> WebhookCreated:
    row = WebhookRow(
        id=uuid.uuid4().hex,
        url=body.url,
        events=list(body.events),
        secret=secrets.token_hex(32),
        active=True,
        created_by=actor.who.name,
        created_at=utcnow(),
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
        actor.note(session, "webhook_add", "webhook", row.id, reason=body.url)
    return WebhookCreated(**WebhookPublic.model_validate(row).model_dump(), secret=row.secret)


def list_hooks(engine: Engine) -> list[WebhookPublic]:
    with Session(engine) as session:
        return [
            WebhookPublic.model_validate(r)
            for r in session.scalars(select(WebhookRow).order_by(WebhookRow.created_at))
        ]


def remove(engine: Engine, hook_id: str, actor: Actor) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(WebhookRow, hook_id)
        if row is None:
            raise NotFoundError("webhook", hook_id)
        session.delete(row)
        actor.note(session, "webhook_remove", "webhook", hook_id)


def deliveries(engine: Engine, hook_id: str, limit: int = 100) -> list[DeliveryPublic]:
    stmt = (
        select(DeliveryRow)
        .where(DeliveryRow.webhook_id == hook_id)
        .order_by(DeliveryRow.created_at.desc())
        .limit(limit)
    )
    with Session(engine) as session:
        if session.get(WebhookRow, hook_id) is None:
            raise NotFoundError("webhook", hook_id)
        return [DeliveryPublic.model_validate(r) for r in session.scalars(stmt)]


def enqueue(session: Session, event: Event, data: dict[str, Any]) -> int:
    """Add a delivery of ``event`` for every active hook subscribed to it (in the caller's transaction)."""
    if event not in EVENTS:
        raise InputError(E.BAD_REQUEST, f"unknown event {event!r}")
    now = utcnow()
    hooks = [h for h in session.scalars(select(WebhookRow).where(WebhookRow.active)) if event in h.events]
    for hook in hooks:
        delivery_id = uuid.uuid4().hex
        payload = {"id": delivery_id, "event": event, "occurred_at": now.isoformat(), "data": data}
        session.add(
            DeliveryRow(
                id=delivery_id,
                webhook_id=hook.id,
                event=event,
                payload=payload,
                state="pending",
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(hooks)


Post = Callable[[str, bytes, dict[str, str]], int]


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body``; the HTTP status (a refused connection or a timeout raises ``OSError``)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_S, BACKOFF_S * 2 ** (attempt - 1)))


class Sender:
    """Posts due deliveries; :meth:`run_once` is one pass, :meth:`start` a background thread."""

    def __init__(self, engine: Engine, post: Post = http_post, *, interval_s: float = 1.0) -> None:
        self.engine = engine
        self.post = post
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> int:
        """Send every delivery due at ``now``; returns how many were attempted."""
        now = now or utcnow()
        stmt = (
            select(DeliveryRow.id)
            .where(DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now)
            .order_by(DeliveryRow.next_attempt_at)
            .limit(BATCH)
        )
        with Session(self.engine) as session:
            due = list(session.scalars(stmt))
        for delivery_id in due:
            try:
                self._attempt(delivery_id, now)
            except Exception:  # one broken delivery must not hold up the others
                log.exception("webhook delivery %s could not be attempted", delivery_id)
        return len(due)

    def _attempt(self, delivery_id: str, now: datetime) -> None:
        with Session(self.engine) as session:  # read, then send outside any transaction
            row = session.get(DeliveryRow, delivery_id)
            hook = session.get(WebhookRow, row.webhook_id) if row is not None else None
            if row is None or hook is None or row.state != "pending":
                return
            body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            url, secret, event = hook.url, hook.secret, row.event
        status, error = self._send(url, secret, event, delivery_id, body)
        with Session(self.engine) as session, session.begin():
            row = session.get(DeliveryRow, delivery_id)
            if row is None or row.state != "pending":
                return
            row.attempts += 1
            row.last_status, row.last_error = status, error
            if status is not None and 200 <= status < 300:
                row.state, row.delivered_at = "delivered", now
            elif row.attempts >= MAX_ATTEMPTS:
                row.state = "dead"
            else:
                row.next_attempt_at = now + backoff(row.attempts)
            log.info(
                "webhook %s delivery %s (%s) attempt %d: %s",
                row.webhook_id,
                row.id,
                row.event,
                row.attempts,
                status or error,
            )

    def _send(
        self, url: str, secret: str, event: str, delivery_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "qa-pipeline-webhooks",
            "X-QA-Event": event,
            "X-QA-Delivery": delivery_id,
            "X-QA-Timestamp": timestamp,
            "X-QA-Signature": signature(secret, timestamp, body),
        }
        try:
            return self.post(url, body, headers), None
        except Exception as exc:  # refused, timed out, not HTTP, a bad URL: a failed attempt
            return None, f"{type(exc).__name__}: {exc}"[:500]

    def start(self) -> Sender:
        self._thread = threading.Thread(target=self._loop, name="qa-webhooks", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # a broken subscriber or a database hiccup must not end the thread
                log.exception("webhook sender pass failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
