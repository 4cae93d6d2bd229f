"""View models of the HTML report: formatting, ordering and tables of any shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from qa_pipeline.report.views import fmt_clock, fmt_span, ordered_items, score_table
from qa_pipeline.types import ItemResult


def test_clock_and_span_formatting() -> None:
    assert fmt_clock(83.57) == "1:23.6"
    assert fmt_clock(3725.0) == "1:02:05.0"
    assert fmt_clock(None) == "—"
    assert fmt_span(13.9, 19.83) == "0:13.9–0:19.8"
    assert fmt_span(45.0, 45.0) == "0:45.0"  # a chat message: one instant
    assert fmt_span(None, None) == ""


def test_items_follow_the_scorecard_order_then_extra_items() -> None:
    item = ItemResult(verdict="pass", points=5, max_points=5)
    items = {"custom_rule": item, "closing": item, "greeting": item}
    assert [k for k, _ in ordered_items(items)] == ["greeting", "closing", "custom_rule"]


def test_score_table_from_dataclasses_and_mappings() -> None:
    @dataclass
    class Row:
        agent_id: str
        agent_score: float
        period_to: datetime | None
        flags: list[str]

    table = score_table([Row("K1", 91.26, datetime(2026, 3, 13), ["a", "b"]), Row("K2", 0.5, None, [])])
    assert table.columns == ["坐席工号", "综合评分", "止", "flags"]
    assert table.rows == [["K1", "91.3", "2026-03-13", "a、b"], ["K2", "0.50", "—", ""]]
    mapping = score_table(
        [{"agent_id": "K3", "extra": True, "empty": None, "ci": {"low": 70.0, "high": 81.25}}]
    )
    assert mapping.columns == ["坐席工号", "extra", "ci"] and mapping.rows == [["K3", "是", "70.0–81.2"]]
