"""Rule types: one class per type, each a pydantic model (its YAML schema) with ``match_turn``.

A rule is a per-turn predicate: ``hits_at(ctx, i)`` returns the :class:`Hit` list of turn ``i``
(empty = no match). Scope fields shared by every rule (speaker, first_turns, within_s, after)
decide which turns a rule looks at. Composite rules (all / any / not) combine children per turn.
A new rule type is one class here plus its entry in :data:`Rule`; what every rule shares (the hit, the
context, scope and memo) is in :mod:`qa_pipeline.rubric.rule_base`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from qa_pipeline.rubric.needles import needles as required_literals
from qa_pipeline.rubric.rule_base import Hit as Hit  # re-exported: callers import them from here
from qa_pipeline.rubric.rule_base import MatchContext as MatchContext
from qa_pipeline.rubric.rule_base import RuleBase as RuleBase
from qa_pipeline.rubric.rule_base import SpeakerScope as SpeakerScope
from qa_pipeline.rubric.textmatch import (
    GramIndex,
    clause_at,
    clauses,
    find_pinyin,
    ngrams,
    phrase_joined,
    phrase_pinyin,
)
from qa_pipeline.types import Channel, Conversation, Turn


def _suppressed(text: str, start: int, unless: list[str]) -> bool:
    """True when the clause around ``start`` contains one of the ``unless`` phrases."""
    if not unless:
        return False
    clause = clause_at(text, start).text
    return any(u in clause for u in unless)


def _views(turn: Turn) -> tuple[str, ...]:
    """The texts a literal rule searches: the display text, then its numeral-normalised view if different."""
    return (turn.text,) if not turn.norm or turn.norm == turn.text else (turn.text, turn.norm)


def _literal_alternation(strings: Iterable[str]) -> re.Pattern[str]:
    """One search for any of the strings (longest first, so the reported match is the longest)."""
    return re.compile("|".join(re.escape(s) for s in sorted(set(strings), key=lambda s: (-len(s), s))))


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=1024)
def _example_grams(examples: tuple[str, ...]) -> list[frozenset[str]]:
    return [ngrams(e) for e in examples]


class Keywords(RuleBase):
    """Any of the phrases, as substrings of the turn text (or its numeral-normalised view)."""

    type: Literal["keywords"]
    any: list[str] = Field(min_length=1)
    unless: list[str] = Field(
        default_factory=list, description="skip a hit whose clause contains one of these"
    )

    @cached_property
    def _any_of(self) -> re.Pattern[str]:
        """One alternation of the phrases: a turn without any of them is passed over in one search."""
        return _literal_alternation(self.any)

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        for text in _views(ctx.turn(i)):
            if self._any_of.search(text) is None:
                continue
            hits = [
                Hit(i, kw, self.id, pos)
                for kw in self.any
                if (pos := text.find(kw)) >= 0 and not _suppressed(text, pos, self.unless)
            ]
            if hits:
                return hits
        return []


class Regex(RuleBase):
    """A regular expression searched in the turn text (and its numeral-normalised view)."""

    type: Literal["regex"]
    pattern: str
    unless: list[str] = Field(default_factory=list)
    views: Literal["all", "text"] = Field(
        default="all",
        description="'text': the display text only, not its numeral-normalised view (三千八 stays 三千八, "
        "where the view reads 3800): a pattern for digits read one by one then skips spoken quantities",
    )

    @field_validator("pattern")
    @classmethod
    def _valid(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return v

    @cached_property
    def _compiled(self) -> re.Pattern[str]:
        return _regex(self.pattern)

    @cached_property
    def needles(self) -> frozenset[str] | None:
        """Literal strings one of which every match holds (:mod:`~qa_pipeline.rubric.needles`)."""
        return required_literals(self.pattern)

    @cached_property
    def _needle_search(self) -> re.Pattern[str] | None:
        return None if self.needles is None else _literal_alternation(self.needles)

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        for text in self._searched(ctx, i):
            hits = [
                Hit(i, m.group(0), self.id, m.start())
                for m in self._compiled.finditer(text)
                if m.group(0) and not _suppressed(text, m.start(), self.unless)
            ]
            if hits:
                return hits
        return []

    def any_match(self, ctx: MatchContext, i: int) -> bool:
        """Stops at the first match (``customer_opening``'s ``.`` would otherwise hit every character)."""
        return any(
            m.group(0) and not _suppressed(text, m.start(), self.unless)
            for text in self._searched(ctx, i)
            for m in self._compiled.finditer(text)
        )

    def _searched(self, ctx: MatchContext, i: int) -> list[str]:
        """The turn's views the pattern can match (a search, after the needles' quick test)."""
        compiled, quick = self._compiled, self._needle_search
        views = _views(ctx.turn(i))
        return [
            text
            for text in (views[:1] if self.views == "text" else views)
            if (quick is None or quick.search(text) is not None) and compiled.search(text) is not None
        ]


class Pinyin(RuleBase):
    """Phrases matched on toneless pinyin, so ASR homophones match (发火 ~ 发货)."""

    type: Literal["pinyin"]
    phrases: list[str] = Field(min_length=1)
    fuzzy: bool = Field(default=True, description="also merge zh/z, ch/c, sh/s, n/l, -ng/-n")
    unless: list[str] = Field(default_factory=list)

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        text = ctx.turn(i).text
        joined = ctx.views.joined_of(i, text, self.fuzzy)
        phrases = [p for p in self.phrases if phrase_joined(p, self.fuzzy) in joined]
        if not phrases:
            return []
        seq = ctx.views.pinyin_of(i, text, self.fuzzy)
        hits = []
        for phrase in phrases:
            needle = phrase_pinyin(phrase, self.fuzzy)
            for pos in find_pinyin(seq, needle):
                if not _suppressed(text, pos, self.unless):
                    hits.append(Hit(i, text[pos : pos + len(phrase)], self.id, pos))
        return hits


class Similar(RuleBase):
    """A clause of the turn is similar (character n-gram cosine) to one of the example sentences."""

    type: Literal["similar"]
    examples: list[str] = Field(min_length=1)
    threshold: float = Field(default=0.6, gt=0, le=1)
    unless: list[str] = Field(default_factory=list)

    @cached_property
    def _index(self) -> GramIndex:
        return GramIndex(_example_grams(tuple(self.examples)))

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        index = self._index
        text = ctx.turn(i).text
        best: Hit | None = None
        for clause in clauses(text):
            grams = ctx.views.grams_of(i, clause)
            score = index.best_cosine(grams, self.threshold)
            better = score >= self.threshold and (best is None or score > best.score)
            if better and not _suppressed(text, clause.start, self.unless):
                best = Hit(i, clause.text, self.id, clause.start, score)
        return [best] if best else []


class SentimentRule(RuleBase):
    """The turn's sentiment model output: label with at least ``min_prob``."""

    type: Literal["sentiment"]
    label: str
    min_prob: float = Field(default=0.5, ge=0, le=1)

    def probability(self, ctx: MatchContext, i: int) -> float | None:
        pred = ctx.turn(i).sentiment
        return None if pred is None else pred.probs.get(self.label, 0.0)

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        prob = self.probability(ctx, i)
        return [] if prob is None or prob < self.min_prob else [Hit(i, "", self.id, -1, prob)]


class ClassifierRule(RuleBase):
    """A trained rubric classifier (a model folder under QA_MODELS_DIR) says one of ``labels``
    with total probability at least ``min_prob``. With ``pair`` the model reads an earlier turn and
    this turn together: the previous customer turn (``pair_with: customer``, e.g. was the customer's
    objection handled) or the previous agent turn (``pair_with: agent``, e.g. is this customer turn
    pushback on what the agent just said). With ``window`` the model reads the speaker's last turns
    joined (:data:`~qa_pipeline.rubric.models.TURN_SEP`). The rubric stage runs the models over a
    whole batch first (:mod:`qa_pipeline.rubric.models`)."""

    type: Literal["classifier"]
    model: str = Field(min_length=1)
    labels: list[str] = Field(min_length=1)
    min_prob: float = Field(default=0.5, ge=0, le=1)
    pair: bool = False
    pair_with: Literal["customer", "agent"] = "customer"
    window: int | None = Field(
        default=None,
        ge=2,
        le=8,
        description="read this turn joined with the same speaker's previous window-1 turns, oldest first "
        "(e.g. did the agent's last turns restate the outcome); combined with `pair`, that joined text "
        "is the second half of the pair",
    )
    label_names: dict[str, str] = Field(
        default_factory=dict,
        description="the words evidence shows for the most likely of `labels` (e.g. price: 价格)",
    )
    sentences: bool = Field(
        default=False,
        description="also read each sentence of the turn alone and keep the highest probability: one "
        "soothing clause in a long, businesslike reply is not averaged away",
    )
    review: bool = Field(
        default=False, description="a fail resting only on this rule's hits becomes `review`"
    )

    @property
    def key(self) -> str:
        context = f"pair-{self.pair_with}" if self.pair else "turn"
        window = f"|window-{self.window}" if self.window else ""
        split = "|sentences" if self.sentences else ""
        return f"{self.model}|{context}{window}{split}|{self.speaker}"

    def probability(self, ctx: MatchContext, i: int) -> float | None:
        preds = ctx.model_preds.get(self.key)
        pred = preds[i] if preds is not None and i < len(preds) else None
        return None if pred is None else sum(pred.probs.get(label, 0.0) for label in self.labels)

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        prob = self.probability(ctx, i)
        if prob is None or prob < self.min_prob:
            return []
        return [Hit(i, ctx.turn(i).text[:60], self.id, -1, prob, label=self._label(ctx, i))]

    def _label(self, ctx: MatchContext, i: int) -> str:
        pred = ctx.model_preds[self.key][i] if self.label_names else None
        if pred is None:
            return ""
        return self.label_names.get(max(self.labels, key=lambda lab: pred.probs.get(lab, 0.0)), "")


MetricName = Literal["silence_before", "overlap_s", "reply_gap"]


class Metric(RuleBase):
    """A timing condition on the turn: silence before it, overlap with the other speaker, reply gap."""

    type: Literal["metric"]
    metric: MetricName
    op: Literal["gt", "ge", "lt", "le"] = "gt"
    value: float | dict[Channel, float]

    def threshold(self, channel: Channel) -> float | None:
        return self.value.get(channel) if isinstance(self.value, dict) else self.value

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        limit = self.threshold(ctx.conv.channel)
        measured = _turn_metric(ctx.conv, i, self.metric)
        if limit is None or measured is None or not _compare(measured, self.op, limit):
            return []
        return [Hit(i, f"{self.metric}={measured:.1f}s", self.id, -1, measured)]


def _compare(a: float, op: str, b: float) -> bool:
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]


def _turn_metric(conv: Conversation, i: int, metric: str) -> float | None:
    turn = conv.turns[i]
    if turn.start is None:
        return None
    earlier = [t.end for t in conv.turns[:i] if t.end is not None]
    if metric == "silence_before":
        return max(0.0, turn.start - max(earlier)) if earlier else None
    if metric == "reply_gap":
        prev = conv.turns[i - 1] if i > 0 else None
        return None if prev is None or prev.end is None else max(0.0, turn.start - prev.end)
    return _overlap(conv, i)


def _overlap(conv: Conversation, i: int) -> float | None:
    """Seconds turn i overlaps an earlier turn of the other speaker that was still running."""
    turn = conv.turns[i]
    if conv.channel == "chat" or turn.start is None or turn.end is None:
        return None
    best = 0.0
    for other in conv.turns[:i]:
        if other.speaker == turn.speaker or other.start is None or other.end is None:
            continue
        if other.start <= turn.start < other.end:
            best = max(best, min(other.end, turn.end) - turn.start)
    return best


class Ref(RuleBase):
    """Reuse a named rule from the rubric's ``rules:`` section (scope fields here narrow it further)."""

    type: Literal["ref"]
    ref: str

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        return ctx.named[self.ref].hits_at(ctx, i)


def _neighbour_hits(
    owner: RuleBase, rule: RuleBase, of: SpeakerScope, ctx: MatchContext, i: int, order: range
) -> list[Hit]:
    """Turn i's hit when the first turn of ``of`` in ``order`` matches ``rule`` (quoting that turn)."""
    for j in order:
        if of == "any" or ctx.turn(j).speaker == of:
            found = rule.hits_at(ctx, j)
            return [Hit(i, h.text, owner.id, -1, h.score, source_turn=h.quoted_turn) for h in found[:1]]
    return []


class Previous(RuleBase):
    """The previous turn (of ``of`` speaker, default any) matches the child rule."""

    type: Literal["previous"]
    rule: Rule
    of: SpeakerScope = "any"

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        return _neighbour_hits(self, self.rule, self.of, ctx, i, range(i - 1, -1, -1))

    def children(self) -> list[RuleBase]:
        return [self.rule]


class Next(RuleBase):
    """The next turn (of ``of`` speaker, default any) matches the child rule: how the other party
    answered is evidence about this turn (a customer turn the agent answers with an apology was
    likely a complaint)."""

    type: Literal["next"]
    rule: Rule
    of: SpeakerScope = "any"

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        return _neighbour_hits(self, self.rule, self.of, ctx, i, range(i + 1, len(ctx.conv.turns)))

    def children(self) -> list[RuleBase]:
        return [self.rule]


# rule types whose hits carry no position in the turn's words (a model's probability, a metric, a
# negation, a neighbouring turn's words): ``all`` with ``ordered`` refuses them as direct children
_UNPLACED = frozenset({"classifier", "sentiment", "metric", "mean", "not", "previous", "next"})


class All(RuleBase):
    """Every child matches the same turn (with ``ordered``, in the turn's own words and in the children's
    order: a record read out before the check is asked, in one turn)."""

    type: Literal["all"]
    rules: list[Rule] = Field(min_length=1)
    ordered: bool = Field(
        default=False,
        description="each child must match words of the turn itself that start where the previous child's "
        "words end or later (words, not a model's or a neighbouring turn's verdict: see _UNPLACED)",
    )

    @model_validator(mode="after")
    def _ordered_children_have_words(self) -> All:
        unplaced = [r.type for r in self.rules if r.type in _UNPLACED]
        if self.ordered and unplaced:
            raise ValueError(
                f"ordered: a {unplaced[0]} rule has no words in the turn to order by; order keyword, "
                "regex, pinyin or similar rules (or any/all/ref of them)"
            )
        return self

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        hits: list[Hit] = []
        end = 0  # where the previous child's earliest-ending words end
        for rule in self.rules:
            found = rule.hits_at(ctx, i)
            if self.ordered:
                found = [h for h in found if h.source_turn is None and h.start_char >= end]
                end = min((h.start_char + len(h.text) for h in found), default=end)
            if not found:
                return []
            hits.extend(found)
        return hits

    def children(self) -> list[RuleBase]:
        return list(self.rules)


class AnyOf(RuleBase):
    """At least one child matches the turn."""

    type: Literal["any"]
    rules: list[Rule] = Field(min_length=1)

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        words, is_text = self._prefilter
        skip = words is not None and not any(words.search(t) for t in _views(ctx.turn(i)))
        for rule, text_only in zip(self.rules, is_text, strict=True):
            if skip and text_only:
                continue  # no keyword or pattern of the children occurs in the turn
            found = rule.hits_at(ctx, i)
            if found:
                return found
        return []

    @cached_property
    def _prefilter(self) -> tuple[re.Pattern[str] | None, tuple[bool, ...]]:
        """One search for the literals of the keyword and regex children (a keyword list, a pattern's
        needles): a turn holding none of them matches none of those children, which are then passed
        over. A pattern without needles is not passed over; None when fewer than two children would be."""
        literals = [_literals(r) for r in self.rules]
        skippable = tuple(found is not None for found in literals)
        if sum(skippable) < 2:
            return None, tuple(False for _ in self.rules)
        return _literal_alternation(s for found in literals if found is not None for s in found), skippable

    def children(self) -> list[RuleBase]:
        return list(self.rules)


def _literals(rule: RuleBase) -> Iterable[str] | None:
    """Strings one of which every hit of a keyword or regex rule holds; None for other rules."""
    if isinstance(rule, Keywords):
        return rule.any
    return rule.needles if isinstance(rule, Regex) else None


class Mean(RuleBase):
    """The mean probability of several models (``sentiment`` or ``classifier`` rules, their own
    ``min_prob`` ignored) is at least ``min_prob``: two models trained on different data disagree in
    different places, and their mean is steadier than either. It averages the models that have a
    prediction for the turn (a pipeline without a sentiment stage leaves the classifier alone)."""

    type: Literal["mean"]
    rules: list[SentimentRule | ClassifierRule] = Field(min_length=2)
    min_prob: float = Field(default=0.5, ge=0, le=1)

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        probs = [p for r in self.rules if r.in_scope(ctx, i) and (p := r.probability(ctx, i)) is not None]
        if not probs or (mean := sum(probs) / len(probs)) < self.min_prob:
            return []
        return [Hit(i, ctx.turn(i).text[:60], self.id, -1, mean)]

    def children(self) -> list[RuleBase]:
        return list(self.rules)


class Not(RuleBase):
    """The child does not match the turn (the turn itself is the hit)."""

    type: Literal["not"]
    rule: Rule

    def match_turn(self, ctx: MatchContext, i: int) -> list[Hit]:
        return [] if self.rule.hits_at(ctx, i) else [Hit(i, "", self.id)]

    def children(self) -> list[RuleBase]:
        return [self.rule]


Rule = Annotated[
    Keywords
    | Regex
    | Pinyin
    | Similar
    | SentimentRule
    | ClassifierRule
    | Metric
    | Ref
    | Previous
    | Next
    | All
    | AnyOf
    | Mean
    | Not,
    Field(discriminator="type"),
]

for _cls in (Previous, Next, All, AnyOf, Not):
    _cls.model_rebuild()


def walk(rule: RuleBase) -> list[RuleBase]:
    """The rule and all its descendants."""
    out = [rule]
    for child in rule.children():
        out.extend(walk(child))
    return out


def assign_ids(rule: RuleBase, prefix: str) -> None:
    """Give every rule without an id a stable one derived from its place in the rubric."""
    if not rule.id:
        rule.id = prefix
    for n, child in enumerate(rule.children()):
        assign_ids(child, f"{prefix}.{n}")


def describe(rule: Any) -> str:
    return f"{type(rule).__name__}({getattr(rule, 'id', '')})"
