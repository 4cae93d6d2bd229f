"""Engine creation and schema migrations (Alembic, shipped inside the package).

``init_db(url)`` builds an engine and migrates it to head; the CLI calls it before the first
write and ``qa db upgrade`` calls :func:`upgrade`. The schema is never made with ``create_all``.
From a shell, ``alembic -c <site-packages>/qa_pipeline/store/migrations/alembic.ini upgrade head``
works too (the URL comes from ``QA_DATABASE_URL``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from qa_pipeline.errors import E, StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0
POOL_SIZE, POOL_OVERFLOW = 16, 48
"""Connections kept open (the server's thread pool runs up to 40 requests at once: without enough
pooled connections, every request beyond the pool opened and closed one of its own)."""


def describe_database(url: str) -> str:
    """Where ``url`` stores data, for a start-up line: the absolute file of a SQLite URL (relative paths
    resolve against the current folder), otherwise the URL without its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "an invalid QA_DATABASE_URL"
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return "an in-memory SQLite database (nothing is kept after exit)"
        return f"SQLite file {Path(parsed.database).resolve()}"
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite with WAL journalling and foreign keys enforced."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(E.DATABASE, f"bad database URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
    if parsed.get_backend_name() != "sqlite" or parsed.database not in (None, "", ":memory:"):
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
        kwargs.setdefault("pool_pre_ping", parsed.get_backend_name() != "sqlite")  # a restarted server
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StorageError(E.DATABASE, f"cannot create engine for {parsed!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # kept in the file: set once
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at the packaged migrations (works from an installed wheel)."""
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) to ``revision``."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with engine.begin() as conn:
            cfg = alembic_config(engine.url.render_as_string(hide_password=False))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise StorageError(E.DATABASE, f"migration to {revision} failed: {exc}") from exc
    finally:
        if isinstance(target, str):
            engine.dispose()
    log.info("database %s at revision %s", engine.url.render_as_string(hide_password=True), revision)


def init_db(url: str) -> Engine:
    """Make an engine for ``url`` and migrate its schema to head; returns the engine."""
    engine = make_engine(url)
    upgrade(engine)
    return engine


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
