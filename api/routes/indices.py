"""/v1/indices: the KPI pull, per agent and period, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import Caller, ReviewsDep, StateDep
from api.kpi_fastpath import bearer, remember
from api.routes.agents import DATE_DOC, ISO_DATE
from api.routes.conversations import ERRORS
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.kpi import CSV_COLUMNS, KpiRow, csv_record, kpi_rows
from qa_pipeline.periods import PeriodKind, check_order, parse_bound
from qa_pipeline.store.version import data_version

router = APIRouter(tags=["indices"])
IndexReader = Annotated[Principal, Depends(Caller(Action.INDICES_READ))]
CSV_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "rows per agent and period"}
}


class IndicesPublic(BaseModel):
    period: PeriodKind
    rows: list[KpiRow]


@router.get(
    "/v1/indices",
    response_model=IndicesPublic,
    responses={**CSV_DOC, **ERRORS},
    summary="KPI pull: indices per agent and period with 95 % intervals",
)
async def read_indices(
    request: Request,
    state: StateDep,
    reviews: ReviewsDep,
    who: IndexReader,
    team: str | None = None,
    agent_id: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description=DATE_DOC, pattern=ISO_DATE)] = None,
    to: Annotated[str | None, Query(description=DATE_DOC + "; exclusive", pattern=ISO_DATE)] = None,
    period: PeriodKind = "week",
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """Only agents in the caller's scope; human verdicts in force count. Periods are cut at local
    midnight (``QA_TIMEZONE``); a conversation counts by its start time. An answer is reused while no
    result, human verdict or team changed (:mod:`qa_pipeline.kpi_cache`).

    A kept answer is served on the event loop (one indexed read of the data version, well under a
    millisecond); only a new answer is computed on a worker thread."""
    tz = state.settings.tz
    start, end = parse_bound(from_, "from", tz), parse_bound(to, "to", tz)
    check_order(start, end)
    version = data_version(state.engine)
    key = (who.scope, agent_id, team, start, end, period, format_, version)
    media = "text/csv; charset=utf-8" if format_ == "csv" else "application/json"
    kept = state.kpi_cache.peek(key)
    if kept is not None:
        remember(state, bearer(request.scope["headers"]), request.scope["query_string"], version, media, kept)
        return Response(kept, media_type=media)

    def compute() -> bytes:
        results = reviews.final_figures(who.scope, agent_id=agent_id, team=team, start=start, end=end)
        rows = kpi_rows(results, period, tz, state.scoring)
        if format_ == "csv":
            return _csv(rows).encode("utf-8")
        return IndicesPublic(period=period, rows=rows).model_dump_json().encode("utf-8")

    body = await anyio.to_thread.run_sync(state.kpi_cache.get, key, compute)
    remember(state, bearer(request.scope["headers"]), request.scope["query_string"], version, media, body)
    return Response(body, media_type=media)


def _csv(rows: list[KpiRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_record(r) for r in rows)
    return "\ufeff" + out.getvalue()  # a BOM so spreadsheet programs read the Chinese grades as UTF-8
