"""Speaker roles for mono calls: a role classifier's per-clause probabilities plus turn-taking.

A mono recording has no channel per speaker, so the word stream is cut into clauses (see
:func:`qa_pipeline.stages.asr.split_clauses`) and each clause gets a role by a two-state hidden
Markov model:

- **emission**: the role classifier's ``p(agent | clause text)`` (trained class-balanced, so it is
  a likelihood ratio up to a constant); ``emission_power`` < 1 softens an over-confident model;
- **transition**: the chance the speaker changes between two clauses, from turn-taking:
  ``switch_after_pause`` after a gap longer than the turn gap, ``switch_after_question`` after a
  question or a request to say something (麻烦报一下...), ``switch_default`` otherwise;
- **start**: ``first_is_agent`` (agents open calls).

Forward-backward gives each clause's posterior; a clause takes its more probable role and
``role_confidence`` is that posterior. Without a classifier (``role_model: null``) a small phrase
list stands in for it (see :func:`phrase_probability`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from qa_pipeline.classifiers.base import TextClassifier
from qa_pipeline.types import Speaker

_QUESTION_END = re.compile(r"[？?吗呢][，,。]?$")
# a request for the customer to say something (麻烦报一下身份证后四位): an answer usually follows
_REQUEST = re.compile(r"(麻烦|请)您?(报|提供|说|告诉)")
_AGENT_CUES = (
    *("您好", "工号", "请问", "稍等", "为您", "帮您", "给您", "您要", "麻烦您", "麻烦报", "不客气"),
    *("很高兴", "感谢您", "还有别的", "评价", "确认"),
    *("您", "已经把", "已经帮", "已经给", "已经为", "已经提交", "已经登记", "已经安排"),
)
_CUSTOMER_CUES = ("我想", "我的", "你们", "我要", "给我", "怎么回事", "投诉", "谢谢你", "那就行")


class RoleOptions(BaseModel):
    """Turn-taking probabilities of the role model (tunable apart from the structure)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_is_agent: float = Field(default=0.8, gt=0, lt=1)
    switch_after_pause: float = Field(default=0.7, gt=0, lt=1)
    switch_after_question: float = Field(default=0.6, gt=0, lt=1)
    switch_default: float = Field(default=0.3, gt=0, lt=1)
    emission_power: float = Field(default=1.0, gt=0, le=2)


@dataclass(frozen=True)
class Clause:
    """What the role model sees of one clause."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class RoleDecision:
    speaker: Speaker
    confidence: float


def phrase_probability(text: str) -> float:
    """``p(agent)`` from a few agent/customer phrases (0.5 without a cue): the no-model fallback."""
    score = sum(cue in text for cue in _AGENT_CUES) - sum(cue in text for cue in _CUSTOMER_CUES)
    return float(np.clip(0.5 + 0.15 * score, 0.1, 0.9))


def agent_probabilities(texts: Sequence[str], classifier: TextClassifier | None) -> list[float]:
    """``p(agent)`` per clause from the classifier (labels ``agent``/``customer``) or the phrase list."""
    if classifier is None:
        return [phrase_probability(t) for t in texts]
    return [p.probs["agent"] for p in classifier.predict(list(texts))]


def switch_probabilities(clauses: Sequence[Clause], turn_gap_s: float, opts: RoleOptions) -> list[float]:
    """Chance the speaker changes before clause i (i >= 1), from the gap and the previous clause."""
    out = []
    for before, clause in pairwise(clauses):
        if clause.start - before.end > turn_gap_s:
            out.append(opts.switch_after_pause)
        elif _QUESTION_END.search(before.text) or _REQUEST.search(before.text):
            out.append(opts.switch_after_question)
        else:
            out.append(opts.switch_default)
    return out


def decide_roles(
    clauses: Sequence[Clause], p_agent: Sequence[float], turn_gap_s: float, opts: RoleOptions
) -> list[RoleDecision]:
    """Posterior role of every clause (forward-backward over agent/customer)."""
    if not clauses:
        return []
    p = np.clip(np.asarray(p_agent, dtype=np.float64), 1e-4, 1 - 1e-4)
    emit = np.stack([p, 1 - p], axis=1) ** opts.emission_power
    switches = switch_probabilities(clauses, turn_gap_s, opts)
    posterior = _forward_backward(emit, switches, opts.first_is_agent)
    return [
        RoleDecision("agent" if row[0] >= row[1] else "customer", round(float(row.max()), 3))
        for row in posterior
    ]


def _transition(switch: float) -> npt.NDArray[np.float64]:
    return np.array([[1 - switch, switch], [switch, 1 - switch]])


def _forward_backward(
    emit: npt.NDArray[np.float64], switches: Sequence[float], first_is_agent: float
) -> npt.NDArray[np.float64]:
    n = len(emit)
    alpha = np.zeros((n, 2))
    alpha[0] = np.array([first_is_agent, 1 - first_is_agent]) * emit[0]
    alpha[0] /= alpha[0].sum()
    for i in range(1, n):
        alpha[i] = (alpha[i - 1] @ _transition(switches[i - 1])) * emit[i]
        alpha[i] /= alpha[i].sum()
    beta = np.ones((n, 2))
    for i in range(n - 2, -1, -1):
        beta[i] = _transition(switches[i]) @ (emit[i + 1] * beta[i + 1])
        beta[i] /= beta[i].sum()
    post = alpha * beta
    result: npt.NDArray[np.float64] = post / post.sum(axis=1, keepdims=True)
    return result
