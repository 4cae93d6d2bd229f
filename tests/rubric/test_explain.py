"""Evidence notes: what a rule found, or what was expected where, in words a supervisor reads."""

from __future__ import annotations

from typing import Any

from qa_pipeline.rubric import load_rubric, parse_rubric
from qa_pipeline.rubric.scorecard import Scorecard
from qa_pipeline.settings import PROJECT_DIR
from tests.rubric.conftest import make_conv

RULES: dict[str, Any] = {
    "complaint": {"type": "regex", "name": "客户抱怨", "speaker": "customer", "pattern": "太慢"},
    "soothe": {"type": "regex", "name": "安抚客户", "speaker": "agent", "pattern": "抱歉"},
    "hello": {"type": "regex", "speaker": "agent", "pattern": "您好"},
    "banned": {
        "type": "any",
        "speaker": "agent",
        "rules": [{"type": "regex", "id": "banned.blame", "name": "把责任推给客户", "pattern": "你自己"}],
    },
    "ask_id": {"type": "regex", "name": "核实客户身份", "speaker": "agent", "pattern": "后四位"},
    "disclose": {
        "type": "previous",
        "name": "坐席透露账户信息",
        "speaker": "agent",
        "of": "customer",
        "rule": {"type": "regex", "pattern": "[0-9*]{4,}"},
    },
}
ITEMS: list[dict[str, Any]] = [
    {
        "id": "greeting",
        "name": "开场问候",
        "points": 5,
        "check": {"type": "require", "rule": {"type": "ref", "ref": "hello"}},
    },
    {
        "id": "empathy",
        "points": 5,
        "check": {
            "type": "each",
            "trigger": {"type": "ref", "ref": "complaint"},
            "expect": {"type": "ref", "ref": "soothe"},
        },
    },
    {"id": "forbidden", "points": 5, "check": {"type": "forbid", "rule": {"type": "ref", "ref": "banned"}}},
    {
        "id": "identity",
        "points": 5,
        "check": {
            "type": "before",
            "event": {"type": "ref", "ref": "disclose"},
            "expect": {"type": "ref", "ref": "ask_id"},
        },
    },
]


def _items() -> Any:
    card = Scorecard(parse_rubric({"id": "t", "version": "1", "rules": RULES, "items": ITEMS}))
    conv = make_conv(
        [
            ("agent", "请讲。"),
            ("customer", "我的订单尾号是5678。"),
            ("agent", "查到了，订单已发货，是你自己没填地址。"),
            ("customer", "太慢了。"),
            ("agent", "嗯。"),
        ]
    )
    return card.evaluate(conv)


def test_a_missing_required_rule_says_what_was_not_found_using_the_item_name() -> None:
    [ev] = _items()["greeting"].evidence
    assert ev.note == "未找到：开场问候" and ev.rule == "greeting.rule:missing"


def test_a_missing_reply_says_which_turn_and_what_was_expected() -> None:
    trigger, missing = _items()["empathy"].evidence
    assert trigger.note == "客户抱怨" and trigger.turn == 3
    assert missing.note == "第4轮客户抱怨后，下一轮坐席未安抚客户"


def test_a_hit_is_named_by_its_own_rule_name() -> None:
    [ev] = _items()["forbidden"].evidence
    assert (ev.note, ev.rule, ev.text) == ("把责任推给客户", "banned.blame", "你自己")


def test_identity_evidence_cites_the_turn_where_the_digits_are() -> None:
    event, missing = _items()["identity"].evidence
    assert event.turn == 1 and event.text == "5678"  # the customer's turn, not the agent's reply
    assert missing.note == "第3轮坐席透露账户信息之前，坐席未核实客户身份"


def test_every_evidence_of_the_default_rubric_gets_a_chinese_note() -> None:
    card = Scorecard(load_rubric(PROJECT_DIR / "rubrics" / "default.yaml"))
    conv = make_conv(
        [
            ("customer", "你们这速度太慢了！我要投诉！"),
            ("agent", "你自己不看清楚怪谁。"),
            ("customer", "我的卡号是6222****1234。"),
            ("agent", "查到了您的账单。"),
        ]
    )
    notes = [ev.note for item in card.evaluate(conv).values() for ev in item.evidence]
    assert notes and all(notes)
    assert not any("." in n or "_" in n for n in notes)  # no rule ids in the notes
