"""What every rule shares: the :class:`Hit` it returns, the :class:`MatchContext` it reads (the
conversation, named rules and per-conversation caches) and :class:`RuleBase` (scope fields, the memo,
``find``). The rule types themselves are in :mod:`qa_pipeline.rubric.rules`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qa_pipeline.rubric.textmatch import TurnViews
from qa_pipeline.types import Channel, Conversation, Prediction, Turn

SpeakerScope = Literal["agent", "customer", "any"]


@dataclass(frozen=True)
class Hit:
    """A rule matched turn ``turn``; the matched words stand in ``source_turn`` when it is another turn
    (a ``previous`` rule hits the agent's reply because of what the customer said before)."""

    turn: int
    text: str
    rule: str
    start_char: int = -1
    score: float = 1.0
    source_turn: int | None = None
    label: str = ""  # what a model said, in words (e.g. an objection's type), shown with the rule's name

    @property
    def quoted_turn(self) -> int:
        """The turn whose text holds :attr:`text`."""
        return self.turn if self.source_turn is None else self.source_turn


@dataclass
class MatchContext:
    """What rules see: the conversation, named rules, and per-conversation caches."""

    conv: Conversation
    named: dict[str, RuleBase] = field(default_factory=dict)
    views: TurnViews = field(default_factory=TurnViews)
    first_hit: dict[str, int | None] = field(default_factory=dict)
    # trained rubric classifiers' outputs, per ClassifierRule.key, one slot per turn (None: not scored)
    model_preds: dict[str, list[Prediction | None]] = field(default_factory=dict)
    # hits per (rule object, turn): named rules and shared sub-rules are asked about a turn many times
    memo: dict[tuple[int, int], list[Hit]] = field(default_factory=dict)
    ranks: dict[tuple[str, bool], list[int]] = field(default_factory=dict)
    speaker_turns: dict[str, list[int]] = field(default_factory=dict)
    following: dict[int, list[bool]] = field(default_factory=dict)  # per rule object: following_turns

    def turn(self, i: int) -> Turn:
        return self.conv.turns[i]

    def turns_of(self, speaker: SpeakerScope) -> list[int]:
        """Indexes of the turns of ``speaker`` (every turn for ``any``), in order."""
        found = self.speaker_turns.get(speaker)
        if found is None:
            turns = self.conv.turns
            found = [i for i, t in enumerate(turns) if speaker == "any" or t.speaker == speaker]
            self.speaker_turns[speaker] = found
        return found

    def rank(self, i: int, speaker: SpeakerScope, from_end: bool = False) -> int:
        """Position of turn i among the turns of ``speaker`` (0-based; ``from_end``: 0 = the last)."""
        key = (speaker, from_end)
        if key not in self.ranks:
            self.ranks[key] = _ranks(self.conv, speaker, from_end)
        return self.ranks[key][i]

    def first_turn_of(self, rule_id: str) -> int | None:
        """The first turn the named rule hits (a rule's hits at turn i are all at turn i)."""
        if rule_id not in self.first_hit:
            rule = self.named[rule_id]
            turns = self.turns_of(rule.speaker)
            self.first_hit[rule_id] = next((i for i in turns if rule.matches_at(self, i)), None)
        return self.first_hit[rule_id]


def _ranks(conv: Conversation, speaker: SpeakerScope, from_end: bool) -> list[int]:
    """Per turn: how many turns of ``speaker`` come before it (after it, with ``from_end``)."""
    order = range(len(conv.turns) - 1, -1, -1) if from_end else range(len(conv.turns))
    out, seen = [0] * len(conv.turns), 0
    for i in order:
        out[i] = seen
        if speaker == "any" or conv.turns[i].speaker == speaker:
            seen += 1
    return out


class RuleBase(BaseModel):
    """Rules are read-only once parsed (only :func:`assign_ids` sets ids): compiled views of their fields
    (patterns, prefilters, indexes) are cached on first use and never recomputed."""

    model_config = ConfigDict(extra="forbid")

    id: str = ""
    name: str = Field(default="", description="what the rule finds, in words a reviewer reads (中文)")
    speaker: SpeakerScope = "any"
    first_turns: int | None = Field(default=None, ge=1, description="only the first K turns of `speaker`")
    last_turns: int | None = Field(default=None, ge=1, description="only the last K turns of `speaker`")
    within_s: float | None = Field(
        default=None, gt=0, description="only turns starting in the first N seconds"
    )
    after: str | None = Field(default=None, description="only turns after the first hit of this named rule")
    follows: str | None = Field(
        default=None,
        description="only turns that follow a hit of this named rule, among the next `follows_within` turns "
        "of `speaker` after it (a reply to an objection); a classifier rule's model is then run on "
        "those turns alone",
    )
    follows_within: int = Field(
        default=1, ge=1, le=8, description="with `follows`: how many turns of `speaker` after the hit"
    )
    channels: list[Channel] | None = Field(default=None, description="only in these channels")

    @model_validator(mode="after")
    def _follows_within_needs_follows(self) -> RuleBase:
        if self.follows is None and self.follows_within != 1:
            raise ValueError("follows_within is set without follows: name the rule whose hits it counts from")
        return self

    def in_scope(self, ctx: MatchContext, i: int) -> bool:
        turn = ctx.conv.turns[i]
        if self.speaker != "any" and turn.speaker != self.speaker:
            return False
        if self.channels is not None and ctx.conv.channel not in self.channels:
            return False
        if self.first_turns is not None and ctx.rank(i, self.speaker) >= self.first_turns:
            return False
        if self.last_turns is not None and ctx.rank(i, self.speaker, from_end=True) >= self.last_turns:
            return False
        if self.within_s is not None and turn.start is not None and turn.start > self.within_s:
            return False
        if self.follows is not None and not follows_hit(ctx, i, self):
            return False
        return not (self.after is not None and not _is_after(ctx, i, self.after))

    def hits_at(self, ctx: MatchContext, i: int) -> list[Hit]:
        """The rule's hits at turn i, computed once per conversation (callers must not mutate them)."""
        if self.speaker != "any" and ctx.conv.turns[i].speaker != self.speaker:
            return []  # the commonest miss, decided before the memo
        key = (id(self), i)
        found = ctx.memo.get(key)
        if found is None:
            found = self.match_turn(ctx, i) if not self._scoped or self.in_scope(ctx, i) else []
            ctx.memo[key] = found
        return found

    def matches_at(self, ctx: MatchContext, i: int) -> bool:
        """Whether the rule hits turn i: ``bool(hits_at(ctx, i))``, where a rule type can answer
        without collecting every hit (:meth:`any_match`)."""
        found = ctx.memo.get((id(self), i))
        if found is not None:
            return bool(found)
        if self.speaker != "any" and ctx.conv.turns[i].speaker != self.speaker:
            return False
        return (not self._scoped or self.in_scope(ctx, i)) and self.any_match(ctx, i)

    def any_match(self, ctx: MatchContext, i: int) -> bool:
        """Whether the turn (in scope) matches; by default through the memoised hits."""
        return bool(self.hits_at(ctx, i))

    @cached_property
    def _scoped(self) -> bool:
        """Whether a scope field besides ``speaker`` is set (else the speaker test is the whole scope)."""
        limits = (self.first_turns, self.last_turns, self.within_s, self.after, self.channels, self.follows)
        return any(v is not None for v in limits)

    def find(self, ctx: MatchContext) -> list[Hit]:
        return [h for i in ctx.turns_of(self.speaker) for h in self.hits_at(ctx, i)]

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:  # pragma: no cover - abstract
        raise NotImplementedError

    def children(self) -> list[RuleBase]:
        return []


def _is_after(ctx: MatchContext, i: int, rule_id: str) -> bool:
    first = ctx.first_turn_of(rule_id)
    return first is not None and i > first


def follows_hit(ctx: MatchContext, i: int, rule: RuleBase) -> bool:
    """Whether turn i is one :func:`following_turns` marks for ``rule`` (computed once per context)."""
    marks = ctx.following.get(id(rule))
    if marks is None:
        marks = ctx.following[id(rule)] = following_turns(ctx, rule)
    return marks[i]


def following_turns(ctx: MatchContext, rule: RuleBase) -> list[bool]:
    """Per turn, whether it follows a hit of ``rule.follows``: each hit marks the next
    ``rule.follows_within`` turns of ``rule.speaker`` after it (every turn when ``follows`` is unset)."""
    n = len(ctx.conv.turns)
    if rule.follows is None:
        return [True] * n
    followed, out = ctx.named[rule.follows], [False] * n
    for j in ctx.turns_of(followed.speaker):
        if not followed.matches_at(ctx, j):
            continue
        left = rule.follows_within
        for i in range(j + 1, n):
            if rule.speaker == "any" or ctx.turn(i).speaker == rule.speaker:
                out[i], left = True, left - 1
                if left == 0:
                    break
    return out
