"""Human verdicts over machine results: the result a supervisor, an agent and the KPI system see.

The machine result is never changed in the store. :func:`apply_decisions` returns a copy in which
each decided item carries the human ``verdict`` (``machine_verdict`` beside it, and the decision in
``review``), the quality index, grade and review flags recomputed from those verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from pydantic import BaseModel, Field

from qa_pipeline.rubric.scorecard import score_items
from qa_pipeline.types import ConversationResult, ItemResult, ItemReview, Verdict

HumanVerdict = Verdict  # pass | fail | na (a human never answers "review")
OWNED_FLAGS = ("fatal:", "review:")


class Decision(BaseModel):
    """One human verdict on one item (the latest per item is in force)."""

    conversation_id: str
    item: str
    verdict: HumanVerdict
    machine_verdict: Verdict
    machine_rules: list[str] = Field(default_factory=list)
    """The rule ids of the machine's evidence for the item when the human decided."""
    source: str
    user_name: str
    comment: str = ""
    created_at: datetime
    review_id: int | None = None
    appeal_id: str | None = None


def decided_item(item: ItemResult, d: Decision) -> ItemResult:
    """``item`` under the human verdict: full points for pass, none for fail, dropped for na."""
    points = item.max_points if d.verdict == "pass" else 0.0
    review = ItemReview(
        by=d.user_name,
        at=d.created_at,
        comment=d.comment,
        source="appeal" if d.source == "appeal" else "review",
        disagrees=item.verdict != d.verdict,
    )
    return item.model_copy(
        update={"verdict": d.verdict, "points": points, "machine_verdict": item.verdict, "review": review}
    )


def apply_decisions(
    result: ConversationResult,
    decisions: Mapping[str, Decision],
    grade: Callable[[float | None], str | None],
) -> ConversationResult:
    """``result`` with ``decisions`` (item id -> decision in force) applied; unchanged without any."""
    if not decisions:
        return result
    items = {k: decided_item(v, decisions[k]) if k in decisions else v for k, v in result.items.items()}
    score = score_items(items)
    kept = [f for f in result.flags if not f.startswith(OWNED_FLAGS) and f != "needs_review"]
    return result.model_copy(
        update={
            "items": items,
            "quality_index": score.quality_index,
            "grade": grade(score.quality_index),
            "flags": kept + score.flags,
        }
    )
