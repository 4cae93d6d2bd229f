from __future__ import annotations

from qa_pipeline.rubric import parse_rubric
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.rubric.scorecard import Scorecard
from tests.rubric.conftest import fatal_forbid_rubric, make_conv, neg

RUBRIC = {
    "id": "mini",
    "version": "2",
    "review_below": 0.7,
    "rules": {"sorry": {"type": "keywords", "any": ["抱歉", "理解您"]}},
    "items": [
        {
            "id": "greeting",
            "points": 10,
            "check": {
                "type": "require",
                "rule": {"type": "keywords", "any": ["您好"], "speaker": "agent", "first_turns": 1},
            },
        },
        {
            "id": "banned",
            "points": 30,
            "fatal": True,
            "check": {
                "type": "forbid",
                "rule": {"type": "keywords", "any": ["爱买不买"], "speaker": "agent"},
            },
        },
        {
            "id": "empathy",
            "points": 20,
            "check": {
                "type": "each",
                "trigger": {"type": "sentiment", "label": "neg", "speaker": "customer"},
                "expect": {"type": "ref", "ref": "sorry", "speaker": "agent"},
            },
        },
        {
            "id": "interrupt",
            "points": 40,
            "channels": ["call"],
            "check": {
                "type": "forbid",
                "rule": {"type": "metric", "metric": "overlap_s", "value": 1.0, "speaker": "agent"},
            },
        },
        {
            "id": "verify",
            "points": 10,
            "check": {
                "type": "before",
                "event": {"type": "keywords", "any": ["查到了"], "speaker": "agent"},
                "expect": {"type": "keywords", "any": ["后四位"], "speaker": "agent"},
            },
        },
    ],
}


def score(conv):
    card = Scorecard(parse_rubric(RUBRIC))
    items = card.evaluate(conv)
    return items, card.score(items)


def test_na_items_drop_out_and_rest_rescale_to_100() -> None:
    conv = make_conv([("agent", "您好"), ("customer", "查一下话费")], channel="chat")
    items, s = score(conv)
    assert items["interrupt"].verdict == "na"  # chat
    assert items["empathy"].verdict == "na"  # no negative customer turn
    assert items["verify"].verdict == "na"  # no account disclosure
    assert s.quality_index == 100.0
    conv.turns[0].text = conv.turns[0].norm = "喂"
    items, s = score(conv)
    assert items["greeting"].verdict == "fail"
    assert s.quality_index == round(100 * 30 / 40, 2)


def test_fatal_fail_zeroes_score_flags_review_and_keeps_evidence() -> None:
    conv = make_conv([("agent", "您好"), ("customer", "太贵了"), ("agent", "爱买不买")])
    items, s = score(conv)
    ev = items["banned"].evidence[0]
    assert (items["banned"].verdict, ev.turn, ev.text, ev.rule) == ("fail", 2, "爱买不买", "banned.rule")
    assert ev.start == conv.turns[2].start and ev.end == conv.turns[2].end
    assert s.quality_index == 0.0
    assert "fatal:banned" in s.flags and "needs_review" in s.flags
    assert items["banned"].rubric_version.startswith("mini@2+")


def test_each_check_needs_reply_in_next_agent_turn() -> None:
    conv = make_conv(
        [
            ("agent", "您好"),
            ("customer", "气死我了"),
            ("agent", "好的"),
            ("customer", "又坏了"),
            ("agent", "抱歉给您添麻烦"),
        ]
    )
    conv.turns[1].sentiment = neg(0.9)
    conv.turns[3].sentiment = neg(0.9)
    items, _ = score(conv)
    assert items["empathy"].verdict == "fail"
    assert any(e.rule.endswith(":missing") and e.turn == 1 for e in items["empathy"].evidence)
    conv.turns[2].text = conv.turns[2].norm = "理解您的心情"
    assert score(conv)[0]["empathy"].verdict == "pass"


def test_before_check_requires_verification_first() -> None:
    late = make_conv([("agent", "您好"), ("agent", "查到了"), ("agent", "请报后四位")])
    assert score(late)[0]["verify"].verdict == "fail"
    early = make_conv([("agent", "您好，请报后四位"), ("customer", "1234"), ("agent", "查到了")])
    assert score(early)[0]["verify"].verdict == "pass"


def test_interruption_metric_item() -> None:
    conv = make_conv(
        [("agent", "您好", 0, 1), ("customer", "我想问一下那个账单", 1.5, 5), ("agent", "您说", 3.0, 4.5)]
    )
    items, _ = score(conv)
    assert items["interrupt"].verdict == "fail"
    assert items["interrupt"].evidence[0].turn == 2


def test_weak_similar_match_goes_to_review_not_fail() -> None:
    rule = {"type": "similar", "examples": ["这事不归我们管"], "threshold": 0.5, "speaker": "agent"}
    card = Scorecard(fatal_forbid_rubric(rule, review_below=0.9))
    items = card.evaluate(make_conv([("agent", "这个事不归我们这边管的")]))
    assert items["banned"].verdict == "review"
    s = card.score(items)
    assert s.quality_index == 100.0 and "review:banned" in s.flags


def test_a_deduction_resting_on_low_confidence_asr_words_goes_to_review() -> None:
    from qa_pipeline.types import Word

    card = Scorecard(parse_rubric(RUBRIC), word_review_below=0.5)
    conv = make_conv([("agent", "您好"), ("customer", "太贵了"), ("agent", "爱买不买")])
    words = [
        Word(text=ch, start=5.0 + i * 0.2, end=5.2 + i * 0.2, probability=0.3)
        for i, ch in enumerate("爱买不买")
    ]
    conv.turns[2].words = words
    assert card.evaluate(conv)["banned"].verdict == "review"
    for w in words:
        w.probability = 0.9
    assert card.evaluate(conv)["banned"].verdict == "fail"
    chat = make_conv([("agent", "您好"), ("agent", "爱买不买")], channel="chat")  # no word timings: no doubt
    assert card.evaluate(chat)["banned"].verdict == "fail"


def test_a_conversation_without_turns_is_not_judged() -> None:
    from qa_pipeline.types import Conversation

    items, s = score(Conversation(id="silent", channel="call", turns=[]))
    assert {r.verdict for r in items.values()} == {"na"} and s.quality_index is None


def _tiny_rubric(pattern: str, version: str = "1.0.0") -> Rubric:
    return parse_rubric(
        {
            "id": "tiny",
            "version": version,
            "items": [
                {
                    "id": "closing",
                    "points": 100,
                    "check": {"type": "require", "rule": {"type": "regex", "pattern": pattern}},
                }
            ],
        }
    )


def test_an_edited_rubric_gets_a_new_version_without_a_version_bump() -> None:
    """The store keys results by the version: an edit that kept ``id@version`` kept old verdicts."""
    before, after = Scorecard(_tiny_rubric("再见")), Scorecard(_tiny_rubric("(再见|拜拜)"))
    assert before.version.startswith("tiny@1.0.0+")
    assert before.version != after.version
    assert before.version == Scorecard(_tiny_rubric("再见")).version  # the same rules, the same version
    assert Scorecard(_tiny_rubric("再见", "1.1.0")).version.startswith("tiny@1.1.0+")


def test_the_version_ignores_defaults_left_unset_and_counts_the_asr_review_threshold() -> None:
    explicit = parse_rubric(
        {
            "id": "tiny",
            "version": "1.0.0",
            "items": [
                {
                    "id": "closing",
                    "points": 100,
                    "check": {
                        "type": "require",
                        "rule": {"type": "regex", "pattern": "再见", "speaker": "any"},
                    },
                }
            ],
        }
    )
    assert Scorecard(explicit).version == Scorecard(_tiny_rubric("再见")).version
    assert (
        Scorecard(_tiny_rubric("再见"), word_review_below=0.5).version
        != Scorecard(_tiny_rubric("再见")).version
    )
