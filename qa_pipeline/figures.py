"""The figures of one conversation that every KPI is computed from: a plain, slotted record, so a
pull over tens of thousands of conversations handles small tuples, not whole results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from qa_pipeline.types import ConversationResult, SuppliedKpis, TurnSentiment


@dataclass(slots=True)
class Figures:
    id: str
    agent_id: str | None
    team: str | None
    channel: str
    started_at: datetime | None
    quality_index: float | None
    emotion_index: float | None
    grade: str | None
    hold: str | None
    """The verdict of ``hold_etiquette`` (None when the scorecard has no such item)."""
    latency_s: float | None
    csat: float | None
    aht_s: float | None
    first: tuple[str, float] | None
    """The customer's first sentiment turn: label and valence (p_pos − p_neg)."""
    last: tuple[str, float] | None
    """The customer's last sentiment turn, when it is another turn than the first."""


def _ends(turns: list[TurnSentiment]) -> tuple[tuple[str, float] | None, tuple[str, float] | None]:
    if not turns:
        return None, None
    pick = [(s.label, s.probs.get("pos", 0.0) - s.probs.get("neg", 0.0)) for s in (turns[0], turns[-1])]
    return pick[0], pick[1] if len(turns) > 1 else None


def figures_of(r: ConversationResult, kpis: SuppliedKpis | None = None) -> Figures:
    """``r``'s figures; ``kpis`` (CSAT, AHT) replace the ones the pipeline read from its metadata."""
    kpis = kpis if kpis is not None else r.kpis
    hold = r.items.get("hold_etiquette")
    first, last = _ends(r.customer_sentiment)
    return Figures(
        id=r.id,
        agent_id=r.agent_id,
        team=r.team,
        channel=r.channel,
        started_at=r.started_at,
        quality_index=r.quality_index,
        emotion_index=r.emotion_index,
        grade=r.grade,
        hold=hold.verdict if hold is not None else None,
        latency_s=r.metrics.response_latency_s,
        csat=kpis.csat if kpis is not None else None,
        aht_s=kpis.aht_s if kpis is not None else None,
        first=first,
        last=last,
    )
