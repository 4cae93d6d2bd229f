"""Where the scorecard and the labels disagree, conversation by conversation (``qa eval --errors``).

The agreement table says how often an item is wrong; a QA team tuning a rubric to its own calls needs
to read which conversations, and why the pipeline decided as it did: each disagreement comes with the
pipeline's evidence (the turns and rules behind its verdict, or the expectation it found missing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from qa_pipeline.evaluation import ITEM_IDS, ReviewPolicy, gold_verdict, predicted_verdict
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
    out: list[Disagreement] = []
    for labels, result in pairs:
        for item in ITEM_IDS:
            gold = gold_verdict(labels, item, record=result.id)
            if gold is None:
                continue
            predicted = predicted_verdict(result, item, review_as) or "na"
            if predicted != gold:
                found = result.items.get(item)
                evidence = found.evidence if found is not None else []
                out.append(
                    Disagreement(
                        conversation=result.id, item=item, gold=gold, predicted=predicted, evidence=evidence
                    )
                )
    return out


def to_jsonl(rows: Iterable[Disagreement]) -> str:
    """JSON Lines, one disagreement a line (UTF-8 text, Chinese kept as is)."""
    return "".join(row.model_dump_json() + "\n" for row in rows)
