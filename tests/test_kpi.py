"""The KPI pull's rows: grouping by local period, intervals that widen with few conversations,
negative-emotion share, case-mix and the calendar marks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from qa_pipeline.calendar_cn import Peak, period_calendar
from qa_pipeline.figures import figures_of
from qa_pipeline.kpi import CSV_COLUMNS, csv_record, kpi_rows, t_interval
from qa_pipeline.review.verdicts import Decision, apply_decisions
from qa_pipeline.scoring import ScoringConfig
from qa_pipeline.store.kpi_facts import decided_figures, facts_of, figures_from_facts
from qa_pipeline.types import ConversationResult, TurnSentiment
from tests.store.factory import make_conversation

BEIJING = ZoneInfo("Asia/Shanghai")


def _result(
    i: int, agent: str, when: datetime, quality: float, emotion: float, first: str = "neu"
) -> ConversationResult:
    r = make_conversation(f"{agent}-{i}", agent_id=agent, started_at=when).to_result()
    sentiments = [
        TurnSentiment(
            turn=1, label=first, probs={"neg": 0.8 if first == "neg" else 0.1, "neu": 0.1, "pos": 0.1}
        ),
        TurnSentiment(turn=3, label="neu", probs={"neg": 0.1, "neu": 0.8, "pos": 0.1}),
    ]
    return r.model_copy(
        update={"quality_index": quality, "emotion_index": emotion, "customer_sentiment": sentiments}
    )


def test_rows_per_agent_and_local_day_with_intervals_that_narrow_with_n() -> None:
    day = datetime(2026, 4, 8, 1, tzinfo=UTC)  # 09:00 Beijing
    few = [_result(i, "A1", day, 60 + 20 * (i % 2), 50) for i in range(2)]
    many = [_result(i, "A2", day, 60 + 20 * (i % 2), 50) for i in range(200)]
    rows = kpi_rows([figures_of(r) for r in few + many], "day", BEIJING, ScoringConfig())
    a1, a2 = rows
    assert (a1.agent_id, a1.conversations, a2.conversations) == ("A1", 2, 200)
    assert a1.period_start == datetime(2026, 4, 8, tzinfo=BEIJING)
    assert a1.quality_index == a2.quality_index == 70.0
    assert a1.quality_index_ci is not None and a2.quality_index_ci is not None
    width = lambda ci: ci.high - ci.low  # noqa: E731
    assert width(a1.quality_index_ci) > 10 * width(a2.quality_index_ci)
    assert a1.agent_score_ci is not None and a1.agent_score is not None
    assert a1.agent_score_ci.low <= a1.agent_score <= a1.agent_score_ci.high


def test_a_single_conversation_has_no_interval() -> None:
    assert t_interval([80.0], 0.95) is None
    [row] = kpi_rows(
        [figures_of(_result(0, "A1", datetime(2026, 4, 8, tzinfo=UTC), 80, 50))],
        "week",
        BEIJING,
        ScoringConfig(),
    )
    assert row.quality_index_ci is None and row.period_start == datetime(2026, 4, 6, tzinfo=BEIJING)


def test_negative_share_and_case_mix() -> None:
    when = datetime(2026, 4, 8, 2, tzinfo=UTC)
    results = [
        _result(i, "A1", when, 80, 30 if i < 2 else 70, first="neg" if i < 4 else "neu") for i in range(10)
    ]
    [row] = kpi_rows([figures_of(r) for r in results], "month", BEIJING, ScoringConfig())
    assert row.negative_emotion_share == 0.2 and row.negative_emotion_over_target is True
    mix = row.case_mix
    assert (mix.arrived_negative, mix.recovered) == (4, 4)  # negative first turn, neutral last turn
    assert mix.emotion_index_arrived_negative == 50.0 and mix.emotion_index_others == 70.0


def test_calendar_marks_holidays_makeup_days_and_peaks() -> None:
    golden_week = period_calendar(date(2026, 9, 28), date(2026, 10, 5), [])
    assert "国庆节" in golden_week.holidays and golden_week.holiday_days >= 4 and golden_week.distorted
    quiet = period_calendar(
        date(2026, 3, 9), date(2026, 3, 16), [Peak(name="双十一", start="11-01", end="11-12")]
    )
    assert not quiet.distorted and quiet.calendar_known
    assert period_calendar(
        date(2026, 11, 9), date(2026, 11, 10), [Peak(name="双十一", start="11-01", end="11-12")]
    ).peaks == ["双十一"]
    beyond = period_calendar(date(2099, 1, 1), date(2099, 1, 2), [])
    assert not beyond.calendar_known


def test_csv_record_has_every_column() -> None:
    [row] = kpi_rows(
        [figures_of(_result(0, "A1", datetime(2026, 4, 8, tzinfo=UTC), 80, 50))],
        "day",
        BEIJING,
        ScoringConfig(),
    )
    record = csv_record(row)
    assert tuple(record) == CSV_COLUMNS and record["agent_id"] == "A1"
    assert record["period_start"] == (datetime(2026, 4, 8, tzinfo=BEIJING)).isoformat()
    assert timedelta(days=1) == row.period_end - row.period_start


def test_rows_from_stored_facts_equal_rows_from_whole_results() -> None:
    when = datetime(2026, 4, 8, 2, tzinfo=UTC)
    results = [
        _result(
            i, f"A{i % 3}", when + timedelta(days=i % 9), 50 + i, 20 + 3 * i, first="neg" if i % 4 else "neu"
        )
        for i in range(30)
    ]
    light = [figures_from_facts(r.id, json.loads(json.dumps(facts_of(r)))) for r in results]
    whole = [figures_of(r) for r in results]
    assert light == whole
    for kind in ("day", "week", "month"):
        assert kpi_rows(light, kind, BEIJING, ScoringConfig()) == kpi_rows(
            whole, kind, BEIJING, ScoringConfig()
        )


def test_human_verdicts_on_facts_equal_those_on_whole_results() -> None:
    result = _result(0, "A1", datetime(2026, 4, 8, tzinfo=UTC), 33.33, 50)
    decision = Decision(
        conversation_id=result.id,
        item="empathy",
        verdict="pass",
        machine_verdict="fail",
        source="review",
        user_name="qa",
        created_at=datetime(2026, 4, 9, tzinfo=UTC),
    )
    config = ScoringConfig()
    whole = figures_of(apply_decisions(result, {"empathy": decision}, config.grade))
    facts = facts_of(result)
    light = decided_figures(figures_from_facts(result.id, facts), facts, {"empathy": decision}, config.grade)
    assert light == whole and light.quality_index == 100.0
