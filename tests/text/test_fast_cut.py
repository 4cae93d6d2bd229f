"""The jieba-rs cutter gives Python jieba's tokens exactly (the models were trained on those)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from qa_pipeline.stages.segment import build_tokenizer
from qa_pipeline.text.fast_cut import Cutter
from qa_pipeline.text.jieba_main import main_cutter, main_tokenizer

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conversations_dev" / "dialogues.jsonl"

# Pieces that provoke every known difference between the engines: ASCII runs with - _ . % and units
# (jieba-rs keeps at-2 whole), repeated units (好好好 ties), dictionary words holding ASCII (T恤, A股),
# whitespace and punctuation; plus ordinary service words.
WORDS = (
    "好 好好 哈 哈哈 谢谢 对 不 是 我 您 的 了 吗 退款 订单 工号 at - _ 2 .5 mg % 3 ab x1 ： ， 。 ~ 嗯 啊 "
    "客服 处理 一下 没 办法 1-2 A股 T恤 卡拉OK + # & 元 个 号 不知道 知道 道 话费 详单 流量"
)
PIECES = [*WORDS.split(), " ", "\t"]


def random_texts(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 12))) for _ in range(n)]


HAND_PICKED = [
    "您买的是“安测at-2”试纸50片",
    "施慧达2.5mg×14片，每盒29.8元",
    "账号zhangxiaoyu_2003，sn是qj-l7-2303-88142。",
    "明天下午2-5点上门，8:00-10:00空腹",
    "好好好总算批下来了谢谢你们",
    "哈哈哈哈哈哈，谢谢谢谢谢谢",
    "好的嗯嗯嗯~~，订单at-2，对对对您说得对",
    "我 想 办 个 5g 套餐",
    "",
]


def test_main_cutter_matches_python_jieba() -> None:
    reference, cutter = main_tokenizer(), main_cutter()
    for text in HAND_PICKED + random_texts(3000, seed=7):
        assert cutter.lcut(text) == reference.lcut(text), text


def test_added_words_are_cut_the_same(tmp_path: Path) -> None:
    user_dict = tmp_path / "user.txt"
    user_dict.write_text("流量详单 10 n\n不知道 5\n", encoding="utf-8")  # a new word and a re-weighted one
    reference = build_tokenizer(["话费详单", "工号", "at-2"], user_dict)
    cutter = Cutter(reference, base=main_tokenizer())
    assert cutter.lcut("查一下话费详单和流量详单") == reference.lcut("查一下话费详单和流量详单")
    for text in HAND_PICKED + random_texts(3000, seed=11):
        assert cutter.lcut(text) == reference.lcut(text), text


@pytest.mark.skipif(not DEV.is_file(), reason="../shared/data/conversations_dev is absent")
def test_every_dev_turn_is_cut_the_same() -> None:
    reference, cutter = main_tokenizer(), main_cutter()
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [turn["text"] for row in rows for turn in row["turns"]]
    assert len(texts) > 500
    assert [cutter.lcut(t) for t in texts] == [reference.lcut(t) for t in texts]


def test_without_the_wheel_python_cuts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rjieba", None)  # import rjieba now raises ImportError
    cutter = Cutter(main_tokenizer())
    assert cutter.engine == "python"
    assert cutter.lcut(HAND_PICKED[0]) == main_tokenizer().lcut(HAND_PICKED[0])


def test_the_native_cutter_is_not_pickled() -> None:
    import pickle

    with pytest.raises(TypeError, match="per process"):
        pickle.dumps(main_cutter())


def test_re_listed_and_deleted_words_keep_python_tokens(tmp_path: Path) -> None:
    """Python adds a re-listed word's frequency to its total again (jieba-rs replaces it; a ballast
    word evens the totals); a deleted word (frequency 0) makes Python cut alone."""
    base = main_tokenizer()
    common = [w for w, f in list(base.FREQ.items())[:200_000] if f > 50][:3000]
    relisted = tmp_path / "relisted.txt"
    relisted.write_text("".join(f"{w} {base.FREQ[w]}\n" for w in common), encoding="utf-8")
    reference = build_tokenizer([], relisted)
    cutter = Cutter(reference, base=base)
    assert cutter.engine == "rust" and reference.total > base.total
    texts = [*HAND_PICKED, "这个多少钱", "我不知道怎么弄", *random_texts(2000, seed=13)]
    if DEV.is_file():
        rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts += [turn["text"] for row in rows for turn in row["turns"]]
    assert [cutter.lcut(t) for t in texts] == [reference.lcut(t) for t in texts]


def test_deleted_words_make_python_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jieba import finalseg

    monkeypatch.setattr(finalseg, "Force_Split_Words", set())  # jieba's global, restored afterwards
    base = main_tokenizer()
    deleted = tmp_path / "deleted.txt"
    deleted.write_text("知道 0\n不知道 0\n", encoding="utf-8")
    reference = build_tokenizer([], deleted)
    cutter = Cutter(reference, base=base)
    assert cutter.engine == "python"  # 知道 was a dictionary word: jieba-rs would still use it
    assert cutter.lcut("我不知道") == reference.lcut("我不知道")
    # a deleted word that was no dictionary word changes Python's HMM for every tokenizer (a global):
    # the main cutter follows it
    assert "不知道" in finalseg.Force_Split_Words
    assert main_cutter().lcut("我真不知道啊") == main_tokenizer().lcut("我真不知道啊")


def test_characters_only_jieba_rs_reads_as_chinese_are_cut_by_python() -> None:
    reference, cutter = main_tokenizer(), main_cutter()
    for text in ["㐀㐁", "𠮷𠮷的事", "說明書豈", "你好\ue000\ue001\ue002吗", "好\ud800好"]:
        assert cutter.lcut(text) == reference.lcut(text), text
