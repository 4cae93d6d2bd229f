"""Where the scorecard and the labels disagree, conversation by conversation (``qa eval --errors``).

The agreement table says how often an item is wrong; a QA team tuning a rubric to its own calls needs
to read which conversations, and why the pipeline decided as it did: each disagreement comes with the
pipeline's evidence (the turns and rules behind its verdict, or the expectation it found missing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from qa_pipeline.evaluation import ReviewPolicy, labelled_verdicts
from qa_pipeline.types import ConversationResult, Evidence


class Disagreement(BaseModel):
    """One item of one conversation where the predicted verdict differs from the label."""

    conversation: str
    item: str
    gold: str
    predicted: str
    evidence: list[Evidence]


def disagreements(
    pairs: Iterable[tuple[dict[str, Any], ConversationResult]], *, review_as: ReviewPolicy = "fail"
) -> list[Disagreement]:
    """Every labelled item whose prediction (after the review policy, a missing item read as na)
    differs from its gold verdict, in input order."""
    return [
        _disagreement(result, item, gold, predicted or "na")
        for labels, result in pairs
        for item, gold, predicted in labelled_verdicts(labels, result, review_as)
        if (predicted or "na") != gold
    ]


def _disagreement(result: ConversationResult, item: str, gold: str, predicted: str) -> Disagreement:
    found = result.items.get(item)
    evidence = found.evidence if found is not None else []
    return Disagreement(conversation=result.id, item=item, gold=gold, predicted=predicted, evidence=evidence)


def to_jsonl(rows: Iterable[Disagreement]) -> str:
    """JSON Lines, one disagreement a line (UTF-8 text, Chinese kept as is)."""
    return "".join(row.model_dump_json() + "\n" for row in rows)
