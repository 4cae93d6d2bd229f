"""Browser sessions for the review pages: a random id in an HttpOnly, SameSite cookie, signed with a
per-installation HMAC key; the database keeps the id's SHA-256, the user, a CSRF token and the expiry.

The pages authenticate through :func:`session_user` and check every form post's CSRF token
(:func:`check_csrf`); the JSON API stays bearer-token only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qa_pipeline.access.principal import Principal
from qa_pipeline.access.users import principal_of
from qa_pipeline.store.models import as_utc, utcnow
from qa_pipeline.store.models_access import AppSecretRow, UserRow, WebSessionRow

COOKIE = "qa_session"
LIFETIME = timedelta(hours=10)  # a working day; logging out ends it at once
_SECRET = "session-signing-key"


@dataclass(frozen=True)
class WebSession:
    principal: Principal
    csrf: str


def signing_key(engine: Engine) -> bytes:
    """The installation's cookie-signing key, created on first use (shared by every process)."""
    with Session(engine) as session:
        row = session.get(AppSecretRow, _SECRET)
        if row is not None:
            return row.value.encode()
    try:
        with Session(engine) as session, session.begin():
            session.add(AppSecretRow(name=_SECRET, value=secrets.token_hex(32)))
    except IntegrityError:  # another process created it first
        pass
    return signing_key(engine)


def _sign(key: bytes, sid: str) -> str:
    return hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def create_session(engine: Engine, who: Principal) -> tuple[str, str]:
    """A new session for ``who``; returns the cookie value and the session's CSRF token."""
    sid, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
    with Session(engine) as session, session.begin():
        session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now))
        session.add(
            WebSessionRow(
                id_hash=_hash(sid), user_id=who.user_id, csrf=csrf, created_at=now, expires_at=now + LIFETIME
            )
        )
    return f"{sid}.{_sign(signing_key(engine), sid)}", csrf


def session_user(engine: Engine, cookie: str | None) -> WebSession | None:
    """The signed, unexpired session of an active user, else None."""
    if not cookie or "." not in cookie or len(cookie) > 200:
        return None
    sid, _, signature = cookie.rpartition(".")
    if not hmac.compare_digest(signature, _sign(signing_key(engine), sid)):
        return None
    with Session(engine) as session:
        row = session.get(WebSessionRow, _hash(sid))
        if row is None or as_utc(row.expires_at) < utcnow():
            return None
        user = session.scalars(select(UserRow).where(UserRow.id == row.user_id, UserRow.active)).first()
        return None if user is None else WebSession(principal_of(user), row.csrf)


def end_session(engine: Engine, cookie: str | None) -> None:
    if cookie and "." in cookie:
        with Session(engine) as session, session.begin():
            session.execute(
                delete(WebSessionRow).where(WebSessionRow.id_hash == _hash(cookie.rpartition(".")[0]))
            )


def check_csrf(expected: str, given: str | None) -> bool:
    """Both tokens present and equal (an empty token never matches)."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given or "")
