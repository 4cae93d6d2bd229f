"""/v1/agents/{agent_id}/indices: an agent's quality index, emotion index and agent score over a period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import Caller, RepositoryDep, ReviewsDep, StateDep
from api.routes.conversations import ERRORS
from api.schemas import AgentIndicesPublic
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.errors import NotFoundError
from qa_pipeline.periods import check_order, parse_bound
from qa_pipeline.scoring import score_figures

router = APIRouter(prefix="/v1/agents", tags=["agents"])
IndexReader = Annotated[Principal, Depends(Caller(Action.INDICES_READ))]

ISO_DATE = (
    r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?$"
)
"""What ``from``/``to`` accept (ISO-8601 date or date-time); the range is checked after parsing."""
DATE_DOC = (
    "ISO date or date-time (2025-03-01, 2025-03-01T09:00:00+08:00); without a zone, local time in "
    "QA_TIMEZONE (default Asia/Shanghai)"
)


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
    reviews: ReviewsDep,
    who: IndexReader,
    from_: Annotated[str | None, Query(alias="from", description=DATE_DOC, pattern=ISO_DATE)] = None,
    to: Annotated[str | None, Query(description=DATE_DOC + "; exclusive", pattern=ISO_DATE)] = None,
) -> AgentIndicesPublic:
    """A conversation belongs to the period by its start time, or by its import time when unknown.

    404 for an agent id no stored conversation in the caller's scope names; 200 with
    ``conversations: 0`` for a known agent without conversations in the period. Human verdicts in
    force count (a reviewed conversation scores by its reviewed quality index)."""
    tz = state.settings.tz
    start, end = parse_bound(from_, "from", tz), parse_bound(to, "to", tz)
    check_order(start, end)
    if not repo.agent_known(agent_id, who.scope):
        raise NotFoundError("agent", agent_id)
    results = reviews.final_figures(who.scope, agent_id=agent_id, start=start, end=end)
    # The store already applied the period (with the import-time fallback), so score all of them.
    score = score_figures(results, config=state.scoring, agent_id=agent_id)
    return AgentIndicesPublic.build(score.model_copy(update={"period_from": start, "period_to": end}))
