"""Job fixtures: a migrated SQLite file per test, settings pointing at it, the sidecar handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from qa_pipeline.jobs import CallHandler
from qa_pipeline.settings import Settings
from qa_pipeline.store import init_db
from tests.jobs.sidecar import PipelineFactoryCounter, SidecarSource, light_pipeline_config


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = init_db(settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def light_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return light_pipeline_config(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture
def factory(light_config: Path) -> PipelineFactoryCounter:
    return PipelineFactoryCounter(light_config)


@pytest.fixture
def transcripts(tmp_path: Path) -> Path:
    return tmp_path / "transcripts"


@pytest.fixture
def handler(settings: Settings, transcripts: Path, factory: PipelineFactoryCounter) -> CallHandler:
    return CallHandler(settings, source=SidecarSource(transcripts), pipeline_factory=factory)
