"""Negativity stage: lexicon matching on jieba tokens, negation, empathy frames, ratios, evidence."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jieba
import pytest

from qa_pipeline.errors import E, PipelineError
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
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
