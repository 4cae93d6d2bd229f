"""Typed dependencies: settings, state, repository, the review service, and the caller.

``Caller(Action.X)`` authenticates the ``Authorization: Bearer`` token (401 when missing, bad or
revoked) and checks that the role may do ``X`` (403); which objects the caller reaches is then
``principal.scope``, applied by the store's queries (404 outside it).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.state import AppState
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.access.users import authenticate_token
from qa_pipeline.errors import AuthError
from qa_pipeline.review.service import ReviewService
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository

BEARER = HTTPBearer(auto_error=False, description="an API token from `qa users add` / `qa users token`")


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, read once per process (the default for ``create_app``)."""
    return Settings()


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.qa
    return state


async def get_state(request: Request) -> AppState:
    """(Dependencies that do no I/O are ``async``: FastAPI would otherwise run each on a worker thread.)"""
    return app_state(request)


async def get_app_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    """The settings this app was created with (``create_app(settings)``), not necessarily the env's."""
    return state.settings


async def get_repository(state: Annotated[AppState, Depends(get_state)]) -> Repository:
    return state.repository


async def get_reviews(state: Annotated[AppState, Depends(get_state)]) -> ReviewService:
    return state.reviews


async def client_address(request: Request) -> str | None:
    """Where the request came from, for the audit log."""
    return request.client.host if request.client is not None else None


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> Principal:
    """The user behind the bearer token, or a 401 (the JSON API takes no cookies: no CSRF surface)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError()
    state = app_state(request)
    token = credentials.credentials
    principal = state.tokens.get(token)
    if principal is None:
        principal = await anyio.to_thread.run_sync(authenticate_token, state.engine, token)
        if principal is None:
            raise AuthError("the token is unknown or revoked")
        state.tokens.put(token, principal)
    return principal


class Caller:
    """Dependency: the authenticated caller, who must be allowed ``action`` (else 403)."""

    def __init__(self, action: Action) -> None:
        self.action = action

    async def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        principal.require(self.action)
        return principal


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RepositoryDep = Annotated[Repository, Depends(get_repository)]
ReviewsDep = Annotated[ReviewService, Depends(get_reviews)]
ClientDep = Annotated[str | None, Depends(client_address)]
AnyUser = Annotated[Principal, Depends(authenticate)]
