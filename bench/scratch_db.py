"""A scratch PostgreSQL database for benchmarks and tests: wiped before each use.

Never point these at a database holding data anyone needs: :func:`reset_postgres` drops the whole
``public`` schema.
"""

from __future__ import annotations

from sqlalchemy import text

from qa_pipeline.store import make_engine


def reset_postgres(url: str) -> None:
    """Drop and recreate the ``public`` schema (every table, the migrations' version included)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
