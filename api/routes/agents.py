"""/v1/agents/{agent_id}/indices: an agent's quality index, emotion index and agent score over a period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import RepositoryDep, StateDep
from api.routes.conversations import ERRORS
from api.schemas import AgentIndicesPublic
from qa_pipeline.errors import E, InputError
from qa_pipeline.scoring import agent_score
from qa_pipeline.sources.fields import describe_value, in_range, range_detail

router = APIRouter(prefix="/v1/agents", tags=["agents"])

DATE_DOC = "ISO date or date-time (2025-03-01, 2025-03-01T09:00:00+08:00); without a zone, UTC"


def parse_when(value: str | None, field: str) -> datetime | None:
    """An ISO-8601 date or date-time; naive values are UTC. Bad or out-of-range values (the range
    conversations are accepted in) are a 422 naming the field."""
    if value is None or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        detail = f"{describe_value(value)} is not an ISO-8601 date or date-time"
        raise InputError(E.BAD_REQUEST, detail, field=field) from exc
    if not in_range(when):
        raise InputError(
            E.BAD_REQUEST, f"date/time {range_detail()}; leave '{field}' out for no bound", field=field
        )
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@router.get(
    "/{agent_id}/indices",
    response_model=AgentIndicesPublic,
    responses=ERRORS,
    summary="An agent's indices over a period [from, to)",
)
def agent_indices(
    agent_id: str,
    state: StateDep,
    repo: RepositoryDep,
    from_: Annotated[str | None, Query(alias="from", description=DATE_DOC)] = None,
    to: Annotated[str | None, Query(description=DATE_DOC + "; exclusive")] = None,
) -> AgentIndicesPublic:
    """A conversation belongs to the period by its start time, or by its import time when unknown."""
    start, end = parse_when(from_, "from"), parse_when(to, "to")
    if start is not None and end is not None and start >= end:
        raise InputError(E.BAD_REQUEST, "'from' must be before 'to'", field="from")
    results = repo.list_results(agent_id=agent_id, start=start, end=end)
    # The store already applied the period (with the import-time fallback), so score all of them.
    score = agent_score(results, config=state.scoring, agent_id=agent_id, period=(None, None))
    return AgentIndicesPublic.build(score.model_copy(update={"period_from": start, "period_to": end}))
