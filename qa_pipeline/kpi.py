"""The KPI pull: per agent and period (day, week, month in local time) the quality index, emotion
index and agent score with 95 % intervals, the negative-emotion share, case-mix and the calendar.

Intervals are Student-t intervals of per-conversation values (for the agent score: of each
conversation's own composite score, centred on the agent's score), so an agent with 2 conversations
gets a wide interval and one with 200 a narrow one; with fewer than 2 there is none.

Case-mix: customers who *arrived negative* (first customer turn negative) and those of them who left
calmer (last customer turn not negative and more positive than the first) are counted, and the
emotion index is reported separately for arrivals negative and the rest, so an agent on a hard
queue is not judged by their customers' mood alone.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from functools import lru_cache

from pydantic import BaseModel
from scipy import stats

from qa_pipeline.calendar_cn import PeriodCalendar, period_calendar
from qa_pipeline.figures import Figures
from qa_pipeline.periods import PeriodKind, next_period, period_start
from qa_pipeline.scoring import ScoringConfig, composite_score, most_common_team


class Interval(BaseModel):
    low: float
    high: float
    level: float
    n: int


class CaseMix(BaseModel):
    arrived_negative: int
    arrived_negative_share: float | None
    recovered: int
    recovered_share: float | None
    emotion_index_arrived_negative: float | None
    emotion_index_others: float | None


class KpiRow(BaseModel):
    agent_id: str
    team: str | None
    period: PeriodKind
    period_start: datetime
    period_end: datetime
    conversations: int
    quality_index: float | None
    quality_index_ci: Interval | None
    emotion_index: float | None
    emotion_index_ci: Interval | None
    agent_score: float | None
    agent_score_ci: Interval | None
    grade: str | None
    negative_emotion_share: float | None
    negative_emotion_over_target: bool | None
    case_mix: CaseMix
    calendar: PeriodCalendar
    distorted_period: bool


@lru_cache(maxsize=4096)
def t_quantile(level: float, dof: int) -> float:
    """Two-sided Student-t quantile (cached: the pull asks for the same few thousands times)."""
    return float(stats.t.ppf(0.5 + level / 2, dof))


def t_interval(values: Sequence[float], level: float, centre: float | None = None) -> Interval | None:
    """Student-t interval of the mean of ``values`` (around ``centre`` if given), clipped to 0–100."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    mid = mean if centre is None else centre
    half = t_quantile(level, n - 1) * sd / math.sqrt(n)
    return Interval(low=max(0.0, mid - half), high=min(100.0, mid + half), level=level, n=n)


def _when(r: Figures) -> datetime | None:
    return r.started_at


def group_by_period(
    results: Iterable[Figures], kind: PeriodKind, tz: tzinfo
) -> dict[tuple[str, datetime], list[Figures]]:
    """Results per (agent, local period start); conversations without agent or start are left out."""
    groups: dict[tuple[str, datetime], list[Figures]] = defaultdict(list)
    for r in results:
        when = _when(r)
        if r.agent_id and when is not None:
            groups[(r.agent_id, period_start(when, kind, tz))].append(r)
    return groups


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def case_mix(results: Sequence[Figures]) -> CaseMix:
    arrived, recovered, others = [], 0, []
    for r in results:
        if r.first is not None and r.first[0] == "neg":
            arrived.append(r)
            last = r.last
            recovered += int(last is not None and last[0] != "neg" and last[1] > r.first[1])
        else:
            others.append(r)
    n = len(results)
    return CaseMix(
        arrived_negative=len(arrived),
        arrived_negative_share=len(arrived) / n if n else None,
        recovered=recovered,
        recovered_share=recovered / len(arrived) if arrived else None,
        emotion_index_arrived_negative=_mean(
            [r.emotion_index for r in arrived if r.emotion_index is not None]
        ),
        emotion_index_others=_mean([r.emotion_index for r in others if r.emotion_index is not None]),
    )


def kpi_row(
    agent_id: str,
    start: datetime,
    kind: PeriodKind,
    group: Sequence[Figures],
    cfg: ScoringConfig,
    calendar: PeriodCalendar | None = None,
) -> KpiRow:
    level, kpi = cfg.confidence.level, cfg.kpi
    score = composite_score(group, cfg)
    qualities = [r.quality_index for r in group if r.quality_index is not None]
    emotions = [r.emotion_index for r in group if r.emotion_index is not None]
    singles = [s for r in group if (s := composite_score([r], cfg)) is not None]
    negative = sum(e < kpi.negative_emotion_below for e in emotions) / len(emotions) if emotions else None
    end = next_period(start, kind)
    calendar = calendar or period_calendar(start.date(), end.date(), kpi.peaks)
    return KpiRow(
        agent_id=agent_id,
        team=most_common_team(group),
        period=kind,
        period_start=start,
        period_end=end,
        conversations=len(group),
        quality_index=_mean(qualities),
        quality_index_ci=t_interval(qualities, level),
        emotion_index=_mean(emotions),
        emotion_index_ci=t_interval(emotions, level),
        agent_score=score,
        agent_score_ci=t_interval(singles, level, score) if score is not None else None,
        grade=cfg.grade(score),
        negative_emotion_share=negative,
        negative_emotion_over_target=None if negative is None else negative > kpi.negative_emotion_target,
        case_mix=case_mix(group),
        calendar=calendar,
        distorted_period=calendar.distorted,
    )


def kpi_rows(results: Iterable[Figures], kind: PeriodKind, tz: tzinfo, cfg: ScoringConfig) -> list[KpiRow]:
    """One row per agent and period, ordered by agent then period."""
    groups = group_by_period(results, kind, tz)
    calendars: dict[datetime, PeriodCalendar] = {}
    for _agent, start in groups:
        if start not in calendars:
            calendars[start] = period_calendar(start.date(), next_period(start, kind).date(), cfg.kpi.peaks)
    return [
        kpi_row(agent, start, kind, groups[(agent, start)], cfg, calendars[start])
        for agent, start in sorted(groups)
    ]


CSV_COLUMNS = (
    "agent_id",
    "team",
    "period",
    "period_start",
    "period_end",
    "conversations",
    "quality_index",
    "quality_index_low",
    "quality_index_high",
    "emotion_index",
    "emotion_index_low",
    "emotion_index_high",
    "agent_score",
    "agent_score_low",
    "agent_score_high",
    "grade",
    "negative_emotion_share",
    "negative_emotion_over_target",
    "arrived_negative_share",
    "recovered_share",
    "emotion_index_arrived_negative",
    "emotion_index_others",
    "holidays",
    "makeup_workdays",
    "peaks",
    "distorted_period",
)


def _ci(ci: Interval | None) -> tuple[float | None, float | None]:
    return (None, None) if ci is None else (ci.low, ci.high)


def csv_record(row: KpiRow) -> dict[str, object]:
    """One CSV line's values (intervals flattened to ``_low``/``_high``, lists joined with ``|``)."""
    q, e, a = _ci(row.quality_index_ci), _ci(row.emotion_index_ci), _ci(row.agent_score_ci)
    mix, cal = row.case_mix, row.calendar
    values: list[object] = [
        row.agent_id,
        row.team,
        row.period,
        row.period_start.isoformat(),
        row.period_end.isoformat(),
        row.conversations,
        row.quality_index,
        *q,
        row.emotion_index,
        *e,
        row.agent_score,
        *a,
        row.grade,
        row.negative_emotion_share,
        row.negative_emotion_over_target,
        mix.arrived_negative_share,
        mix.recovered_share,
        mix.emotion_index_arrived_negative,
        mix.emotion_index_others,
        "|".join(cal.holidays),
        cal.makeup_workdays,
        "|".join(cal.peaks),
        row.distorted_period,
    ]
    return dict(zip(CSV_COLUMNS, values, strict=True))
