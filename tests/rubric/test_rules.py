"""One test group per rule type and scope field."""

from __future__ import annotations

import pytest

from qa_pipeline.rubric.rules import MatchContext
from tests.rubric.conftest import hits, make_conv, neg, rubric_with


def test_keywords_match_and_unless_suppresses_polite_form() -> None:
    conv = make_conv([("agent", "这个我不知道。"), ("agent", "不知道您方便吗？")])
    found = hits({"type": "keywords", "any": ["不知道"], "unless": ["不知道您"]}, conv)
    assert [(h.turn, h.text) for h in found] == [(0, "不知道")]


def test_keywords_fall_back_to_numeral_normalised_view() -> None:
    conv = make_conv([("agent", "二十四小时内到账")])
    conv.turns[0].norm = "24小时内到账"
    assert hits({"type": "keywords", "any": ["24小时"]}, conv)[0].text == "24小时"


def test_regex_rule_reports_matched_words_and_rejects_bad_pattern() -> None:
    conv = make_conv([("agent", "工号 幺二三，很高兴为您服务")])
    found = hits({"type": "regex", "pattern": "工号\\s*[一二三幺]+"}, conv)
    assert found[0].text == "工号 幺二三"
    import pytest

    from qa_pipeline.errors import RubricError

    with pytest.raises(RubricError, match="invalid regular expression"):
        hits({"type": "regex", "pattern": "(unclosed"}, conv)


def test_a_regex_on_the_display_text_only_skips_the_numeral_view() -> None:
    conv = make_conv([("customer", "才两千五"), ("customer", "幺三八八")])
    conv.turns[0].norm = "才2500"
    pattern = "[0-9零一幺二两三四五六七八九]{4}"
    assert [h.turn for h in hits({"type": "regex", "pattern": pattern}, conv)] == [0, 1]
    assert [h.turn for h in hits({"type": "regex", "pattern": pattern, "views": "text"}, conv)] == [1]


def test_pinyin_rule_matches_asr_homophones() -> None:
    # ASR wrote 发火 for 发货; 不归我管 written with the homophone 不贵我管
    conv = make_conv([("customer", "你们什么时候发火"), ("agent", "这个不贵我管")])
    assert hits({"type": "pinyin", "phrases": ["发货"], "speaker": "customer"}, conv)[0].text == "发火"
    assert hits({"type": "pinyin", "phrases": ["不归我管"]}, conv)[0].turn == 1
    assert hits({"type": "keywords", "any": ["不归我管"]}, conv) == []


def test_pinyin_fuzzy_merges_retroflex_and_nasal_finals() -> None:
    conv = make_conv([("agent", "我们四不会退的")])  # 是 (shi) said as 四 (si)
    assert hits({"type": "pinyin", "phrases": ["是不会"], "fuzzy": True}, conv)
    assert not hits({"type": "pinyin", "phrases": ["是不会"], "fuzzy": False}, conv)


def test_similar_rule_matches_paraphrase_not_unrelated_text() -> None:
    conv = make_conv([("agent", "这事儿真不归我们这边管"), ("agent", "我帮您查一下物流信息")])
    found = hits({"type": "similar", "examples": ["这事不归我们管"], "threshold": 0.6}, conv)
    assert [h.turn for h in found] == [0]
    assert 0.6 <= found[0].score <= 1.0


def test_sentiment_rule_uses_model_probability() -> None:
    conv = make_conv([("customer", "你们太过分了"), ("customer", "好的")])
    conv.turns[0].sentiment = neg(0.9)
    conv.turns[1].sentiment = neg(0.1)
    assert [h.turn for h in hits({"type": "sentiment", "label": "neg", "min_prob": 0.6}, conv)] == [0]


def test_metric_rule_silence_and_overlap_with_channel_thresholds() -> None:
    conv = make_conv(
        [
            ("agent", "请稍等", 0.0, 1.0),
            ("agent", "感谢等待", 13.0, 14.0),
            ("customer", "我想问一下", 14.5, 17.0),
            ("agent", "您说", 15.0, 16.0),
        ]
    )
    silence = {"type": "metric", "metric": "silence_before", "op": "gt", "value": {"call": 10, "chat": 60}}
    assert [h.turn for h in hits(silence, conv)] == [1]
    overlap = {"type": "metric", "metric": "overlap_s", "op": "gt", "value": 0.5, "speaker": "agent"}
    assert [h.turn for h in hits(overlap, conv)] == [3]
    conv.channel = "chat"
    assert hits(silence, conv) == []


def test_scope_speaker_first_turns_within_s_and_channels() -> None:
    conv = make_conv([("customer", "你好", 0, 1), ("agent", "喂", 2, 3), ("agent", "您好", 20, 21)])
    rule = {"type": "keywords", "any": ["好"], "speaker": "agent", "first_turns": 1}
    assert hits(rule, conv) == []
    assert [h.turn for h in hits({**rule, "first_turns": 2}, conv)] == [2]
    assert hits({**rule, "first_turns": 2, "within_s": 15}, conv) == []
    assert hits({**rule, "first_turns": 2, "channels": ["chat"]}, conv) == []


def test_after_constraint_needs_earlier_hit_of_named_rule() -> None:
    conv = make_conv([("customer", "太贵了"), ("agent", "您好"), ("customer", "还是太贵了")])
    extra = {"opening": {"type": "keywords", "any": ["您好"]}}
    found = hits({"type": "keywords", "any": ["太贵"], "after": "opening"}, conv, extra)
    assert [h.turn for h in found] == [2]


def test_logical_all_any_not_per_turn() -> None:
    conv = make_conv(
        [("agent", "因为系统升级，可以明天办理"), ("agent", "规定就是这样，可以去网点"), ("agent", "好的")]
    )
    reason = {"type": "keywords", "any": ["可以"]}
    brush = {"type": "keywords", "any": ["规定就是这样"]}
    both = {"type": "all", "rules": [reason, {"type": "not", "rule": brush}]}
    assert sorted({h.turn for h in hits(both, conv)}) == [0]
    either = {"type": "any", "rules": [brush, {"type": "keywords", "any": ["好的"]}]}
    assert [h.turn for h in hits(either, conv)] == [1, 2]


def test_ordered_all_needs_the_children_in_the_turns_own_words_in_order() -> None:
    conv = make_conv(
        [("customer", "卡号6222"), ("agent", "余额三百元，您是本人吗"), ("agent", "您是本人吗？余额三百元")]
    )
    figure, check = {"type": "keywords", "any": ["余额"]}, {"type": "keywords", "any": ["本人"]}
    ordered = {"type": "all", "ordered": True, "rules": [figure, check]}
    assert {h.turn for h in hits(ordered, conv)} == {1}
    assert sorted({h.turn for h in hits({"type": "all", "rules": [figure, check]}, conv)}) == [1, 2]
    inside = {
        "type": "all",
        "ordered": True,
        "rules": [{"type": "keywords", "any": ["余额三百"]}, {"type": "keywords", "any": ["三百元"]}],
    }
    assert hits(inside, conv) == []  # the second child's words must start where the first's end


def test_ordered_all_refuses_children_without_words_to_order_by() -> None:
    from qa_pipeline.errors import RubricError

    quoted = {"type": "previous", "of": "customer", "rule": {"type": "keywords", "any": ["卡号"]}}
    conv = make_conv([("agent", "好的")])
    with pytest.raises(RubricError, match="no words in the turn to order by"):
        hits({"type": "all", "ordered": True, "rules": [quoted, {"type": "keywords", "any": ["好"]}]}, conv)


def test_previous_rule_looks_at_preceding_turn_of_speaker() -> None:
    conv = make_conv([("customer", "卡号6222020200112233"), ("agent", "查到了"), ("agent", "还有别的吗")])
    rule = {
        "type": "previous",
        "of": "customer",
        "rule": {"type": "regex", "pattern": "[0-9]{6,}"},
        "speaker": "agent",
    }
    assert [h.turn for h in hits(rule, conv)] == [1, 2]


def test_next_rule_looks_at_following_turn_of_speaker() -> None:
    conv = make_conv(
        [
            ("customer", "又坏了"),
            ("customer", "第三次了"),
            ("agent", "真抱歉"),
            ("customer", "好"),
            ("agent", "嗯"),
        ]
    )
    rule = {
        "type": "next",
        "of": "agent",
        "rule": {"type": "keywords", "any": ["抱歉"]},
        "speaker": "customer",
    }
    found = hits(rule, conv)
    assert [h.turn for h in found] == [0, 1]
    assert found[0].quoted_turn == 2  # the evidence quotes the agent's answer
    assert hits({**rule, "of": "customer"}, conv) == []  # the next customer turn says no 抱歉
    # only the next turn counts, not a later one; the default is the next turn of anybody
    later = make_conv([("customer", "又坏了"), ("agent", "嗯"), ("customer", "哦"), ("agent", "抱歉")])
    assert [h.turn for h in hits(rule, later)] == [2]
    assert [h.turn for h in hits({**rule, "of": "any"}, later)] == [2]


def test_a_shared_rule_is_matched_once_per_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_pipeline.rubric.rules import Keywords, MatchContext

    calls: list[int] = []
    rub = rubric_with(
        {
            "sorry": {"type": "keywords", "any": ["抱歉"]},
            "both": {
                "type": "any",
                "rules": [
                    {"type": "ref", "ref": "sorry"},
                    {"type": "ref", "ref": "sorry", "speaker": "agent"},
                ],
            },
        }
    )
    original = Keywords.match_turn

    def counting(self: Keywords, ctx: MatchContext, i: int) -> list:
        calls.append(i)
        return original(self, ctx, i)

    monkeypatch.setattr(Keywords, "match_turn", counting)
    conv = make_conv([("customer", "你好"), ("agent", "抱歉让您久等")])
    ctx = MatchContext(conv=conv, named=dict(rub.rules))
    first = rub.rules["both"].find(ctx)
    again = rub.rules["both"].find(ctx) + rub.rules["sorry"].find(ctx)
    assert [h.turn for h in first] == [1] and [h.turn for h in again] == [1, 1]
    assert sorted(calls) == [0, 1]


def test_scope_last_turns_counts_from_the_end_per_speaker() -> None:
    conv = make_conv(
        [
            ("agent", "好的"),
            ("customer", "好"),
            ("agent", "好的呢"),
            ("customer", "好吧"),
            ("agent", "好，再见"),
        ]
    )
    rule = {"type": "keywords", "any": ["好"], "speaker": "agent", "last_turns": 1}
    assert [h.turn for h in hits(rule, conv)] == [4]
    assert [h.turn for h in hits({**rule, "last_turns": 2}, conv)] == [2, 4]
    assert [h.turn for h in hits({**rule, "speaker": "any", "last_turns": 2}, conv)] == [3, 4]
    assert [h.turn for h in hits({**rule, "speaker": "customer", "last_turns": 1}, conv)] == [3]


ANY_TEXT = {
    "type": "any",
    "rules": [
        {"type": "regex", "pattern": r"(\d)\1{3}", "speaker": "customer"},  # a backreference: no prefilter
        {"type": "keywords", "any": ["退款", "赔偿"], "unless": ["不用退款"]},
        {"type": "regex", "pattern": "发(货|火)", "first_turns": 2, "speaker": "agent"},
        {"type": "not", "rule": {"type": "keywords", "any": ["您好"]}},
    ],
}


@pytest.mark.parametrize("drop_backref", [True, False])
def test_any_of_passes_over_text_children_only_when_none_can_match(drop_backref: bool) -> None:
    """The joined prefilter of keyword and regex children gives exactly the hits of asking each child."""
    spec = {**ANY_TEXT, "rules": ANY_TEXT["rules"][int(drop_backref) :]}
    conv = make_conv(
        [
            ("agent", "您好，已经发货了"),
            ("customer", "我不用退款，电话是1111"),
            ("agent", "您好，发火了吗"),
            ("customer", "那就赔偿吧"),
            ("agent", "好的发货"),
            ("customer", "嗯"),
        ]
    )
    rub = rubric_with({"r": spec})
    rule = rub.rules["r"]
    fast = rule.find(MatchContext(conv=conv, named=dict(rub.rules)))
    rule.__dict__["_prefilter"] = (None, rule._prefilter[1])  # every child asked, one by one
    slow = rule.find(MatchContext(conv=conv, named=dict(rub.rules)))
    assert fast == slow
    assert [(h.turn, h.text) for h in fast][:4] == [
        (0, "发货"),
        (1, "1111" if not drop_backref else ""),
        (2, "发火"),
        (3, "赔偿"),
    ]


PATTERN_PARTS = [
    "发货",
    "(退|换)",
    "(x)?y",
    "(a)?(?(1)b|c)",
    r"(\d)\1",
    "(?P<n>好)(?P=n)",
    "不[^，]{0,3}吗",
    "(?i:ok)",
]


def test_any_of_prefilter_matches_asking_each_child_on_random_patterns() -> None:
    """Random any-of rules over patterns with groups, references and conditionals: the joined prefilter
    never changes a hit."""
    import random

    rng = random.Random(11)
    texts = ["发货了吗", "退款", "ab", "ac", "y", "11号", "好好的", "不行吗", "OK", "嗯", "换个吧，xy"]
    for _ in range(200):
        parts = rng.sample(PATTERN_PARTS, rng.randint(2, 4))
        children = [{"type": "regex", "pattern": p} for p in parts] + [{"type": "keywords", "any": ["嗯"]}]
        conv = make_conv([(rng.choice(["agent", "customer"]), rng.choice(texts)) for _ in range(6)])
        rub = rubric_with({"r": {"type": "any", "rules": children}})
        rule = rub.rules["r"]
        fast = rule.find(MatchContext(conv=conv, named=dict(rub.rules)))
        rule.__dict__["_prefilter"] = (None, rule._prefilter[1])
        assert fast == rule.find(MatchContext(conv=conv, named=dict(rub.rules))), parts
