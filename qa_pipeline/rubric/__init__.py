"""Rubrics: declarative YAML scorecards, validated, and the engine that applies them."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from qa_pipeline.errors import E, RubricError
from qa_pipeline.rubric.schema import Item, Rubric

__all__ = ["Item", "Rubric", "load_rubric", "parse_rubric"]


def load_rubric(path: Path | str) -> Rubric:
    """Read and validate a rubric YAML file; errors name the rubric, item and field."""
    path = Path(path)
    if not path.is_file():
        raise RubricError(E.RUBRIC_NOT_FOUND, str(path), file=str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RubricError(E.RUBRIC_YAML, str(exc), file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise RubricError(E.RUBRIC_YAML, "rubric files must be UTF-8", file=str(path)) from exc
    return parse_rubric(raw, source=str(path))


def parse_rubric(raw: object, *, source: str = "<rubric>") -> Rubric:
    if not isinstance(raw, dict):
        raise RubricError(E.RUBRIC_INVALID, "the top level must be a mapping", file=source)
    try:
        return Rubric.model_validate(raw)
    except ValidationError as exc:
        raise RubricError(E.RUBRIC_INVALID, _explain(exc, raw), file=source, field=_loc(exc)) from exc


def _loc(exc: ValidationError) -> str:
    return ".".join(str(p) for p in exc.errors()[0]["loc"])


def _explain(exc: ValidationError, raw: dict) -> str:
    """Name the rubric, the item id (not just its index) and the field of the first error."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    where = f"rubric {raw.get('id', '?')!r}"
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        items = raw.get("items") or []
        item_id = (
            items[loc[1]].get("id", f"#{loc[1]}")
            if loc[1] < len(items) and isinstance(items[loc[1]], dict)
            else f"#{loc[1]}"
        )
        where += f", item {item_id!r}"
        loc = loc[2:]
    field = ".".join(str(p) for p in loc) or "(item)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}, field {field!r}: {err['msg']}{more}"
