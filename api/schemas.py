"""Request and response models. ``*Create`` documents what clients send; ``*Public`` what they get."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from qa_pipeline.scoring import AgentScore
from qa_pipeline.sources.fields import ID_LENGTH, SPEAKER_ALIASES
from qa_pipeline.store import ConversationSummary, StoredConversation
from qa_pipeline.store.repository import ConversationHeader
from qa_pipeline.store.reviews import AppealPublic
from qa_pipeline.types import Channel, ConversationResult, Evidence, PublicTurn


class TurnCreate(BaseModel):
    speaker: str = Field(
        description="agent or customer (aliases such as 客服/客户 are accepted, in any case)",
        json_schema_extra={"enum": list[JsonValue](sorted(SPEAKER_ALIASES))},
    )
    text: str
    start: float | None = Field(default=None, description="seconds from the start (call) or send time (chat)")
    end: float | None = None


class ConversationCreate(BaseModel):
    """One conversation in the ``dialogues.jsonl`` format; other top-level fields are kept as metadata."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(max_length=ID_LENGTH, pattern="^[^/]+$", description="no '/' (it could not be fetched)")
    channel: Channel | None = Field(default=None, description="call or chat; inferred when absent")
    agent_id: str | None = Field(default=None, max_length=ID_LENGTH)
    team: str | None = Field(default=None, max_length=ID_LENGTH)
    started_at: datetime | None = None
    turns: list[TurnCreate] = Field(min_length=1)


class ConversationCreatedPublic(BaseModel):
    id: str
    status: Literal["created", "updated", "unchanged"]
    result: ConversationResult


class ConversationPublic(ConversationHeader):
    """A stored conversation: masked transcript, its current result and the evidence per item."""

    transcript: list[PublicTurn]
    result: ConversationResult | None
    evidence: dict[str, list[Evidence]]
    appeals: list[AppealPublic] = Field(default_factory=list)

    @classmethod
    def build(
        cls,
        conv: StoredConversation,
        result: ConversationResult | None,
        appeals: list[AppealPublic] | None = None,
    ) -> ConversationPublic:
        evidence = {} if result is None else {k: v.evidence for k, v in result.items.items()}
        header = {name: getattr(conv, name) for name in ConversationHeader.model_fields}
        return cls(**header, transcript=conv.turns, result=result, evidence=evidence, appeals=appeals or [])


class ConversationListPublic(BaseModel):
    items: list[ConversationSummary]
    total: int
    limit: int
    offset: int


class AgentIndicesPublic(AgentScore):
    """An agent's indices over ``[from, to)``; indices are null when there is no conversation.

    :class:`AgentScore` with the period named ``from``/``to`` and without the internal ``details``.
    """

    period_from: datetime | None = Field(serialization_alias="from")
    period_to: datetime | None = Field(serialization_alias="to")
    details: dict[str, float | None] = Field(default_factory=dict, exclude=True)

    @classmethod
    def build(cls, score: AgentScore) -> AgentIndicesPublic:
        return cls.model_validate(score, from_attributes=True)


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok", "error"]
    schema_revision: str | None
    pipeline: str
    stages: list[str]


class ErrorDetail(BaseModel):
    code: str
    error: str
    detail: str
    file: str | None
    line: int | None
    field: str | None
    conversation: str | None
    hint: str


class ErrorPublic(BaseModel):
    """Every error response: ``{"error": {...}}`` with a QA code and a hint."""

    error: ErrorDetail
