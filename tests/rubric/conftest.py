from __future__ import annotations

from typing import Any

import pytest

from qa_pipeline.rubric import parse_rubric
from qa_pipeline.rubric.rules import MatchContext
from qa_pipeline.types import Conversation, Prediction, Turn


def make_conv(
    turns: list[tuple[str, str] | tuple[str, str, float, float]], channel: str = "call"
) -> Conversation:
    out = []
    t = 0.0
    for spec in turns:
        speaker, text = spec[0], spec[1]
        start, end = (spec[2], spec[3]) if len(spec) == 4 else (t, t + len(text) / 4.5)
        out.append(Turn(speaker=speaker, text=text, norm=text, start=start, end=end))
        t = end + 0.8
    return Conversation(id="t1", channel=channel, agent_id="A1", turns=out)  # type: ignore[arg-type]


def rubric_with(rules: dict[str, Any], items: list[dict[str, Any]] | None = None) -> Any:
    items = items or [
        {
            "id": "dummy",
            "points": 1,
            "check": {"type": "require", "rule": {"type": "ref", "ref": next(iter(rules))}},
        }
    ]
    return parse_rubric({"id": "t", "version": "0", "rules": rules, "items": items})


def fatal_forbid_rubric(rule: dict[str, Any], **fields: Any) -> Any:
    """A one-item rubric: a fatal ``banned`` item (10 points) forbidding ``rule``."""
    item = {"id": "banned", "points": 10, "fatal": True, "check": {"type": "forbid", "rule": rule}}
    return parse_rubric({"id": "t", "version": "1", **fields, "items": [item]})


def hits(rule_spec: dict[str, Any], conv: Conversation, extra: dict[str, Any] | None = None) -> list:
    rub = rubric_with({"r": rule_spec, **(extra or {})})
    ctx = MatchContext(conv=conv, named=dict(rub.rules))
    return rub.rules["r"].find(ctx)


def neg(p: float) -> Prediction:
    return Prediction(label="neg" if p >= 0.5 else "neu", probs={"neg": p, "neu": 1 - p, "pos": 0.0})


@pytest.fixture()
def conv_factory():
    return make_conv
