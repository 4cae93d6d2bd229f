from __future__ import annotations

import pytest

from qa_pipeline.errors import PipelineError
from qa_pipeline.pipeline import BuildContext, registry
from qa_pipeline.settings import Settings
from qa_pipeline.stages.normalize import Normalize
from qa_pipeline.types import Conversation, Turn


def conv(*texts: str) -> Conversation:
    turns = [Turn(speaker="customer" if i % 2 else "agent", text=t) for i, t in enumerate(texts)]
    return Conversation(id="c1", channel="chat", turns=turns, metadata={"note": "電話"})


@pytest.fixture(scope="module")
def stage() -> Normalize:
    built = registry.build("normalize", {}, BuildContext(settings=Settings()))
    assert isinstance(built, Normalize)
    return built


def test_traditional_to_simplified(stage: Normalize) -> None:
    out = stage(conv("您好，我們這個電話號碼後來停機了，麵包也沒到。"))
    assert out.turns[0].text == "您好，我们这个电话号码后来停机了，面包也没到。"


def test_simplified_text_is_unchanged(stage: Normalize) -> None:
    text = "您好，星联通信客服，工号二零六，请问需要办理什么？"
    assert stage(conv(text)).turns[0].text == text


def test_fullwidth_and_whitespace(stage: Normalize) -> None:
    out = stage(
        conv("  卡号：６２２２　０２１３，邮箱ＺＨＡＮＧ＠ｑｑ．ｃｏｍ！  ", "好的\n\n谢谢\t（再见）")
    )
    assert out.turns[0].text == "卡号：6222 0213，邮箱ZHANG@qq.com！"
    assert out.turns[1].text == "好的 谢谢 （再见）"


def test_only_turn_texts_change(stage: Normalize) -> None:
    assert stage(conv("電話")).metadata == {"note": "電話"}


def test_options_switch_steps_off() -> None:
    ctx = BuildContext(settings=Settings())
    stage = registry.build("normalize", {"t2s": False, "fullwidth": False}, ctx)
    assert stage(conv(" 電話１２３ ")).turns[0].text == "電話１２３"
    assert "opencc_t2s" not in ctx.cache


def test_converter_is_shared_per_pipeline() -> None:
    ctx = BuildContext(settings=Settings())
    a = registry.build("normalize", {}, ctx)
    b = registry.build("normalize", {}, ctx)
    assert isinstance(a, Normalize) and isinstance(b, Normalize)
    assert list(ctx.cache) == ["opencc_t2s"]
    assert a(conv("後來")).turns[0].text == b(conv("後來")).turns[0].text == "后来"


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(PipelineError) as err:
        registry.build("normalize", {"t2t": True}, BuildContext(settings=Settings()))
    assert err.value.code.value == "QA402"


@pytest.mark.data
def test_skipping_unchangeable_texts_gives_what_opencc_gives() -> None:
    import csv

    from qa_pipeline.settings import PROJECT_DIR
    from qa_pipeline.stages.normalize import T2S

    data = PROJECT_DIR.parent / "shared" / "data"
    if not data.is_dir():
        pytest.skip(f"{data} not found")
    t2s = T2S()
    assert t2s.changing is not None and "們" in t2s.changing and "们" not in t2s.changing
    with (data / "dialogue_emotion" / "cped_valid.csv").open(encoding="utf-8-sig") as fh:
        texts = [row["Utterance"] for row in csv.DictReader(fh)][:3000]
    texts += ["您好，我們這個電話號碼後來停機了", "乾隆", "头发發了", "一目瞭然", "后天見"]
    skipped = sum(t2s.changing.isdisjoint(t) for t in texts)
    assert skipped > len(texts) // 2
    assert [t2s.convert(t) for t in texts] == [t2s.opencc.convert(t) for t in texts]


def test_unknown_opencc_layout_converts_every_text() -> None:
    from qa_pipeline.stages.normalize import _changing_chars

    class Lazy:  # an OpenCC whose dictionaries are not where 0.1.7 keeps them
        _dict_chain_data: tuple[object, ...] = ()

        def convert(self, text: str) -> str:
            return text.replace("們", "们")

    assert _changing_chars(Lazy()) is None
    assert _changing_chars(object()) is None
