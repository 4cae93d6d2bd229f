"""The mono role model: turn-taking HMM over per-clause agent probabilities."""

from __future__ import annotations

import pytest

from qa_pipeline.asr.roles import (
    Clause,
    RoleOptions,
    agent_probabilities,
    decide_roles,
    phrase_probability,
    switch_probabilities,
)
from qa_pipeline.classifiers.base import Probs, TextClassifier

OPTS = RoleOptions()


class _Fixed(TextClassifier):
    """A debug classifier: p(agent) looked up by text (no weights needed)."""

    def __init__(self, table: dict[str, float]) -> None:
        self.labels = ["agent", "customer"]
        self.version = "fixed"
        self.table = table

    def _forward(self, texts: list[str]) -> Probs:
        import numpy as np

        p = np.array([self.table.get(t, 0.5) for t in texts])
        return np.stack([p, 1 - p], axis=1)


def clauses(*spec: tuple[str, float, float]) -> list[Clause]:
    return [Clause(t, s, e) for t, s, e in spec]


def test_switch_chance_follows_pauses_and_questions() -> None:
    cs = clauses(("您好，", 0.0, 0.5), ("请问查什么？", 0.8, 1.5), ("话费", 1.8, 2.2), ("好", 4.0, 4.2))
    assert switch_probabilities(cs, 0.8, OPTS) == [
        OPTS.switch_default,
        OPTS.switch_after_question,
        OPTS.switch_after_pause,
    ]


def test_confident_evidence_overrides_turn_taking_and_weak_evidence_does_not() -> None:
    cs = clauses(("a", 0.0, 1.0), ("b", 1.1, 2.0), ("c", 2.1, 3.0))
    strong = decide_roles(cs, [0.9, 0.02, 0.9], 0.8, OPTS)
    assert [d.speaker for d in strong] == ["agent", "customer", "agent"]
    weak = decide_roles(cs, [0.9, 0.45, 0.9], 0.8, OPTS)
    assert [d.speaker for d in weak] == ["agent", "agent", "agent"]
    assert all(0.5 <= d.confidence <= 1.0 for d in strong + weak)


def test_no_evidence_first_clause_is_agent_and_long_pause_switches() -> None:
    cs = clauses(("嗯", 0.0, 0.3), ("好", 2.0, 2.2))
    assert [d.speaker for d in decide_roles(cs, [0.5, 0.5], 0.8, OPTS)] == ["agent", "customer"]
    assert decide_roles([], [], 0.8, OPTS) == []


def test_classifier_probabilities_are_used_when_given() -> None:
    clf = _Fixed({"x": 0.97, "y": 0.03})
    assert agent_probabilities(["x", "y"], clf) == pytest.approx([0.97, 0.03])
    assert agent_probabilities(["您好，工号一二三"], None) == [phrase_probability("您好，工号一二三")]
    assert phrase_probability("您好，工号一二三") > 0.5 > phrase_probability("我想问一下你们")
    assert phrase_probability("嗯") == 0.5


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        RoleOptions(switch_default=1.0)
