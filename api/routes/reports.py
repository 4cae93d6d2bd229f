"""/v1/reviews/export and /v1/reports/agreement: what people decided, as training data and as figures."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api.deps import Caller, ClientDep, ReviewsDep, StateDep
from api.routes.conversations import ERRORS
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import Action
from qa_pipeline.review.agreement import AgreementReport

router = APIRouter(tags=["reports"])
Exporter = Annotated[Principal, Depends(Caller(Action.REVIEWS_EXPORT))]
Analyst = Annotated[Principal, Depends(Caller(Action.AGREEMENT_READ))]
JSONL_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}, "description": "JSON Lines"}
}


@router.get(
    "/v1/reviews/export",
    response_class=Response,
    responses={**JSONL_DOC, **ERRORS},
    summary="Every human decision as labelled conversations (qa eval format)",
)
def export_reviews(reviews: ReviewsDep, who: Exporter, client: ClientDep) -> Response:
    """One JSON object per line: masked transcript, ``labels`` (the human verdicts in force) and
    ``review`` (who, when, machine verdict). Read it with ``qa eval`` or the training scripts."""
    records = reviews.export(who, client=client)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    headers = {"Content-Disposition": 'attachment; filename="reviews.jsonl"'}
    return Response(body, media_type="application/x-ndjson; charset=utf-8", headers=headers)


@router.get(
    "/v1/reports/agreement",
    response_model=AgreementReport,
    responses=ERRORS,
    summary="How often people confirm the machine, per item, rule and week",
)
def read_agreement(state: StateDep, reviews: ReviewsDep, who: Analyst) -> AgreementReport:
    return reviews.agreement(who, state.settings.tz)
