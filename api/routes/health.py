"""/health: liveness plus database and pipeline status."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from api.schemas import HealthPublic
from qa_pipeline import __version__
from qa_pipeline.store import current_revision

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
def health(state: StateDep) -> JSONResponse:
    """200 when the database answers; 503 (status "degraded") when it does not."""
    database: Literal["ok", "error"] = "ok"
    try:
        revision = current_revision(state.engine)
    except Exception:  # any database failure is reported as "degraded", not raised
        log.exception("health check: database unreachable")
        revision, database = None, "error"
    body = HealthPublic(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        database=database,
        schema_revision=revision,
        pipeline=state.pipeline.version,
        stages=[s.name for s in state.pipeline.stages],
    )
    return JSONResponse(status_code=200 if database == "ok" else 503, content=body.model_dump(mode="json"))
