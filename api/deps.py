"""Typed dependencies: ``SettingsDep``, ``RepositoryDep``, ``StateDep``."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request

from api.state import AppState
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, read once per process (the default for ``create_app``)."""
    return Settings()


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.qa
    return state


def get_app_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    """The settings this app was created with (``create_app(settings)``), not necessarily the env's."""
    return state.settings


def get_repository(state: Annotated[AppState, Depends(get_state)]) -> Repository:
    return state.repository


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RepositoryDep = Annotated[Repository, Depends(get_repository)]
