"""The figures of a result that the KPI pull needs, stored beside it (``results.facts``) as a short
flat JSON list, so a pull over tens of thousands of conversations reads about 200 bytes each, not
the whole result (decoding nested JSON is what costs).

Layout (``VERSION`` 2): ``[2, agent_id, team, channel, started_at, quality_index, emotion_index,
grade, hold_verdict, latency_s, csat, aht_s, first_label, first_valence, last_label, last_valence,
items]`` where ``items`` is ``"greeting:pass:5:5:0;…"`` (id, verdict, points, max points, fatal),
parsed only for the conversations a human changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qa_pipeline.figures import Figures, figures_of
from qa_pipeline.review.verdicts import Decision, decided_item
from qa_pipeline.rubric.scorecard import score_items
from qa_pipeline.types import ConversationResult, ItemResult

VERSION = 2
_ITEM_SEP, _FIELD_SEP = ";", ":"


def facts_of(r: ConversationResult) -> list[Any]:
    f = figures_of(r)
    first, last = f.first or (None, None), f.last or (None, None)
    items = _ITEM_SEP.join(
        _FIELD_SEP.join((k, i.verdict, f"{i.points:g}", f"{i.max_points:g}", "1" if i.fatal else "0"))
        for k, i in r.items.items()
    )
    started = f.started_at.isoformat() if f.started_at else None
    return [
        VERSION,
        f.agent_id,
        f.team,
        f.channel,
        started,
        f.quality_index,
        f.emotion_index,
        f.grade,
        f.hold,
        f.latency_s,
        f.csat,
        f.aht_s,
        *first,
        *last,
        items,
    ]


def figures_from_facts(
    conversation_id: str, facts: list[Any], period_time: datetime | None = None
) -> Figures:
    """The figures of stored facts; ``period_time`` (the import time) stands in for an unknown start."""
    (_v, agent, team, channel, started, q, e, grade, hold, latency, csat, aht, fl, fv, ll, lv, _items) = facts
    return Figures(
        id=conversation_id,
        agent_id=agent,
        team=team,
        channel=channel,
        started_at=datetime.fromisoformat(started) if started else period_time,
        quality_index=q,
        emotion_index=e,
        grade=grade,
        hold=hold,
        latency_s=latency,
        csat=csat,
        aht_s=aht,
        first=(fl, fv) if fl is not None else None,
        last=(ll, lv) if ll is not None else None,
    )


def items_from_facts(facts: list[Any]) -> dict[str, ItemResult]:
    out = {}
    for part in (facts[-1] or "").split(_ITEM_SEP):
        if part:
            item, verdict, points, max_points, fatal = part.rsplit(_FIELD_SEP, 4)
            out[item] = ItemResult.model_validate(
                {
                    "verdict": verdict,
                    "points": float(points),
                    "max_points": float(max_points),
                    "fatal": fatal == "1",
                }
            )
    return out


def decided_figures(
    figures: Figures, facts: list[Any], decided: Mapping[str, Decision], grade: Any
) -> Figures:
    """``figures`` under the human verdicts in force: quality index, grade and hold verdict recomputed."""
    items = {
        k: decided_item(v, decided[k]) if k in decided else v for k, v in items_from_facts(facts).items()
    }
    quality = score_items(items).quality_index
    hold = items["hold_etiquette"].verdict if "hold_etiquette" in items else figures.hold
    figures.quality_index, figures.grade, figures.hold = quality, grade(quality), hold
    return figures
