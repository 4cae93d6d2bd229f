"""``qa users …`` and ``qa audit-log``: people and accountability from the command line.

The operator running these commands owns the database (they act as the ``system`` admin in the
audit log). ``qa users add`` prints the new API token as the last line of stdout, shown once.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import Engine

from qa_pipeline.access.audit_log import Actor, AuditFilter, entries
from qa_pipeline.access.principal import SYSTEM
from qa_pipeline.access.roles import ROLES
from qa_pipeline.access.users import NewUser, add_user, issue_token, list_users, revoke, set_agent_team
from qa_pipeline.cli_support import errors, settings_from_env
from qa_pipeline.errors import E, InputError
from qa_pipeline.store import init_db

CLI = Actor(SYSTEM, "cli")
users_app = typer.Typer(no_args_is_help=True, help="Users, roles, teams and API tokens.")


def _engine() -> Engine:
    return init_db(settings_from_env().database_url)


def _new_user(fields: dict[str, str | None]) -> NewUser:
    try:
        return NewUser.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise InputError(E.BAD_REQUEST, err["msg"], field=field) from None


def _password_from_stdin() -> str:
    text = sys.stdin.readline()
    if not text:
        raise InputError(E.BAD_REQUEST, "no password on standard input", field="password")
    return text.rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help=f"one of {', '.join(ROLES)}")],
    team: Annotated[
        str | None, typer.Option("--team", help="the team (supervisors; optional for kpi)")
    ] = None,
    agent_id: Annotated[str | None, typer.Option("--agent-id", help="the agent's id (agent users)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read a web-login password from standard input")
    ] = False,
) -> None:
    """Create a user; prints the new API token as the last line (shown once, stored only as a hash)."""
    with errors():
        password = _password_from_stdin() if password_stdin else None
        new = _new_user(
            {"name": name, "role": role, "team": team, "agent_id": agent_id, "password": password}
        )
        engine = _engine()
        try:
            user, token = add_user(engine, new, CLI)
        finally:
            engine.dispose()
    typer.echo(f"created {user.role} {user.name}" + (f" (team {user.team})" if user.team else ""), err=True)
    typer.echo(token)


@users_app.command("token")
def users_token(name: str) -> None:
    """Issue another API token for NAME (printed as the last line)."""
    with errors():
        engine = _engine()
        try:
            token = issue_token(engine, name, CLI)
        finally:
            engine.dispose()
    typer.echo(token)


@users_app.command("revoke")
def users_revoke(name: str) -> None:
    """Revoke every token of NAME and disable their login."""
    with errors():
        engine = _engine()
        try:
            count = revoke(engine, name, CLI)
        finally:
            engine.dispose()
    typer.echo(f"revoked {count} token(s) of {name}", err=True)


@users_app.command("list")
def users_list() -> None:
    """One line per user: name, role, team, agent id, active."""
    with errors():
        engine = _engine()
        try:
            users = list_users(engine)
        finally:
            engine.dispose()
    for u in users:
        typer.echo(
            f"{u.name}\t{u.role}\t{u.team or '-'}\t{u.agent_id or '-'}\t{'active' if u.active else 'revoked'}"
        )


@users_app.command("set-team")
def users_set_team(agent_id: str, team: str) -> None:
    """Put AGENT_ID in TEAM (its conversations without a team of their own follow)."""
    with errors():
        engine = _engine()
        try:
            set_agent_team(engine, agent_id, team, CLI)
        finally:
            engine.dispose()


def audit_log(
    user: Annotated[str | None, typer.Option(help="only this user")] = None,
    action: Annotated[str | None, typer.Option(help="only this action, e.g. view_transcript")] = None,
    object_id: Annotated[str | None, typer.Option("--object", help="only this object id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
) -> None:
    """Print the audit log, newest first, one JSON object per line."""
    with errors():
        engine = _engine()
        try:
            rows = entries(
                engine, AuditFilter(user_name=user, action=action, object_id=object_id, limit=limit)
            )
        finally:
            engine.dispose()
    for row in rows:
        typer.echo(json.dumps(row.model_dump(mode="json"), ensure_ascii=False))
