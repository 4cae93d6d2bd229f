"""Users, API tokens and agents' teams: create, list, issue, revoke, authenticate.

A token is ``qa_`` + 43 random URL-safe characters, shown once; the database keeps only its SHA-256
(a random 256-bit secret needs no slow hash; passwords get Argon2id, see :mod:`passwords`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qa_pipeline.access.audit_log import Actor
from qa_pipeline.access.passwords import hash_password, verify_password
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import ROLES, Role
from qa_pipeline.errors import ConflictError, E, InputError, NotFoundError
from qa_pipeline.sources.fields import ID_LENGTH
from qa_pipeline.store.models import utcnow
from qa_pipeline.store.models_access import TokenRow, UserRow
from qa_pipeline.store.teams import ensure_team, move_agent

TOKEN_PREFIX = "qa_"
_NAME = re.compile(r"^[\w.@-]{1,64}$")


class UserPublic(BaseModel):
    """A user as listed (never a hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    team: str | None
    agent_id: str | None
    active: bool
    created_at: datetime


class NewUser(BaseModel):
    """What ``qa users add`` and ``POST /v1/users`` take."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: Role
    team: str | None = None
    agent_id: str | None = None
    password: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _check_new(user: NewUser) -> None:
    if not _NAME.fullmatch(user.name):
        detail = "a user name is 1-64 letters, digits or . _ @ -"
        raise InputError(E.BAD_REQUEST, detail, field="name")
    if user.role not in ROLES:
        raise InputError(E.BAD_REQUEST, f"role must be one of {', '.join(ROLES)}", field="role")
    hint = (
        "qa users add NAME --role supervisor --team T1, or --role agent --agent-id A01 (API: team, agent_id)"
    )
    if user.role == "supervisor" and not user.team:
        raise InputError(E.MISSING_FIELD, "a supervisor needs a team", field="team", hint=hint)
    if user.role == "agent" and not user.agent_id:
        raise InputError(E.MISSING_FIELD, "an agent user needs an agent id", field="agent_id", hint=hint)
    for field in ("team", "agent_id"):
        value = getattr(user, field)
        if value is not None:
            check_identifier(value, field)


def check_identifier(value: str, field: str) -> None:
    """A team or agent id: 1 to ID_LENGTH printable characters (no NUL or control characters)."""
    if not 0 < len(value) <= ID_LENGTH or not value.isprintable():
        detail = f"{field} must be 1 to {ID_LENGTH} printable characters"
        raise InputError(E.BAD_REQUEST, detail, field=field)


def add_user(engine: Engine, user: NewUser, actor: Actor | None = None) -> tuple[UserPublic, str]:
    """Create ``user`` and its first API token; returns the user and the token (shown once)."""
    _check_new(user)
    password_hash = hash_password(user.password) if user.password is not None else None
    token = new_token()
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = UserRow(
                name=user.name,
                role=user.role,
                team=user.team,
                agent_id=user.agent_id,
                password_hash=password_hash,
                active=True,
            )
            session.add(row)
            session.flush()
            if user.team:
                ensure_team(session, user.team)
            session.add(TokenRow(user_id=row.id, token_hash=token_hash(token)))
            if actor is not None:
                actor.note(session, "user_add", "user", user.name, reason=f"role {user.role}")
    except IntegrityError:
        raise ConflictError(f"a user named {user.name!r} exists already", field="name") from None
    return UserPublic.model_validate(row), token


def _user(session: Session, name: str) -> UserRow:
    row = session.scalars(select(UserRow).where(UserRow.name == name)).first()
    if row is None:
        raise NotFoundError("user", name)
    return row


def issue_token(engine: Engine, name: str, actor: Actor | None = None) -> str:
    """Another API token for user ``name`` (the earlier ones stay valid until revoked)."""
    token = new_token()
    with Session(engine) as session, session.begin():
        row = _user(session, name)
        row.active = True
        session.add(TokenRow(user_id=row.id, token_hash=token_hash(token)))
        if actor is not None:
            actor.note(session, "token_issue", "user", name)
    return token


def revoke(engine: Engine, name: str, actor: Actor | None = None) -> int:
    """Revoke every token of ``name`` and disable password login; returns how many tokens.

    An admin cannot revoke themselves (409): the last admin would lock everyone out of user management.
    """
    if actor is not None and actor.who.name == name:
        raise ConflictError("you cannot revoke your own access; ask another admin (or use `qa users revoke`)")
    now = utcnow()
    with Session(engine) as session, session.begin():
        row = _user(session, name)
        row.active, row.updated_at = False, now
        if actor is not None:
            actor.note(session, "user_revoke", "user", name)
        stmt = update(TokenRow).where(TokenRow.user_id == row.id, TokenRow.revoked_at.is_(None))
        return int(session.execute(stmt.values(revoked_at=now)).rowcount or 0)  # type: ignore[attr-defined]


def list_users(engine: Engine) -> list[UserPublic]:
    with Session(engine) as session:
        rows = session.scalars(select(UserRow).order_by(UserRow.name))
        return [UserPublic.model_validate(r) for r in rows]


def principal_of(row: UserRow) -> Principal:
    return Principal(
        user_id=row.id,
        name=row.name,
        role=row.role,  # type: ignore[arg-type]
        team=row.team,
        agent_id=row.agent_id,
    )


def authenticate_token(engine: Engine, token: str) -> Principal | None:
    """The active user holding the unrevoked ``token``, else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    stmt = (
        select(UserRow)
        .join(TokenRow, TokenRow.user_id == UserRow.id)
        .where(TokenRow.token_hash == token_hash(token), TokenRow.revoked_at.is_(None), UserRow.active)
    )
    with Session(engine) as session:
        row = session.scalars(stmt).first()
        return None if row is None else principal_of(row)


def authenticate_password(engine: Engine, name: str, password: str) -> Principal | None:
    """The active user ``name`` if ``password`` matches (the web login)."""
    with Session(engine) as session:
        row = session.scalars(select(UserRow).where(UserRow.name == name, UserRow.active)).first()
        ok = row is not None and verify_password(row.password_hash, password)
        return principal_of(row) if ok and row is not None else None


def set_agent_team(engine: Engine, agent_id: str, team: str, actor: Actor | None = None) -> None:
    """An admin puts ``agent_id`` in ``team``: its conversations without a team of their own, stored
    and future, belong to ``team`` from now on (see :mod:`qa_pipeline.store.teams`)."""
    for field, value in (("agent_id", agent_id), ("team", team)):
        check_identifier(value, field)
    with Session(engine) as session, session.begin():
        move_agent(session, agent_id, team, "admin")
        if actor is not None:
            actor.note(session, "agent_team", "agent", agent_id, reason=team)
