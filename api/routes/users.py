"""/v1/users and /v1/agents/{id}/team: user and team management (admin only)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Caller, ClientDep, StateDep
from api.routes.conversations import ERRORS
from qa_pipeline.access.audit_log import Actor
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.access.users import (
    NewUser,
    UserPublic,
    add_user,
    issue_token,
    list_users,
    revoke,
    set_agent_team,
)

router = APIRouter(tags=["users"])
Admin = Annotated[Principal, Depends(Caller(Action.USERS_MANAGE))]


class UserCreate(NewUser):
    """``name``, ``role`` (admin|qa|supervisor|agent|kpi), ``team`` (supervisors), ``agent_id`` (agents),
    optional ``password`` for the web login."""

    name: str = Field(pattern=r"^[\w.@-]{1,64}$", description="1-64 letters, digits or . _ @ -")
    team: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    agent_id: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class UserCreatedPublic(BaseModel):
    user: UserPublic
    token: str = Field(description="shown once; only its hash is stored")


class TokenPublic(BaseModel):
    name: str
    token: str


class RevokedPublic(BaseModel):
    name: str
    revoked_tokens: int


class AgentTeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")


@router.get("/v1/users", response_model=list[UserPublic], responses=ERRORS, summary="List users")
def read_users(state: StateDep, _who: Admin) -> list[UserPublic]:
    return list_users(state.engine)


@router.post("/v1/users", status_code=201, response_model=UserCreatedPublic, responses=ERRORS)
async def create_user(body: UserCreate, state: StateDep, who: Admin, client: ClientDep) -> UserCreatedPublic:
    """Create a user and its first API token (the password, if any, is hashed with Argon2id)."""
    new = NewUser(**body.model_dump())
    user, token = await anyio.to_thread.run_sync(add_user, state.engine, new, Actor(who, client))
    return UserCreatedPublic(user=user, token=token)


@router.post("/v1/users/{name}/tokens", status_code=201, response_model=TokenPublic, responses=ERRORS)
def create_token(name: str, state: StateDep, who: Admin, client: ClientDep) -> TokenPublic:
    token = issue_token(state.engine, name, Actor(who, client))
    return TokenPublic(name=name, token=token)


@router.post("/v1/users/{name}/revoke", response_model=RevokedPublic, responses=ERRORS)
def revoke_user(name: str, state: StateDep, who: Admin, client: ClientDep) -> RevokedPublic:
    """Revoke every token of the user and disable their login (a new token re-enables them)."""
    count = revoke(state.engine, name, Actor(who, client))
    state.tokens.clear()  # this node stops trusting the revoked tokens at once
    return RevokedPublic(name=name, revoked_tokens=count)


@router.put("/v1/agents/{agent_id}/team", status_code=204, responses=ERRORS)
def put_agent_team(
    agent_id: str, body: AgentTeamUpdate, state: StateDep, who: Admin, client: ClientDep
) -> None:
    """Put an agent in a team (its conversations without a team of their own follow)."""
    set_agent_team(state.engine, agent_id, body.team, Actor(who, client))
