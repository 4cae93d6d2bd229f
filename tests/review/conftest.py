"""A migrated SQLite store with a review service, and principals of every role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from qa_pipeline.access.principal import Principal
from qa_pipeline.review.config import ReviewConfig
from qa_pipeline.review.service import ReviewService
from qa_pipeline.rubric import load_rubric
from qa_pipeline.scoring import ScoringConfig
from qa_pipeline.settings import PROJECT_DIR
from qa_pipeline.store import Repository, init_db
from tests.store.conftest import db_url as db_url  # the SQLite / PostgreSQL parametrisation


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """SQLite, and PostgreSQL too when QA_TEST_POSTGRES_URL is set (see tests/store/conftest.py)."""
    eng = init_db(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def service(engine: Engine) -> ReviewService:
    config = ReviewConfig()
    rubric = load_rubric(PROJECT_DIR / "rubrics" / "default.yaml")
    return ReviewService(Repository(engine, config), ScoringConfig(), config, rubric)


QA = Principal(user_id=1, name="qa1", role="qa")
SUP_T1 = Principal(user_id=2, name="sup1", role="supervisor", team="T1")
SUP_T2 = Principal(user_id=3, name="sup2", role="supervisor", team="T2")
AGENT_A01 = Principal(user_id=4, name="a01", role="agent", agent_id="A01")
AGENT_A02 = Principal(user_id=5, name="a02", role="agent", agent_id="A02")
KPI = Principal(user_id=6, name="kpi", role="kpi")
