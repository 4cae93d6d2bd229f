"""Migrations build the schema; the schema matches the ORM; SQLite runs with WAL and foreign keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from qa_pipeline.errors import StorageError
from qa_pipeline.store import current_revision, head_revision, init_db, make_engine, upgrade
from qa_pipeline.store.engine import MIGRATIONS_DIR, alembic_config, is_up_to_date
from qa_pipeline.store.models import Base

TABLES = {
    *("conversations", "turns", "results", "jobs", "alembic_version"),
    *("teams", "agents", "users", "api_tokens", "audit_log"),
    *("review_queue", "reviews", "human_verdicts", "appeals", "webhooks", "webhook_deliveries"),
    *("web_sessions", "app_secrets", "counters", "batches"),
}
HEAD = "0004"


def test_migrations_create_every_table(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) == TABLES
    assert current_revision(engine) == head_revision() == HEAD
    assert is_up_to_date(engine)


def test_migrated_schema_matches_the_orm(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_results_unique_per_audit(engine: Engine) -> None:
    uniques = inspect(engine).get_unique_constraints("results")
    cols = [u["column_names"] for u in uniques]
    assert ["conversation_id", "rubric_version", "pipeline_version", "models_version", "content_hash"] in cols


def test_upgrade_twice_is_a_no_op(engine: Engine, db_url: str) -> None:
    upgrade(db_url)
    assert current_revision(engine) == HEAD


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        with pytest.raises(Exception, match="FOREIGN KEY"):
            conn.execute(text("INSERT INTO turns VALUES ('nope', 0, 'agent', 'x', NULL, NULL)"))
    engine.dispose()


def test_bad_url_is_a_typed_error() -> None:
    with pytest.raises(StorageError, match="QA501"):
        make_engine("not a url")
    with pytest.raises(StorageError, match="QA501"):
        make_engine("nosuchdb://x/y")


def test_alembic_command_line_uses_the_packaged_ini(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    env = {**os.environ, "QA_DATABASE_URL": f"sqlite:///{db}"}
    ini = MIGRATIONS_DIR / "alembic.ini"
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    engine = make_engine(f"sqlite:///{db}")
    assert current_revision(engine) == HEAD
    engine.dispose()


def test_the_audit_log_refuses_updates_and_deletes(engine: Engine) -> None:
    insert = (
        "INSERT INTO audit_log (at, user_name, role, action, object_type) "
        "VALUES (CURRENT_TIMESTAMP, 'a', 'admin', 'view', 'conversation')"
    )
    with engine.begin() as conn:
        conn.execute(text(insert))
    for statement in ("UPDATE audit_log SET user_name = 'b'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT user_name FROM audit_log")).scalars().all() == ["a"]
