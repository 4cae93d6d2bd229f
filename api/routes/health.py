"""/health: liveness plus database and pipeline status.

Async and cheap: the schema revision is read once at start-up (Alembic logs at INFO each time it
is read), and the database ping runs on its own worker, so /health answers while audits queue.
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from api.schemas import HealthPublic
from qa_pipeline import __version__

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(state: StateDep) -> JSONResponse:
    """200 when the database answers; 503 (status "degraded") when it does not."""
    database: Literal["ok", "error"] = "ok"
    try:
        await state.database_ok()
    except Exception:  # any database failure is reported as "degraded", not raised
        log.exception("health check: database unreachable")
        database = "error"
    body = HealthPublic(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        database=database,
        schema_revision=state.schema_revision,
        pipeline=state.pipeline.version,
        stages=[s.name for s in state.pipeline.stages],
    )
    return JSONResponse(status_code=200 if database == "ok" else 503, content=body.model_dump(mode="json"))
