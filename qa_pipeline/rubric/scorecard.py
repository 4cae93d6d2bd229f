"""Apply a rubric to a conversation: item verdicts with evidence, then the quality index.

Scoring follows the spec: points add up to 100 when every item applies; ``na`` items drop out
and the rest are rescaled to 100; a failed fatal item sets the score to 0 and flags the
conversation for review. ``review`` verdicts keep their points until a human decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from qa_pipeline.rubric.explain import LABEL_MARK, Explainer
from qa_pipeline.rubric.rules import ClassifierRule, Hit, MatchContext, RuleBase, Similar
from qa_pipeline.rubric.schema import BeforeCheck, EachCheck, ForbidCheck, Item, RequireCheck, Rubric
from qa_pipeline.types import Conversation, Evidence, ItemResult, Prediction, Verdict

MAX_EVIDENCE = 8


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    evidence: list[Evidence]
    rests_on: tuple[Hit, ...] = ()  # the hits a fail rests on (banned words, unanswered triggers)


@dataclass(frozen=True)
class Score:
    quality_index: float | None
    flags: list[str]


class Scorecard:
    """A compiled rubric; ``evaluate`` is pure and thread-safe (caches live in the MatchContext)."""

    def __init__(self, rubric: Rubric, word_review_below: float | None = None) -> None:
        self.rubric = rubric
        self.word_review_below = word_review_below
        every = rubric.every_rule()
        self._explainer = Explainer(rubric)
        self._review_only = {r.id for r in every if isinstance(r, ClassifierRule) and r.review}
        self._fuzzy = {r.id for r in every if isinstance(r, Similar)}

    @property
    def version(self) -> str:
        """``id@version+fingerprint``: the declared version and a hash of the rules themselves, so a
        rubric edited without a version bump still marks its results as new (the store keys results by
        it: with the declared version alone, a re-audit after an edit kept the old verdicts)."""
        return f"{self.rubric.id}@{self.rubric.version}+{self._fingerprint}"

    @cached_property
    def _fingerprint(self) -> str:
        # the ASR-confidence review threshold changes verdicts (fail -> review) too
        extra = "" if self.word_review_below is None else f"|word_review_below={self.word_review_below}"
        return rubric_fingerprint(self.rubric, extra)

    def evaluate(
        self, conv: Conversation, model_preds: dict[str, list[Prediction | None]] | None = None
    ) -> dict[str, ItemResult]:
        """Every item's verdict; ``model_preds`` are the rubric classifiers' outputs for ``conv``."""
        if not conv.turns:  # nothing was said (e.g. a silent recording): nothing to judge
            return {item.id: self._na(item) for item in self.rubric.items}
        ctx = MatchContext(conv=conv, named=dict(self.rubric.rules), model_preds=model_preds or {})
        return {item.id: self._item(item, ctx) for item in self.rubric.items}

    def _na(self, item: Item) -> ItemResult:
        return ItemResult(
            verdict="na", points=0.0, max_points=item.points, fatal=item.fatal, rubric_version=self.version
        )

    def _item(self, item: Item, ctx: MatchContext) -> ItemResult:
        outcome = _applicable(item, ctx) or _run_check(item, ctx)
        verdict = outcome.verdict
        if verdict == "fail" and self._uncertain(outcome, ctx):
            verdict = "review"
        return ItemResult(
            verdict=verdict,
            points=item.points if verdict in ("pass", "review") else 0.0,
            max_points=item.points,
            evidence=self._explainer.annotate(item, outcome.evidence[:MAX_EVIDENCE]),
            fatal=item.fatal,
            rubric_version=self.version,
        )

    def _uncertain(self, outcome: Outcome, ctx: MatchContext) -> bool:
        """A fail resting only on weak fuzzy matches, only on review-only model hits, or only on words
        ASR was unsure of, goes to a human."""
        if not outcome.rests_on:
            return False
        if all(self._weak(h) for h in outcome.rests_on):
            return True  # one sure hit (a literal banned phrase beside a model's guess) keeps the fail
        if self.word_review_below is None:
            return False
        confidences = [_word_confidence(ctx, h) for h in outcome.rests_on]
        return all(c is not None and c < self.word_review_below for c in confidences)

    def _weak(self, hit: Hit) -> bool:
        """A review-only model's hit, or a fuzzy sentence match below ``review_below`` (a model's
        probability or a metric's seconds is no similarity score)."""
        below = self.rubric.review_below
        fuzzy = hit.rule in self._fuzzy and below is not None and hit.score < below
        return hit.rule in self._review_only or fuzzy

    def score(self, items: dict[str, ItemResult]) -> Score:
        return score_items(items)


def rubric_fingerprint(rubric: Rubric, extra: str = "") -> str:
    """The first 8 hex digits of the sha256 of the parsed rubric (every field, rule and threshold set to
    other than its default; not the file's comments or layout, nor a new schema field left at its
    default) and ``extra`` settings that change verdicts."""
    blob = rubric.model_dump_json(exclude_defaults=True) + extra
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:8]


def score_items(items: dict[str, ItemResult]) -> Score:
    """Quality index and flags of item verdicts (machine or human): ``na`` drops out and the rest is
    rescaled to 100; a failed fatal item scores 0; fatal and ``review`` items flag ``needs_review``."""
    applicable = [r for r in items.values() if r.verdict != "na"]
    flags = [f"fatal:{iid}" for iid, r in items.items() if r.fatal and r.verdict == "fail"]
    flags += [f"review:{iid}" for iid, r in items.items() if r.verdict == "review"]
    if flags:
        flags.append("needs_review")
    if not applicable:
        return Score(None, flags)
    if any(f.startswith("fatal:") for f in flags):
        return Score(0.0, flags)
    total = sum(r.max_points for r in applicable)
    return Score(round(100.0 * sum(r.points for r in applicable) / total, 2), flags)


def _applicable(item: Item, ctx: MatchContext) -> Outcome | None:
    """An ``na`` outcome when the item does not apply, else None."""
    if ctx.conv.channel not in item.channels:
        return Outcome("na", [])
    if item.applies_if is not None and not item.applies_if.find(ctx):
        return Outcome("na", [])
    return None


def _run_check(item: Item, ctx: MatchContext) -> Outcome:
    check = item.check
    if isinstance(check, RequireCheck):
        return _require(check.rule, ctx)
    if isinstance(check, ForbidCheck):
        return _forbid(check.rule, ctx)
    if isinstance(check, EachCheck):
        return _each(check, ctx)
    return _before(check, ctx)


def _word_confidence(ctx: MatchContext, hit: Hit) -> float | None:
    """Lowest ASR word probability under the hit's characters (None: no word timings, e.g. chats)."""
    turn = ctx.conv.turns[hit.turn]
    if not turn.words or hit.start_char < 0:
        return None
    end = hit.start_char + max(len(hit.text), 1)
    probs, pos = [], 0
    for word in turn.words:
        size = len(word.text.strip())
        if pos < end and pos + size > hit.start_char:
            probs.append(word.probability)
        pos += size
    return min(probs) if probs else None


def _evidence(ctx: MatchContext, hits: Sequence[Hit]) -> list[Evidence]:
    out = []
    for h in hits:
        where = h.quoted_turn
        turn = ctx.conv.turns[where]
        rule = f"{h.rule}{LABEL_MARK}{h.label}" if h.label else h.rule
        out.append(Evidence(turn=where, start=turn.start, end=turn.end, text=h.text, rule=rule))
    return out


def _missing(rule: RuleBase, turn: int | None = None, ctx: MatchContext | None = None) -> Evidence:
    """Evidence for 'expected but not found' (at a turn, when there is one)."""
    if turn is None or ctx is None:
        return Evidence(rule=f"{rule.id}:missing")
    t = ctx.conv.turns[turn]
    return Evidence(turn=turn, start=t.start, end=t.end, text="", rule=f"{rule.id}:missing")


def _require(rule: RuleBase, ctx: MatchContext) -> Outcome:
    hits = rule.find(ctx)
    return Outcome("pass", _evidence(ctx, hits[:1])) if hits else Outcome("fail", [_missing(rule)])


def _forbid(rule: RuleBase, ctx: MatchContext) -> Outcome:
    hits = rule.find(ctx)
    if not hits:
        return Outcome("pass", [])
    return Outcome("fail", _evidence(ctx, hits), rests_on=tuple(hits))


def _agent_turns_after(ctx: MatchContext, t: int) -> list[int]:
    return [i for i in range(t + 1, len(ctx.conv.turns)) if ctx.conv.turns[i].speaker == "agent"]


def _window(check: EachCheck, ctx: MatchContext, t: int) -> list[int]:
    after = _agent_turns_after(ctx, t)
    if check.window == "same_turn":
        return [t]
    if check.window == "next_agent_turn":
        return after[:1]
    if check.window == "next_agent_turns_2":
        return after[:2]
    return list(range(t + 1, len(ctx.conv.turns)))


def _last_agent_before(ctx: MatchContext, t: int) -> list[int]:
    before = [i for i in range(t) if ctx.conv.turns[i].speaker == "agent"]
    return before[-1:]


def _hits_in(rule: RuleBase, ctx: MatchContext, turns: list[int]) -> list[Hit]:
    return [h for i in turns for h in rule.hits_at(ctx, i)]


def _each(check: EachCheck, ctx: MatchContext) -> Outcome:
    triggers = sorted({h.turn: h for h in reversed(check.trigger.find(ctx))}.values(), key=lambda h: h.turn)
    if check.needs_reply:
        triggers = [h for h in triggers if _agent_turns_after(ctx, h.turn) or check.window == "same_turn"]
    if not triggers:
        return Outcome("na", [])
    evidence: list[Evidence] = []
    unanswered: list[Hit] = []
    for trig in triggers:
        ok, ev = _answered(check, ctx, trig)
        evidence.extend(ev)
        unanswered += [] if ok else [trig]
    return Outcome("fail" if unanswered else "pass", evidence, rests_on=tuple(unanswered))


def _answered(check: EachCheck, ctx: MatchContext, trig: Hit) -> tuple[bool, list[Evidence]]:
    """Whether one trigger got its expected replies; evidence of the trigger and of what was found."""
    evidence = _evidence(ctx, [trig])
    ok = True
    if check.expect is not None:
        found = _hits_in(check.expect, ctx, _window(check, ctx, trig.turn))
        evidence += _evidence(ctx, found[:1]) if found else [_missing(check.expect, trig.turn, ctx)]
        ok = bool(found)
    if check.expect_before is not None:
        found = _hits_in(check.expect_before, ctx, _last_agent_before(ctx, trig.turn))
        evidence += _evidence(ctx, found[:1]) if found else [_missing(check.expect_before, trig.turn, ctx)]
        ok = ok and bool(found)
    return ok, evidence


def _before(check: BeforeCheck, ctx: MatchContext) -> Outcome:
    events = check.event.find(ctx)
    if not events:
        return Outcome("na", [])
    first = min(h.turn for h in events)
    limit = first + 1 if check.inclusive else first
    found = [h for h in check.expect.find(ctx) if h.turn < limit]
    event_ev = _evidence(ctx, [h for h in events if h.turn == first][:1])
    if found:
        return Outcome("pass", _evidence(ctx, found[:1]) + event_ev)
    return Outcome("fail", [*event_ev, _missing(check.expect, first, ctx)])
