from __future__ import annotations

from pathlib import Path

import jieba
import pytest

from qa_pipeline.errors import PipelineError
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages.segment import Segment
from qa_pipeline.types import Conversation, Turn


def conv(*texts: str) -> Conversation:
    return Conversation(id="c1", channel="call", turns=[Turn(speaker="agent", text=t) for t in texts])


def build(raw: dict[str, object], ctx: BuildContext | None = None) -> Segment:
    stage = registry.build(
        "segment", {"rubric_words": False, **raw}, ctx or BuildContext(settings=Settings())
    )
    assert isinstance(stage, Segment)
    return stage


@pytest.fixture(scope="module")
def plain() -> Segment:
    return build({})


def test_norm_and_tokens(plain: Segment) -> None:
    turn = plain(conv("您好，工号二零六，本月话费一百二十八元，稍等一下。")).turns[0]
    assert turn.norm == "您好，工号206，本月话费128元，稍等一下。"
    assert "128" in turn.tokens and "206" in turn.tokens and "稍等一下" in turn.tokens
    assert "".join(turn.tokens) == turn.norm


def test_norm_lowercases_ascii_only(plain: Segment) -> None:
    turn = plain(conv("我的VIP卡 ID 是 ABC")).turns[0]
    assert turn.norm == "我的vip卡 id 是 abc"
    assert " " not in turn.tokens
    assert "".join(turn.tokens) == turn.norm.replace(" ", "")


def test_user_word_keeps_domain_term_in_one_token(tmp_path: Path) -> None:
    text = "我要打印话费详单和流量详单"
    assert "话费详单" not in build({})(conv(text)).turns[0].tokens
    assert "话费详单" in build({"words": ["话费详单"]})(conv(text)).turns[0].tokens
    user_dict = tmp_path / "user.txt"
    user_dict.write_text("流量详单 10 n\n", encoding="utf-8")
    tokens = build({"user_dict": str(user_dict)})(conv(text)).turns[0].tokens
    assert "流量详单" in tokens


def test_dictionary_words_are_normalised_like_the_text() -> None:
    stage = build({"words": ["五G套餐"]})
    assert "5g套餐" in stage(conv("我想办个5G套餐")).turns[0].tokens


def test_global_jieba_and_other_tokenizers_are_untouched() -> None:
    first = build({})
    build({"words": ["话费详单"]})
    assert "话费详单" not in jieba.dt.FREQ
    assert "话费详单" not in first.cutter.reference.FREQ


def test_tokenizer_shared_per_pipeline() -> None:
    ctx = BuildContext(settings=Settings())
    a, b = build({"words": ["工号"]}, ctx), build({"words": ["工号"]}, ctx)
    c = build({"words": ["话费详单"]}, ctx)
    assert a.cutter is b.cutter
    assert c.cutter is not a.cutter


def test_rubric_words_are_added(tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(
        "id: t\nversion: '1'\ndictionary: [话费详单]\nitems:\n"
        "  - id: greeting\n    points: 1\n    check: {type: require, rule: {type: keywords, any: [您好]}}\n",
        encoding="utf-8",
    )
    ctx = BuildContext(settings=Settings(rubric=rubric))
    stage = registry.build("segment", {}, ctx)
    assert "话费详单" in stage(conv("打印话费详单")).turns[0].tokens
    assert "rubric" in ctx.cache


def test_missing_user_dict_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as err:
        build({"user_dict": str(tmp_path / "nope.txt")})
    assert err.value.code.value == "QA402"


def test_text_stages_in_a_pipeline(tmp_path: Path) -> None:
    from qa_pipeline.pipeline import Pipeline

    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "name: text\nstages:\n  - stage: normalize\n  - stage: pii\n"
        "  - stage: segment\n    config: {rubric_words: false, words: [话费详单]}\n",
        encoding="utf-8",
    )
    pipeline = Pipeline.from_config(config, Settings())
    out = pipeline(conv("我的電話是幺三八幺二三四五六七八，話費詳單一共三百塊"))
    turn = out.turns[0]
    assert turn.text == "我的电话是138****5678，话费详单一共三百块"
    assert turn.norm == "我的电话是138****5678，话费详单一共300块"
    assert "话费详单" in turn.tokens and "300" in turn.tokens
