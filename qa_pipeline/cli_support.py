"""What every ``qa`` command shares: settings from the environment, typed errors as one line, exit codes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from pydantic import ValidationError

from qa_pipeline.errors import E, InputError, QAError
from qa_pipeline.settings import Settings

EXIT_ERROR = 2  # bad arguments, settings or output path: nothing was done
EXIT_PROBLEMS = 3  # some conversations were skipped (reported on stderr), or none were found


def settings_from_env(rubric: Path | None = None) -> Settings:
    """Settings from QA_* variables / .env; an invalid value is a typed error naming the variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise InputError(E.BAD_REQUEST, _settings_problems(exc)) from exc
    if rubric is not None:
        settings = settings.model_copy(update={"rubric": rubric})
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    return settings


def _settings_problems(exc: ValidationError) -> str:
    """``QA_LOG_LEVEL: must be ...; QA_BATCH_SIZE: ...`` (the rejected values are not repeated)."""
    prefix = Settings.model_config.get("env_prefix", "")
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        name = prefix + "_".join(str(part) for part in err["loc"]).upper()
        problems.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
    return "invalid setting in the environment or .env: " + "; ".join(problems)


@contextmanager
def errors() -> Iterator[None]:
    """Print a typed error as one clear line and exit non-zero; never a traceback for bad input.

    Only ``exc.message`` is printed (QAError masks personal data there), never the raw input.
    """
    try:
        yield
    except QAError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(EXIT_ERROR) from exc
