"""/teams/{id}: the team's agents with grades and trends, and alerts (negative-emotion share above
the target, a dropping quality index, overdue flags)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ReviewsDep, StateDep
from api.pages.common import PageSession, render
from qa_pipeline.access.roles import Action
from qa_pipeline.errors import NotFoundError
from qa_pipeline.kpi import KpiRow, kpi_rows
from qa_pipeline.report.views import fmt_num
from qa_pipeline.store.queue import QueueFilter

router = APIRouter(include_in_schema=False)
DROP_POINTS = 5.0


@dataclass
class AgentLine:
    agent_id: str
    latest: KpiRow
    previous: KpiRow | None

    @property
    def change(self) -> float | None:
        now, before = self.latest.quality_index, self.previous.quality_index if self.previous else None
        return None if now is None or before is None else now - before


def _lines(rows: list[KpiRow]) -> list[AgentLine]:
    by_agent: dict[str, list[KpiRow]] = defaultdict(list)
    for r in rows:
        by_agent[r.agent_id].append(r)
    return [AgentLine(a, rs[-1], rs[-2] if len(rs) > 1 else None) for a, rs in sorted(by_agent.items())]


def alerts(lines: list[AgentLine], target: float, overdue: int) -> list[tuple[str, str, str]]:
    """(kind, agent or "", text) for what a supervisor should act on."""
    out: list[tuple[str, str, str]] = []
    if overdue:
        out.append(("overdue", "", f"{overdue} 条严重负面情绪会话已超过2小时未处理"))
    for line in lines:
        share = line.latest.negative_emotion_share
        if share is not None and share > target:
            out.append(("negative", line.agent_id, f"客户负面情绪占比 {share:.0%}，高于目标 {target:.0%}"))
        if line.change is not None and line.change <= -DROP_POINTS:
            out.append(("drop", line.agent_id, f"质检分较上周下降 {-line.change:.1f} 分"))
    return out


@router.get("/teams/{team}")
def team_page(
    team: str, request: Request, state: StateDep, reviews: ReviewsDep, web: PageSession
) -> Response:
    who = web.principal
    who.require(Action.QUEUE_READ)  # supervisors, qa, admin: a team's agents and their flags
    if not who.scope.covers_team(team):
        raise NotFoundError("team", team)
    rows = kpi_rows(reviews.final_figures(who.scope, team=team), "week", state.settings.tz, state.scoring)
    lines = _lines(rows)
    overdue = (
        reviews.queue(who, QueueFilter(team=team), limit=1).counts.overdue
        if who.can(Action.QUEUE_READ)
        else 0
    )
    target = state.scoring.kpi.negative_emotion_target
    return render(
        request,
        "team.html",
        web,
        team=team,
        lines=lines,
        alerts=alerts(lines, target, overdue),
        overdue=overdue,
        fmt_num=fmt_num,
        target=target,
    )
