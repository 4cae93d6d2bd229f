"""Negativity stage: lexicon matching on jieba tokens, negation, empathy frames, ratios, evidence."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import jieba
import pytest

from qa_pipeline.errors import E, PipelineError
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages import negativity
from qa_pipeline.stages.negativity import (
    LEXICON_DIR,
    NegationMatcher,
    NegativityConfig,
    NegativityStage,
    load_lexicon,
)
from qa_pipeline.types import Conversation, Speaker, Turn

jieba.setLogLevel(logging.WARNING)


@pytest.fixture(scope="module")
def matcher() -> NegationMatcher:
    return NegationMatcher(load_lexicon(NegativityConfig()))


def _counted(matcher: NegationMatcher, text: str, agent: bool = False) -> list[str]:
    return [h.text for h in matcher.counted(jieba.lcut(text), agent=agent)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("不满意", ["不满意"]),  # jieba splits it into 不/满意: matched as one multi-token entry
        ("一点都不满意", ["不满意"]),
        ("我对你们很不满意", ["很不满意"]),
        ("不是不满意", []),  # the negator outside the entry cancels it
        ("没有不满意", []),
        ("我并不是不满意，就是有点担心", ["担心"]),  # negation stops at the comma
        ("我没说你们垃圾?", []),
        ("他不是没有生气", ["生气"]),  # two negators cancel out
        ("不满意不满意", ["不满意", "不满意"]),  # an earlier entry's 不 does not negate the next one
        ("您别担心，不是什么大问题", []),  # prohibitive 别 negates a feeling
        ("别忽悠我", ["忽悠我"]),  # ... but not an accusation
        ("别骗我了", ["别骗"]),
        ("我们不会骗您", []),
        ("这不是骗人吗", ["骗人"]),  # rhetorical 不是…吗 affirms
        ("太慢了吧，烦死了", ["太慢", "烦死了"]),
        ("不好意思让您久等了", []),  # 不好意思 is one token, not 不好
        ("我想申请退款", []),
    ],
)
def test_negation_aware_matching(matcher: NegationMatcher, text: str, expected: list[str]) -> None:
    assert _counted(matcher, text) == expected


def test_empathy_frames_apply_to_the_agent_only(matcher: NegationMatcher) -> None:
    assert _counted(matcher, "换谁都受不了", agent=True) == []
    assert _counted(matcher, "理解您的不满", agent=True) == []
    assert _counted(matcher, "换谁都受不了") == ["受不了"]
    assert _counted(matcher, "我也没办法，你自己看", agent=True) == ["我也没办法", "你自己看"]


def _conv(*turns: tuple[Speaker, list[str]]) -> Conversation:
    return Conversation(
        id="n",
        channel="call",
        turns=[
            Turn(speaker=s, text="".join(toks), tokens=toks, start=2.0 * i, end=2.0 * i + 1.5)
            for i, (s, toks) in enumerate(turns)
        ],
    )


def test_ratio_per_speaker_and_evidence() -> None:
    conv = _conv(
        ("agent", ["您好", "，", "请问", "有", "什么", "可以", "帮", "您", "？"]),
        ("customer", ["太慢", "了", "，", "我要", "投诉", "！"]),
    )
    stage = NegativityStage(load_lexicon(NegativityConfig()))
    stage(conv)
    assert conv.metrics is not None
    assert conv.metrics.negative_word_ratio.agent == 0.0  # 0 of 7 word tokens
    assert conv.metrics.negative_word_ratio.customer == pytest.approx(2 / 4)  # punctuation excluded
    assert [(e.turn, e.start, e.end, e.text, e.rule) for e in conv.metrics.negative_words] == [
        (1, 2.0, 3.5, "太慢", "negativity/lexicon"),
        (1, 2.0, 3.5, "投诉", "negativity/lexicon"),
    ]
    assert stage.version.startswith("lexicon-")


def test_entries_also_match_the_numeral_normalised_view(matcher: NegationMatcher) -> None:
    """Turn.norm rewrites numerals (白跑一趟 → 白跑1趟); the lexicon matches both forms."""
    assert [h.text for h in matcher.counted(["又", "白跑", "1", "趟"])] == ["白跑1趟"]
    assert [h.text for h in matcher.counted(["白跑一趟"])] == ["白跑一趟"]


def test_speaker_without_words_has_no_ratio() -> None:
    conv = _conv(("customer", ["垃圾", "！"]), ("customer", ["？"]))
    NegativityStage(load_lexicon(NegativityConfig()))(conv)
    assert conv.metrics is not None
    assert conv.metrics.negative_word_ratio.agent is None
    assert conv.metrics.negative_word_ratio.customer == 1.0


def test_bundled_lexicon_is_our_own_and_sized() -> None:
    lexicon = load_lexicon(NegativityConfig())
    lines = (LEXICON_DIR / "negative.txt").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("#") and "Apache-2.0" in line for line in lines[:3])
    assert 300 <= len([line for line in lines if line.strip() and not line.startswith("#")]) <= 600
    assert {
        "投诉",
        "垃圾",
        "骗子",
        "坑",
        "烦",
        "气死",
        "失望",
        "不满意",
        "太慢",
        "差劲",
        "忽悠",
        "敷衍",
    } <= set(lexicon.entries)
    assert "退款" not in lexicon.entries
    assert {"不", "没", "没有", "别", "不是", "并不", "并没有", "未", "无"} <= set(lexicon.negators)


def test_extra_lexicon_from_config(tmp_path: Path) -> None:
    extra = tmp_path / "extra.txt"
    extra.write_text("# ours\n离大谱\tdissatisfaction\n", encoding="utf-8")
    stage = registry.build("negativity", {"extra_lexicons": [str(extra)]}, BuildContext(settings=Settings()))
    conv = _conv(("customer", ["这", "也", "太", "离大谱", "了"]))
    stage(conv)
    assert conv.metrics is not None
    assert [e.text for e in conv.metrics.negative_words] == ["离大谱"]


def test_bad_lexicon_files_are_typed_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("# header\n垃圾\tinsult\n坑\tnasty\n", encoding="utf-8")
    with pytest.raises(PipelineError) as info:
        load_lexicon(NegativityConfig(extra_lexicons=[bad]))
    assert (info.value.code, info.value.file, info.value.line) == (E.STAGE_CONFIG, str(bad), 3)
    with pytest.raises(PipelineError) as missing:
        load_lexicon(NegativityConfig(extra_lexicons=[tmp_path / "nope.txt"]))
    assert missing.value.code is E.STAGE_CONFIG


@pytest.mark.data
def test_dev_customer_turns_negative_vs_neutral(dialogues_path: Path, matcher: NegationMatcher) -> None:
    """Customer turns labelled neg contain a counted negative word far more often than neu/pos ones."""
    hits: dict[str, list[bool]] = {"neg": [], "neu": [], "pos": []}
    for line in dialogues_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        labels = iter(record["labels"]["customer_sentiment"])
        for turn in record["turns"]:
            if turn["speaker"] == "customer":
                hits[next(labels)].append(bool(matcher.counted(jieba.lcut(turn["text"]))))
    rate = {k: sum(v) / len(v) for k, v in hits.items()}
    assert rate["neg"] >= 0.35
    assert rate["neu"] <= 0.08
    assert rate["pos"] <= 0.08


UNPUNCTUATED = ["我", "很", "生气", "不", "满意", "退款", "为什么", "还", "没到"]
UNPUNCTUATED += ["稍等", "好的", "太慢", "谢谢"]


def _long_turn(chars: int) -> list[str]:
    """An unpunctuated (ASR-like) turn of about ``chars`` characters: one clause, many negative words."""
    cycle = sum(map(len, UNPUNCTUATED))
    return UNPUNCTUATED * -(-chars // cycle)


def test_long_unpunctuated_turn_costs_linear_work(
    matcher: NegationMatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clause bounds are found once per turn: no per-hit rescan of a 200k-character clause."""
    tokens = _long_turn(200_000)
    budget, calls = 20 * len(tokens), [0]
    real = negativity.is_punct

    def counting(token: str) -> bool:
        calls[0] += 1
        if calls[0] > budget:
            raise AssertionError(f"more than {budget} punctuation checks for {len(tokens)} tokens")
        return real(token)

    monkeypatch.setattr(negativity, "is_punct", counting)
    hits = matcher.counted(tokens, agent=True)
    assert len(hits) == 3 * len(tokens) // len(UNPUNCTUATED)  # 生气, 不满意 and 太慢 in each cycle


def test_long_unpunctuated_turn_time_grows_linearly(matcher: NegationMatcher) -> None:
    def seconds(chars: int) -> float:
        tokens, best = _long_turn(chars), float("inf")
        for _ in range(3):
            start = time.perf_counter()
            matcher.counted(tokens, agent=True)
            best = min(best, time.perf_counter() - start)
        return best

    small = seconds(25_000)
    assert small < 2.0, f"25k characters took {small:.2f} s"  # generous: linear code takes ~0.03 s
    assert seconds(100_000) / small < 8  # 4x the text: ~4x the time when linear, ~16x when quadratic


def test_long_unpunctuated_turns_through_the_stage() -> None:
    conv = _conv(("agent", _long_turn(200_000)), ("customer", _long_turn(200_000)))
    NegativityStage(load_lexicon(NegativityConfig()))(conv)
    assert conv.metrics is not None
    per_turn = 3 * len(conv.turns[0].tokens) // len(UNPUNCTUATED)
    assert len(conv.metrics.negative_words) == 2 * per_turn
    assert conv.metrics.negative_word_ratio.customer == pytest.approx(per_turn / len(conv.turns[1].tokens))


def test_prefix_pruning_finds_what_an_unpruned_scan_finds(matcher: NegationMatcher) -> None:
    """Multi-token entries (split by jieba) are still found when lookups stop at non-prefixes."""
    lexicon = matcher.lexicon
    multi = [w for w in lexicon.entries if len(w) >= 3][:200]
    assert multi, "the bundled lexicon has multi-character entries"

    def unpruned(tokens: list[str], i: int) -> int | None:
        best, text = None, ""
        for j in range(i, len(tokens)):
            text += tokens[j]
            if len(text) > lexicon.max_chars:
                break
            if text in lexicon.entries:
                best = j + 1
        return best

    for word in multi:
        tokens = ["我", "觉得", *list(word), "了"]  # one character a token: the hardest split
        for i in range(len(tokens)):
            assert matcher._longest(tokens, i) == unpruned(tokens, i), (word, i)
