"""Typed models that flow between stages.

Data flows one way: a source builds a :class:`Conversation`; stages annotate it in place
(spaCy's ``Doc`` pattern); :meth:`Conversation.to_result` projects it to the public output
schema (:class:`ConversationResult`), which is what the CLI writes and the API returns.

Text invariant: once the ``pii`` stage has run, ``Turn.text`` holds the *masked* display text
and no raw personal digits remain anywhere on the conversation (metadata included).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Speaker = Literal["agent", "customer"]
Channel = Literal["call", "chat"]
Verdict = Literal["pass", "fail", "na", "review"]
SentimentLabel = Literal["neg", "neu", "pos"]
PiiType = Literal["phone", "id_card", "bank_card", "email"]

SPEAKERS: tuple[Speaker, ...] = ("agent", "customer")
CHANNELS: tuple[Channel, ...] = ("call", "chat")


class Word(BaseModel):
    """One recognised word (ASR) with its timing and confidence."""

    text: str
    start: float
    end: float
    probability: float = 1.0


class Prediction(BaseModel):
    """Output of a text classifier for one text: a label and calibrated probabilities."""

    label: str
    probs: dict[str, float]


class Turn(BaseModel):
    """One utterance (call) or message (chat).

    ``text`` is the display text (Simplified, half-width, PII masked after the pii stage);
    ``norm`` is the matching view (numerals normalised, lower-cased); ``tokens`` are jieba
    tokens of ``norm``.
    """

    model_config = ConfigDict(validate_assignment=False)

    speaker: Speaker
    text: str
    start: float | None = None
    end: float | None = None
    words: list[Word] = Field(default_factory=list)
    norm: str = ""
    tokens: list[str] = Field(default_factory=list)
    sentiment: Prediction | None = None
    emotion: Prediction | None = None  # angry/happy/neutral/sad/surprise/fear (customer turns by default)
    role_confidence: float | None = None

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)


class PiiSpan(BaseModel):
    """A masked personal-data span in ``turns[turn].text`` (character offsets, end exclusive)."""

    turn: int
    type: PiiType
    start_char: int
    end_char: int


class Evidence(BaseModel):
    """Why a verdict or metric was given: where, when, which words and which rule."""

    turn: int | None = None
    start: float | None = None
    end: float | None = None
    text: str = ""
    rule: str = ""
    note: str = ""
    """What the rule found or missed, for a reviewer (e.g. 第3轮客户抱怨后，下一轮坐席未安抚客户情绪)."""


class ItemReview(BaseModel):
    """The human decision in force on an item: who, when, why, and whether the machine agrees."""

    by: str
    at: datetime
    comment: str = ""
    source: Literal["review", "appeal"] = "review"
    disagrees: bool = False
    """The current machine verdict differs from the human one (e.g. after a re-audit)."""


class ItemResult(BaseModel):
    """The verdict of one scorecard item; after a human decision, ``verdict`` is the human's and
    ``machine_verdict`` the pipeline's."""

    verdict: Verdict
    points: float
    max_points: float
    evidence: list[Evidence] = Field(default_factory=list)
    fatal: bool = False
    rubric_version: str = ""
    machine_verdict: Verdict | None = None
    review: ItemReview | None = None


class SpeakerValue(BaseModel):
    agent: float | None = None
    customer: float | None = None


class Silence(BaseModel):
    """A gap with no speech from anybody; ``before_turn`` is the turn that ends it."""

    start: float
    end: float
    before_turn: int
    speaker_after: Speaker

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Overlap(BaseModel):
    """Turn ``turn`` started while ``over_turn`` (other speaker) was still running."""

    turn: int
    over_turn: int
    speaker: Speaker
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Metrics(BaseModel):
    negative_word_ratio: SpeakerValue = Field(default_factory=SpeakerValue)
    pause_per_min: float | None = None
    longest_silence_s: float | None = None
    dead_air_ratio: float | None = None
    overtalk_count: int = 0
    overtalk_s: float = 0.0
    speech_rate: SpeakerValue = Field(default_factory=SpeakerValue)
    response_latency_s: float | None = None
    duration_s: float | None = None
    silences: list[Silence] = Field(default_factory=list)
    overlaps: list[Overlap] = Field(default_factory=list)
    negative_words: list[Evidence] = Field(default_factory=list)


class TurnSentiment(BaseModel):
    turn: int
    label: str
    probs: dict[str, float]


class IndexBreakdown(BaseModel):
    """An index value and the inputs that produced it."""

    value: float | None
    inputs: dict[str, float | None] = Field(default_factory=dict)


class SuppliedKpis(BaseModel):
    """Per-conversation figures supplied by the KPI system: CSAT (on the configured scale), AHT."""

    csat: float | None = None
    aht_s: float | None = Field(default=None, ge=0)


class Versions(BaseModel):
    rubric: str = ""
    models: dict[str, str] = Field(default_factory=dict)
    pipeline: str = ""


class AudioRef(BaseModel):
    """The recording a call conversation comes from (the ``asr`` stage turns it into turns)."""

    path: str
    format: str = ""
    channels: int = 0
    sample_rate: int = 0
    duration_s: float | None = None
    agent_channel: Literal["left", "right"] = "left"
    # where finished chunks of the transcription are kept so that a retried job resumes (call jobs)
    checkpoint: str | None = None


class Conversation(BaseModel):
    """A conversation and every annotation the stages add to it."""

    id: str
    channel: Channel
    agent_id: str | None = None
    team: str | None = None
    started_at: datetime | None = None
    turns: list[Turn]
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    audio: AudioRef | None = None

    # annotations, assigned by stages
    pii: list[PiiSpan] = Field(default_factory=list)
    pii_masked: bool = False
    metrics: Metrics | None = None
    items: dict[str, ItemResult] = Field(default_factory=dict)
    quality_index: float | None = None
    emotion_index: float | None = None
    emotion_breakdown: IndexBreakdown | None = None
    grade: str | None = None
    kpis: SuppliedKpis | None = None
    flags: list[str] = Field(default_factory=list)
    versions: Versions = Field(default_factory=Versions)

    def turns_of(self, speaker: Speaker) -> list[tuple[int, Turn]]:
        return [(i, t) for i, t in enumerate(self.turns) if t.speaker == speaker]

    @property
    def customer_sentiment(self) -> list[TurnSentiment]:
        return [
            TurnSentiment(turn=i, label=t.sentiment.label, probs=t.sentiment.probs)
            for i, t in enumerate(self.turns)
            if t.speaker == "customer" and t.sentiment is not None
        ]

    def to_result(self) -> ConversationResult:
        return ConversationResult(
            id=self.id,
            agent_id=self.agent_id,
            team=self.team,
            channel=self.channel,
            started_at=self.started_at,
            turns=[PublicTurn(speaker=t.speaker, text=t.text, start=t.start, end=t.end) for t in self.turns],
            quality_index=self.quality_index,
            emotion_index=self.emotion_index,
            grade=self.grade,
            kpis=self.kpis,
            items=self.items,
            metrics=self.metrics or Metrics(),
            customer_sentiment=self.customer_sentiment,
            flags=self.flags,
            pii=self.pii,
            versions=self.versions,
        )


class PublicTurn(BaseModel):
    speaker: Speaker
    text: str
    start: float | None = None
    end: float | None = None


class ConversationResult(BaseModel):
    """The public output schema: one JSON object per conversation (CLI and API)."""

    id: str
    agent_id: str | None
    team: str | None = None
    channel: Channel
    started_at: datetime | None = None
    turns: list[PublicTurn]
    quality_index: float | None
    emotion_index: float | None
    grade: str | None
    kpis: SuppliedKpis | None = None
    items: dict[str, ItemResult]
    metrics: Metrics
    customer_sentiment: list[TurnSentiment]
    flags: list[str]
    pii: list[PiiSpan]
    versions: Versions
