"""Store fixtures: a fresh migrated database per test (SQLite file; PostgreSQL too when configured).

Set ``QA_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://qa@localhost:5432/qa_test``) to run every
store test against PostgreSQL as well; without it those parametrisations are skipped. The
PostgreSQL database is wiped (``DROP SCHEMA public CASCADE``) before each test: use a scratch one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench.scratch_db import reset_postgres
from qa_pipeline.store import Repository, init_db

PG_ENV = "QA_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qa.db'}"
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"set {PG_ENV} to run the store tests against PostgreSQL")
    reset_postgres(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = init_db(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine)
