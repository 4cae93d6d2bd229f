"""Golden-set evaluation: predicted scorecard items against gold labels (``qa eval``).

Gold labels use the ``labels`` format of the labelled conversations (see
``../shared/data/conversations_dev/README.md``): an item label is a verdict string
(``"pass"``/``"fail"``/``"na"``) or an object with a ``"verdict"`` key (``forbidden_phrase``,
``objection_handling``, ``interruption``). Predictions are :class:`ConversationResult` objects.

A predicted ``review`` verdict is mapped by a policy (``review_as``): by default it counts as
``fail`` (a deduction pending human review); ``"keep"`` keeps it as its own predicted column.
A prediction that lacks an item the gold labels has counts as ``na`` (the item was not applied)
and is also counted in :attr:`ItemReport.missing` so that an unimplemented item stays visible.

Per item: ``n``, agreement (accuracy), precision/recall/F1 of the ``fail`` class and the
confusion matrix. Overall: macro agreement over items, per-turn customer sentiment agreement and
the exact-match rate of the interruption count. :func:`check` compares a report with
:class:`Thresholds` parsed from CLI strings (``macro=0.9``, ``forbidden_phrase.recall=0.95``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from qa_pipeline.errors import E, InputError
from qa_pipeline.eval_intervals import Interval, bootstrap
from qa_pipeline.types import ConversationResult

log = logging.getLogger(__name__)

ITEM_IDS: tuple[str, ...] = (
    "greeting",
    "self_intro",
    "identity_check",
    "forbidden_phrase",
    "empathy",
    "objection_handling",
    "hold_etiquette",
    "interruption",
    "confirmation",
    "closing",
    "satisfaction_invite",
)
GOLD_VERDICTS: tuple[str, ...] = ("pass", "fail", "na")
SENTIMENT_LABELS: tuple[str, ...] = ("neg", "neu", "pos")
OVERTALK_MIN_S = 1.0
"""An agent turn counts as an interruption when it overlaps a customer turn by more than this."""

ReviewPolicy = Literal["fail", "pass", "na", "keep"]
Metric = Literal["agreement", "precision", "recall", "f1"]
GLOBAL_TARGETS: tuple[str, ...] = ("macro", "min", "sentiment", "interruption_count")


# --------------------------------------------------------------------------- report models


class ItemReport(BaseModel):
    """Agreement of one scorecard item over the conversations where it is labelled."""

    item: str
    n: int = 0
    correct: int = 0
    agreement: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    tp: int = 0
    fp: int = 0
    fn: int = 0
    missing: int = 0
    confusion: dict[str, dict[str, int]] = Field(default_factory=dict)
    """gold verdict -> predicted verdict -> count."""
    agreement_ci: Interval | None = None
    recall_ci: Interval | None = None
    """95 % bootstrap intervals over conversations (:mod:`qa_pipeline.eval_intervals`)."""


class SentimentReport(BaseModel):
    """Per-turn customer sentiment agreement, over turns labelled and predicted."""

    n_turns: int = 0
    correct: int = 0
    agreement: float | None = None
    conversations: int = 0
    misaligned: int = 0
    """Conversations skipped because the gold list length differs from the customer turn count."""
    confusion: dict[str, dict[str, int]] = Field(default_factory=dict)


class CountReport(BaseModel):
    """Exact-match rate of the interruption count (calls with a labelled count)."""

    n: int = 0
    exact: int = 0
    rate: float | None = None
    mean_abs_error: float | None = None


class EvalReport(BaseModel):
    """The whole evaluation; ``to_table()`` for people, ``to_json()`` for machines."""

    n_conversations: int
    review_as: ReviewPolicy
    items: dict[str, ItemReport]
    macro_agreement: float | None
    sentiment: SentimentReport
    macro_agreement_ci: Interval | None = None
    interruption_count: CountReport

    @property
    def forbidden_phrase_recall(self) -> float | None:
        """The key figure: share of gold forbidden-phrase failures that were caught."""
        item = self.items.get("forbidden_phrase")
        return item.recall if item else None

    def to_json(self, indent: int | None = 2) -> str:
        data = self.model_dump(mode="json")
        data["forbidden_phrase_recall"] = self.forbidden_phrase_recall
        return json.dumps(data, ensure_ascii=False, indent=indent)

    def to_table(self) -> str:
        return "\n".join(_table_lines(self))


# --------------------------------------------------------------------------- gold labels


def gold_verdict(labels: dict[str, Any], item: str, *, record: str | None = None) -> str | None:
    """The gold verdict of ``item`` (``None`` when unlabelled); raises on a malformed label."""
    raw = labels.get(item)
    if raw is None:
        return None
    value = raw.get("verdict") if isinstance(raw, dict) else raw
    if value not in GOLD_VERDICTS:
        raise InputError(
            E.BAD_FIELD,
            f"gold verdict {value!r} is not one of {', '.join(GOLD_VERDICTS)}",
            field=f"labels.{item}",
            record=record,
        )
    return str(value)


def predicted_verdict(result: ConversationResult, item: str, review_as: ReviewPolicy) -> str | None:
    """The predicted verdict after the review policy; ``None`` when the item is missing."""
    found = result.items.get(item)
    if found is None:
        return None
    if found.verdict == "review" and review_as != "keep":
        return review_as
    return found.verdict


def labelled_verdicts(
    labels: dict[str, Any], result: ConversationResult, review_as: ReviewPolicy
) -> Iterator[tuple[str, str, str | None]]:
    """``(item, gold, predicted)`` for every item ``labels`` gives a verdict for, in scorecard order;
    the prediction after the review policy, ``None`` when the item is missing."""
    for item in ITEM_IDS:
        gold = gold_verdict(labels, item, record=result.id)
        if gold is not None:
            yield item, gold, predicted_verdict(result, item, review_as)


# --------------------------------------------------------------------------- tallies


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass
class _ItemTally:
    item: str
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    missing: int = 0

    def add(self, gold: str, pred: str | None) -> None:
        if pred is None:
            self.missing += 1
            pred = "na"
        self.pairs[(gold, pred)] += 1

    def report(self, columns: tuple[str, ...]) -> ItemReport:
        n = sum(self.pairs.values())
        correct = sum(c for (g, p), c in self.pairs.items() if g == p)
        tp = self.pairs[("fail", "fail")]
        fp = sum(c for (g, p), c in self.pairs.items() if p == "fail" and g != "fail")
        fn = sum(c for (g, p), c in self.pairs.items() if g == "fail" and p != "fail")
        return ItemReport(
            item=self.item,
            n=n,
            correct=correct,
            agreement=_ratio(correct, n),
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, tp + fn),
            f1=_ratio(2 * tp, 2 * tp + fp + fn),
            tp=tp,
            fp=fp,
            fn=fn,
            missing=self.missing,
            confusion=_matrix(self.pairs, GOLD_VERDICTS, columns),
        )


def _matrix(
    pairs: Counter[tuple[str, str]], rows: tuple[str, ...], columns: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    extra = tuple(sorted({p for _, p in pairs} - set(columns)))
    return {g: {p: pairs[(g, p)] for p in columns + extra} for g in rows}


@dataclass
class _SentimentTally:
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    conversations: int = 0
    misaligned: int = 0

    def add(self, gold: list[Any], result: ConversationResult) -> None:
        customer_turns = [i for i, t in enumerate(result.turns) if t.speaker == "customer"]
        if len(customer_turns) != len(gold):
            log.warning(
                "conversation %r: %d gold sentiment labels for %d customer turns; sentiment skipped",
                result.id,
                len(gold),
                len(customer_turns),
            )
            self.misaligned += 1
            return
        predicted = {s.turn: s.label for s in result.customer_sentiment}
        compared = [
            (str(g), predicted[i]) for i, g in zip(customer_turns, gold, strict=True) if i in predicted
        ]
        if compared:
            self.conversations += 1
            self.pairs.update(compared)

    def report(self) -> SentimentReport:
        n = sum(self.pairs.values())
        correct = sum(c for (g, p), c in self.pairs.items() if g == p)
        rows = tuple(sorted({g for g, _ in self.pairs} | set(SENTIMENT_LABELS)))
        return SentimentReport(
            n_turns=n,
            correct=correct,
            agreement=_ratio(correct, n),
            conversations=self.conversations,
            misaligned=self.misaligned,
            confusion=_matrix(self.pairs, rows, SENTIMENT_LABELS),
        )


def predicted_interruptions(result: ConversationResult) -> int:
    """Agent turns that started while a customer turn ran, overlapping by more than 1 s."""
    return sum(1 for o in result.metrics.overlaps if o.speaker == "agent" and o.seconds > OVERTALK_MIN_S)


def _gold_count(labels: dict[str, Any], record: str) -> int | None:
    raw = labels.get("interruption")
    if not isinstance(raw, dict) or "count" not in raw:
        return None
    count = raw["count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InputError(
            E.BAD_FIELD,
            f"count must be a non-negative integer, got {count!r}",
            field="labels.interruption.count",
            record=record,
        )
    return count


# --------------------------------------------------------------------------- evaluate


@dataclass
class _Evaluation:
    review_as: ReviewPolicy
    items: dict[str, _ItemTally] = field(default_factory=lambda: {i: _ItemTally(i) for i in ITEM_IDS})
    sentiment: _SentimentTally = field(default_factory=_SentimentTally)
    count_errors: list[int] = field(default_factory=list)
    conversations: int = 0
    rows: list[dict[str, tuple[str, str]]] = field(default_factory=list)
    """Per conversation: item -> (gold, predicted), for the bootstrap intervals."""

    def add(self, labels: Any, result: ConversationResult) -> None:
        if not isinstance(labels, dict):
            raise InputError(E.BAD_FIELD, "labels must be a JSON object", field="labels", record=result.id)
        self.conversations += 1
        row: dict[str, tuple[str, str]] = {}
        for item, gold, pred in labelled_verdicts(labels, result, self.review_as):
            self.items[item].add(gold, pred)
            row[item] = (gold, pred or "na")
        self.rows.append(row)
        gold_sentiment = labels.get("customer_sentiment")
        if isinstance(gold_sentiment, list):
            self.sentiment.add(gold_sentiment, result)
        self._add_count(labels, result)

    def _add_count(self, labels: dict[str, Any], result: ConversationResult) -> None:
        gold = _gold_count(labels, result.id)
        if gold is not None and result.channel == "call":
            self.count_errors.append(abs(predicted_interruptions(result) - gold))

    def report(self) -> EvalReport:
        columns = GOLD_VERDICTS + (("review",) if self.review_as == "keep" else ())
        ci = bootstrap(self.rows, list(self.items))
        items = {
            i: t.report(columns).model_copy(update={"agreement_ci": ci.items[i], "recall_ci": ci.recall[i]})
            for i, t in self.items.items()
        }
        agreements = [r.agreement for r in items.values() if r.agreement is not None]
        errors = self.count_errors
        return EvalReport(
            n_conversations=self.conversations,
            review_as=self.review_as,
            items=items,
            macro_agreement=sum(agreements) / len(agreements) if agreements else None,
            macro_agreement_ci=ci.macro,
            sentiment=self.sentiment.report(),
            interruption_count=CountReport(
                n=len(errors),
                exact=errors.count(0),
                rate=_ratio(errors.count(0), len(errors)),
                mean_abs_error=sum(errors) / len(errors) if errors else None,
            ),
        )


def evaluate(
    pairs: Iterable[tuple[dict[str, Any], ConversationResult]], *, review_as: ReviewPolicy = "fail"
) -> EvalReport:
    """Compare each prediction with its gold ``labels`` object and aggregate the figures."""
    if review_as not in get_args(ReviewPolicy):
        raise InputError(
            E.BAD_REQUEST, f"review_as must be one of {get_args(ReviewPolicy)}, got {review_as!r}"
        )
    run = _Evaluation(review_as=review_as)
    for labels, result in pairs:
        run.add(labels, result)
    if run.conversations == 0:
        raise InputError(E.LABELS_MISSING, "no labelled conversations to evaluate")
    return run.report()


# --------------------------------------------------------------------------- thresholds


class Threshold(BaseModel):
    """One minimum: ``target`` is an item id or one of macro/min/sentiment/interruption_count."""

    target: str
    metric: Metric = "agreement"
    minimum: float = Field(ge=0.0, le=1.0)

    @property
    def spec(self) -> str:
        suffix = "" if self.metric == "agreement" else f".{self.metric}"
        return f"{self.target}{suffix}={self.minimum:g}"


class Thresholds(BaseModel):
    """Minimums that ``qa eval`` enforces; parse them with :meth:`parse`."""

    rules: list[Threshold] = Field(default_factory=list)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Thresholds:
        """Parse ``["macro=0.9", "forbidden_phrase.recall=0.95,empathy=0.85"]``."""
        parts = (p.strip() for s in specs for p in s.split(","))
        return cls(rules=[_parse_one(p) for p in parts if p])


def _bad_threshold(spec: str, why: str) -> InputError:
    return InputError(E.BAD_REQUEST, f"threshold {spec!r}: {why}", field="threshold")


def _parse_one(spec: str) -> Threshold:
    key, sep, value = spec.partition("=")
    if not sep:
        raise _bad_threshold(spec, "expected KEY=VALUE, e.g. macro=0.9 or forbidden_phrase.recall=0.95")
    target, _, metric = key.strip().partition(".")
    metric = metric or "agreement"
    if target not in ITEM_IDS + GLOBAL_TARGETS:
        raise _bad_threshold(
            spec, f"unknown target {target!r}; use an item id or {', '.join(GLOBAL_TARGETS)}"
        )
    if metric not in get_args(Metric) or (target in GLOBAL_TARGETS and metric != "agreement"):
        raise _bad_threshold(spec, f"unknown metric {metric!r} for {target!r}")
    try:
        minimum = float(value)
    except ValueError:
        raise _bad_threshold(spec, f"value {value!r} is not a number") from None
    if not 0.0 <= minimum <= 1.0:
        raise _bad_threshold(spec, "value must be a fraction between 0 and 1")
    return Threshold(target=target, metric=metric, minimum=minimum)  # type: ignore[arg-type]


def _observed(report: EvalReport, rule: Threshold) -> Iterator[tuple[str, float | None]]:
    """(name, value) pairs that ``rule`` constrains."""
    if rule.target == "macro":
        yield "macro agreement", report.macro_agreement
    elif rule.target == "min":
        yield from (
            (f"{i} agreement", r.agreement) for i, r in report.items.items() if r.agreement is not None
        )
    elif rule.target == "sentiment":
        yield "sentiment agreement", report.sentiment.agreement
    elif rule.target == "interruption_count":
        yield "interruption count exact-match rate", report.interruption_count.rate
    else:
        yield f"{rule.target} {rule.metric}", getattr(report.items[rule.target], rule.metric)


def check(report: EvalReport, thresholds: Thresholds) -> list[str]:
    """Violations of ``thresholds`` (empty when all hold). An undefined figure is a violation."""
    violations: list[str] = []
    for rule in thresholds.rules:
        for name, value in _observed(report, rule):
            if value is None:
                violations.append(f"{name} is undefined (no data), cannot check {rule.spec}")
            elif value < rule.minimum:
                violations.append(f"{name} {value:.3f} < {rule.minimum:g} ({rule.spec})")
    return violations


# --------------------------------------------------------------------------- text table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(ci: Interval | None) -> str:
    return "-" if ci is None else f"{ci.low:.2f}-{ci.high:.2f}"


def _item_lines(report: EvalReport) -> list[str]:
    head = (
        f"{'item':<20}{'n':>5}{'agree':>8}{'95% CI':>11}{'fail-P':>8}{'fail-R':>8}{'fail-F1':>9}{'miss':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in report.items.values():
        lines.append(
            f"{r.item:<20}{r.n:>5}{_fmt(r.agreement):>8}{_ci(r.agreement_ci):>11}{_fmt(r.precision):>8}"
            f"{_fmt(r.recall):>8}{_fmt(r.f1):>9}{r.missing:>6}"
        )
    return lines


def _summary_lines(report: EvalReport) -> list[str]:
    s, c = report.sentiment, report.interruption_count
    return [
        f"{'macro agreement':<34}{_fmt(report.macro_agreement)}  (95% CI {_ci(report.macro_agreement_ci)})",
        f"{'forbidden_phrase fail recall':<34}{_fmt(report.forbidden_phrase_recall)}  (key figure; 95% CI "
        f"{_ci(report.items['forbidden_phrase'].recall_ci if 'forbidden_phrase' in report.items else None)})",
        f"{'customer sentiment per turn':<34}{_fmt(s.agreement)}  "
        f"({s.n_turns} turns in {s.conversations} conversations, {s.misaligned} misaligned skipped)",
        f"{'interruption count exact match':<34}{_fmt(c.rate)}  "
        f"(n={c.n} calls, MAE {_fmt(c.mean_abs_error)})",
    ]


def _matrix_lines(name: str, matrix: dict[str, dict[str, int]]) -> list[str]:
    columns = list(next(iter(matrix.values()), {}))
    lines = [f"{name}  (rows gold, columns predicted)", "  " + " " * 8 + "".join(f"{c:>8}" for c in columns)]
    lines += [f"  {g:<8}" + "".join(f"{row[c]:>8}" for c in columns) for g, row in matrix.items()]
    return lines


def _table_lines(report: EvalReport) -> list[str]:
    policy = "kept as its own column" if report.review_as == "keep" else f"counted as {report.review_as!r}"
    lines = [
        f"Golden-set evaluation: {report.n_conversations} conversations; predicted 'review' {policy}",
        "",
    ]
    lines += [*_item_lines(report), "", *_summary_lines(report), "", "Confusion matrices"]
    for r in report.items.values():
        if r.n:
            lines += ["", *_matrix_lines(r.item, r.confusion)]
    if report.sentiment.n_turns:
        lines += ["", *_matrix_lines("customer sentiment", report.sentiment.confusion)]
    return lines
