"""How often people confirm the machine, per item, per rule behind it and per week.

For each item: the decisions in force (the latest human verdict per conversation and item) against
the machine verdict they were given on (``review`` counts as ``fail``, as in ``qa eval``):
agreement (confirmed share), precision and recall of the machine's ``fail``, and Cohen's kappa,
with 95 % bootstrap intervals over decisions (seeded, so a report is reproducible). Per rule: the
same for the decisions whose machine evidence came from that rule — which rule humans overturn.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

import numpy as np
from pydantic import BaseModel

from qa_pipeline.eval_intervals import Interval, percentile_interval
from qa_pipeline.periods import period_start
from qa_pipeline.review.verdicts import Decision

LABELS = ("pass", "fail", "na")
RESAMPLES = 1000


class Stat(BaseModel):
    n: int
    confirmed: int
    agreement: float | None
    agreement_ci: Interval | None
    precision: float | None
    recall: float | None
    kappa: float | None
    kappa_ci: Interval | None


class RuleAgreement(Stat):
    rule: str


class WeekAgreement(Stat):
    week: datetime


class ItemAgreement(Stat):
    item: str
    rules: list[RuleAgreement]
    weeks: list[WeekAgreement]


class AgreementReport(BaseModel):
    decisions: int
    conversations: int
    macro_agreement: float | None
    items: list[ItemAgreement]


def machine_label(verdict: str) -> str:
    return "fail" if verdict == "review" else verdict


def _codes(decisions: Sequence[Decision]) -> tuple[np.ndarray, np.ndarray]:
    index = {label: i for i, label in enumerate(LABELS)}
    machine = np.array([index[machine_label(d.machine_verdict)] for d in decisions], dtype=np.int64)
    human = np.array([index[d.verdict] for d in decisions], dtype=np.int64)
    return machine, human


def _kappa(machine: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Cohen's kappa along the last axis (NaN where chance agreement is 1)."""
    observed = (machine == human).mean(axis=-1)
    expected = sum((machine == k).mean(axis=-1) * (human == k).mean(axis=-1) for k in range(len(LABELS)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected < 1.0, (observed - expected) / (1.0 - expected), np.nan)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def stat(
    decisions: Sequence[Decision], level: float = 0.95, resamples: int = RESAMPLES, seed: int = 0
) -> Stat:
    """The figures of one group of decisions."""
    n = len(decisions)
    if n == 0:
        return Stat(
            n=0,
            confirmed=0,
            agreement=None,
            agreement_ci=None,
            precision=None,
            recall=None,
            kappa=None,
            kappa_ci=None,
        )
    machine, human = _codes(decisions)
    fail = LABELS.index("fail")
    tp = int(((machine == fail) & (human == fail)).sum())
    kappa = float(_kappa(machine, human))
    draw = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    boot_m, boot_h = machine[draw], human[draw]
    confirmed = int((machine == human).sum())
    return Stat(
        n=n,
        confirmed=confirmed,
        agreement=confirmed / n,
        agreement_ci=percentile_interval((boot_m == boot_h).mean(axis=1), level),
        precision=_ratio(tp, int((machine == fail).sum())),
        recall=_ratio(tp, int((human == fail).sum())),
        kappa=None if np.isnan(kappa) else kappa,
        kappa_ci=percentile_interval(_kappa(boot_m, boot_h), level),
    )


def in_force(decisions: Iterable[Decision]) -> list[Decision]:
    """The latest decision per (conversation, item); ``decisions`` in the order they were made."""
    latest: dict[tuple[str, str], Decision] = {}
    for d in decisions:
        latest[(d.conversation_id, d.item)] = d
    return list(latest.values())


def agreement_report(decisions: Iterable[Decision], tz: tzinfo, level: float = 0.95) -> AgreementReport:
    """Per item (in first-seen order), per rule and per local week."""
    current = in_force(decisions)
    by_item: dict[str, list[Decision]] = defaultdict(list)
    for d in current:
        by_item[d.item].append(d)
    items = [_item(item, group, tz, level) for item, group in by_item.items()]
    agreements = [i.agreement for i in items if i.agreement is not None]
    return AgreementReport(
        decisions=len(current),
        conversations=len({d.conversation_id for d in current}),
        macro_agreement=sum(agreements) / len(agreements) if agreements else None,
        items=items,
    )


def _item(item: str, group: list[Decision], tz: tzinfo, level: float) -> ItemAgreement:
    by_rule: dict[str, list[Decision]] = defaultdict(list)
    by_week: dict[datetime, list[Decision]] = defaultdict(list)
    for d in group:
        for rule in d.machine_rules:
            by_rule[rule].append(d)
        by_week[period_start(d.created_at, "week", tz)].append(d)
    return ItemAgreement(
        item=item,
        **stat(group, level).model_dump(),
        rules=[RuleAgreement(rule=r, **stat(g, level).model_dump()) for r, g in sorted(by_rule.items())],
        weeks=[WeekAgreement(week=w, **stat(g, level).model_dump()) for w, g in sorted(by_week.items())],
    )


def report_table(report: AgreementReport) -> str:
    """A plain-text table: one line per item, then the rules humans overturn most."""
    lines = [f"{'item':<20} {'n':>5} {'agree':>6} {'95% CI':>13} {'prec':>6} {'recall':>6} {'kappa':>6}"]
    for i in report.items:
        ci = f"{i.agreement_ci.low:.2f}-{i.agreement_ci.high:.2f}" if i.agreement_ci else "—"
        figures = f"{_f(i.precision):>6} {_f(i.recall):>6} {_f(i.kappa):>6}"
        lines.append(f"{i.item:<20} {i.n:>5} {_f(i.agreement):>6} {ci:>13} {figures}")
    lines.append(f"{'macro agreement':<20} {'':>5} {_f(report.macro_agreement):>6}")
    rules = sorted(
        ((r.n - r.confirmed, r.rule, r.n) for i in report.items for r in i.rules if r.n > r.confirmed),
        reverse=True,
    )
    if rules:
        lines.append("rules most overturned (overturned / decisions):")
        lines += [f"  {rule:<40} {over:>4} / {n}" for over, rule, n in rules[:15]]
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
