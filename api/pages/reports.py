"""/reports/agreement: which rules people overturn most, per item, rule and week (qa, admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ReviewsDep, StateDep
from api.pages.common import PageSession, render
from qa_pipeline.report.svg import Series, lines
from qa_pipeline.report.views import item_name
from qa_pipeline.review.agreement import AgreementReport

router = APIRouter(include_in_schema=False)


def weekly_chart(report: AgreementReport) -> object:
    weeks = sorted({w.week for i in report.items for w in i.weeks})
    series = []
    for item in report.items:
        by_week = {w.week: w.agreement for w in item.weeks}
        values = [100.0 * v if (v := by_week.get(w)) is not None else None for w in weeks]
        series.append(Series(item_name(item.item), values))
    return lines([w.strftime("%m-%d") for w in weeks], series[:4], title="每周人机一致率（%）")


@router.get("/reports/agreement")
def agreement_page(request: Request, state: StateDep, reviews: ReviewsDep, web: PageSession) -> Response:
    report = reviews.agreement(web.principal, state.settings.tz)
    overturned = sorted(
        (
            (r.n - r.confirmed, r.rule, r.n, item_name(i.item))
            for i in report.items
            for r in i.rules
            if r.n > r.confirmed
        ),
        reverse=True,
    )[:20]
    return render(
        request,
        "agreement.html",
        web,
        report=report,
        overturned=overturned,
        chart=weekly_chart(report),
        item_name=item_name,
    )
