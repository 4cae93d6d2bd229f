"""Hand-built, fully annotated conversations for the store tests."""

from __future__ import annotations

from datetime import UTC, datetime

from qa_pipeline.types import (
    Conversation,
    Evidence,
    IndexBreakdown,
    ItemResult,
    Metrics,
    PiiSpan,
    Prediction,
    SpeakerValue,
    Turn,
    Versions,
)


def make_conversation(
    conv_id: str = "c0001",
    *,
    agent_id: str = "A01",
    team: str = "T1",
    started_at: datetime | None = datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
    rubric: str = "default@1",
    last_text: str = "不客气，再见。",
    metadata: dict[str, object] | None = None,
) -> Conversation:
    """A fully annotated, PII-masked conversation as the pipeline would leave it."""
    turns = [
        Turn(speaker="agent", text="您好，工号一二三，请问有什么可以帮您？", start=0.0, end=4.0),
        Turn(
            speaker="customer",
            text="我的手机号是***********，账单不对。",
            start=4.5,
            end=9.0,
            sentiment=Prediction(label="neg", probs={"neg": 0.8, "neu": 0.15, "pos": 0.05}),
        ),
        Turn(speaker="agent", text=last_text, start=9.5, end=11.0),
    ]
    conv = Conversation(
        id=conv_id,
        channel="call",
        agent_id=agent_id,
        team=team,
        started_at=started_at,
        turns=turns,
        metadata={"industry": "telecom"} if metadata is None else metadata,
        source="test",
    )
    annotate(conv, rubric)
    return conv


def annotate(conv: Conversation, rubric: str = "default@1") -> None:
    """Fill in what the stages assign, with values that exercise every part of the result schema."""
    conv.pii = [PiiSpan(turn=1, type="phone", start_char=6, end_char=17)]
    conv.pii_masked = True
    conv.metrics = Metrics(
        negative_word_ratio=SpeakerValue(agent=0.0, customer=0.1),
        duration_s=11.0,
        negative_words=[Evidence(turn=1, start=4.5, end=9.0, text="不对", rule="lexicon")],
    )
    conv.items = {
        "greeting": ItemResult(
            verdict="pass",
            points=5,
            max_points=5,
            evidence=[Evidence(turn=0, start=0.0, end=4.0, text="您好", rule="keyword")],
            rubric_version=rubric,
        ),
        "empathy": ItemResult(verdict="fail", points=0, max_points=10, rubric_version=rubric),
    }
    conv.quality_index = 72.5
    conv.emotion_index = 40.0
    conv.emotion_breakdown = IndexBreakdown(value=40.0, inputs={"start": -1.0, "end": None})
    conv.grade = "C"
    conv.flags = ["negative_customer"]
    conv.versions = Versions(rubric=rubric, models={"sentiment": "tfidf-lr@1"}, pipeline="0.1.0+default")
