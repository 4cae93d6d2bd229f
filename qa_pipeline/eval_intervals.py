"""95 % bootstrap intervals for ``qa eval``: resampling conversations (with replacement, seeded, so a
report is reproducible) shows how little a small labelled set proves.

Every resample draws conversations, not single verdicts, so the items of one conversation move
together; per item the interval is of its agreement, and the macro interval of the mean over items.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

RESAMPLES = 2000
Outcome = tuple[str, str]  # (gold verdict, predicted verdict)


class Interval(BaseModel):
    low: float
    high: float


class Intervals(BaseModel):
    items: dict[str, Interval | None]
    macro: Interval | None
    recall: dict[str, Interval | None]
    """Interval of the recall of ``fail`` per item (where a gold fail exists)."""


def percentile_interval(samples: np.ndarray, level: float) -> Interval | None:
    """The central ``level`` share of bootstrap ``samples`` (NaNs ignored); None when there are none."""
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(low=float(low), high=float(high))


def _matrices(
    rows: Sequence[dict[str, Outcome]], items: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correct, gold fail, caught fail) as conversations × items; NaN where the item is unlabelled."""
    shape = (len(rows), len(items))
    correct, gold_fail, caught = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for r, row in enumerate(rows):
        for c, item in enumerate(items):
            if item in row:
                gold, pred = row[item]
                correct[r, c] = gold == pred
                gold_fail[r, c] = gold == "fail"
                caught[r, c] = gold == "fail" and pred == "fail"
    return correct, gold_fail, caught


def bootstrap(
    rows: Sequence[dict[str, Outcome]],
    items: Sequence[str],
    *,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Intervals:
    """Intervals of per-item agreement, macro agreement and fail recall over ``rows`` (one a conversation)."""
    if not rows:
        return Intervals(items=dict.fromkeys(items), macro=None, recall=dict.fromkeys(items))
    correct, gold_fail, caught = _matrices(rows, items)
    draw = np.random.default_rng(seed).integers(0, len(rows), size=(resamples, len(rows)))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice in a resample: NaN is the answer
        agree = np.nanmean(correct[draw], axis=1)  # resamples × items
        recall = np.nansum(caught[draw], axis=1) / np.nansum(gold_fail[draw], axis=1)
        macro = np.nanmean(agree, axis=1)
    labelled = ~np.all(np.isnan(correct), axis=0)
    has_fail = np.nansum(gold_fail, axis=0) > 0
    return Intervals(
        items={
            item: percentile_interval(agree[:, c], level) if labelled[c] else None
            for c, item in enumerate(items)
        },
        macro=percentile_interval(macro, level),
        recall={
            item: percentile_interval(recall[:, c], level) if has_fail[c] else None
            for c, item in enumerate(items)
        },
    )
