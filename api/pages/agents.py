"""/agents/{id}: an agent's indices over time with confidence bands, the skill radar of scorecard
items, the items failed most with examples, and their appeals. An agent sees only their own page."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import RepositoryDep, ReviewsDep, StateDep
from api.pages.common import PageSession, render
from qa_pipeline.access.roles import Action
from qa_pipeline.errors import NotFoundError
from qa_pipeline.kpi import KpiRow, kpi_rows
from qa_pipeline.report.svg import Series, lines, radar
from qa_pipeline.report.views import fmt_num, item_name, ordered_items
from qa_pipeline.store.models import utcnow
from qa_pipeline.store.reviews import AppealFilter
from qa_pipeline.types import ConversationResult

router = APIRouter(include_in_schema=False)
WEEKS = 12
RADAR_DAYS = 90


def trend_chart(rows: list[KpiRow], title: str) -> object:
    def band(name: str) -> tuple[list[float | None], list[float | None]]:
        cis = [getattr(r, f"{name}_ci") for r in rows]
        return [c.low if c else None for c in cis], [c.high if c else None for c in cis]

    series = [
        Series("质检分", [r.quality_index for r in rows], *band("quality_index")),
        Series("情绪指数", [r.emotion_index for r in rows], *band("emotion_index")),
        Series("综合评分", [r.agent_score for r in rows], *band("agent_score")),
    ]
    return lines([r.period_start.strftime("%m-%d") for r in rows], series, title=title)


def skills(results: list[ConversationResult]) -> tuple[list[str], list[float], list[dict[str, object]]]:
    """Pass rate per applicable item (the radar) and the items failed most with example ids."""
    passed: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for r in results:
        for item_id, item in ordered_items(r.items):
            if item.verdict in ("pass", "fail", "review"):
                seen[item_id] += 1
                passed[item_id] += item.verdict != "fail"
                if item.verdict == "fail":
                    examples[item_id].append(r.id)
    order = [k for k in seen]
    labels, values = [item_name(k) for k in order], [100.0 * passed[k] / seen[k] for k in order]
    failed = sorted(((seen[k] - passed[k], k) for k in order if seen[k] > passed[k]), reverse=True)[:5]
    worst = [
        {"name": item_name(k), "fails": n, "of": seen[k], "examples": examples[k][-3:][::-1]}
        for n, k in failed
    ]
    return labels, values, worst


@router.get("/agents/{agent_id}")
def agent_page(
    agent_id: str,
    request: Request,
    state: StateDep,
    repo: RepositoryDep,
    reviews: ReviewsDep,
    web: PageSession,
) -> Response:
    who = web.principal
    who.require(Action.CONVERSATION_READ)  # the page lists conversations: not for the kpi role
    own = who.role == "agent" and who.agent_id == agent_id  # an agent's own page, even before any call
    if not own and not repo.agent_known(agent_id, who.scope):
        raise NotFoundError("agent", agent_id)
    figures = reviews.final_figures(who.scope, agent_id=agent_id)
    rows = kpi_rows(figures, "week", state.settings.tz, state.scoring)[-WEEKS:]
    results = reviews.final_results(who.scope, agent_id=agent_id, start=utcnow() - timedelta(days=RADAR_DAYS))
    if not results:  # nothing recent: the radar shows the latest 200 instead
        results = reviews.final_results(who.scope, agent_id=agent_id)[-200:]
    labels, values, worst = skills(results)
    can_read = who.can(Action.CONVERSATION_READ)
    appeals = (
        reviews.appeals(who, AppealFilter(agent_id=agent_id), limit=20) if who.can(Action.APPEAL_READ) else []
    )
    latest = rows[-1] if rows else None
    return render(
        request,
        "agent.html",
        web,
        agent_id=agent_id,
        rows=rows,
        latest=latest,
        fmt_num=fmt_num,
        chart=trend_chart(rows, f"{agent_id} 每周指标"),
        radar=radar(labels, values, title="技能雷达图"),
        worst=worst,
        can_read=can_read,
        appeals=appeals,
        radar_n=len(results),
    )
