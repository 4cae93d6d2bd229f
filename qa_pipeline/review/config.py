"""The review configuration (``rubrics/review.yaml``): flag thresholds, deadlines, sampling, appeals."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa_pipeline.errors import E, RubricError
from qa_pipeline.periods import PeriodKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmotionFlags(_Strict):
    severe_below: float = Field(default=25.0, ge=0, le=100)
    negative_below: float = Field(default=40.0, ge=0, le=100)
    worsens_by: float = Field(default=0.5, gt=0, le=2)
    due_hours: float = Field(default=2.0, gt=0)


class Sampling(_Strict):
    ratio: float = Field(default=0.02, ge=0, le=1)
    per_agent: int = Field(default=2, ge=0)
    period: PeriodKind = "week"


class ReviewConfig(_Strict):
    version: str = "1"
    quality_below: float = Field(default=60.0, ge=0, le=100)
    emotion: EmotionFlags = Field(default_factory=EmotionFlags)
    sampling: Sampling = Field(default_factory=Sampling)
    appeal_window_days: float = Field(default=7.0, gt=0)


def load_review_config(path: Path | str) -> ReviewConfig:
    """Read and validate the YAML; errors name the file and the field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RubricError(E.RUBRIC_NOT_FOUND, "review config not found", file=str(path)) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RubricError(E.RUBRIC_YAML, f"cannot read: {exc}".splitlines()[0], file=str(path)) from exc
    try:
        return ReviewConfig.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise RubricError(E.RUBRIC_INVALID, err["msg"], file=str(path), field=field) from exc
