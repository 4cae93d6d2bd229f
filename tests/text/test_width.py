from __future__ import annotations

import random
import sys
import unicodedata

from qa_pipeline.text.width import collapse_whitespace, nfkc, to_halfwidth


def test_fullwidth_ascii_becomes_ascii() -> None:
    assert to_halfwidth("ＡＢＣ１２３ｘｙｚ＠．－＃％") == "ABC123xyz@.-#%"
    assert to_halfwidth("a\u3000b") == "a b"


def test_chinese_punctuation_is_kept() -> None:
    text = "您好，请问？好的！注意：一；二（三）。"
    assert to_halfwidth(text) == text


def test_length_is_preserved() -> None:
    text = "卡号：６２２２　０２１３，邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    assert len(to_halfwidth(text)) == len(text)
    assert to_halfwidth(text) == "卡号：6222 0213，邮箱zhang@example.com"


def test_collapse_whitespace() -> None:
    assert collapse_whitespace("  好的\t\t 谢谢\n再见 ") == "好的 谢谢 再见"
    assert collapse_whitespace("138\u200b1234\ufeff5678") == "13812345678"
    assert collapse_whitespace(" \n ") == ""


def test_nfkc_equals_unicodedata_on_every_code_point() -> None:
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        assert nfkc(ch) == unicodedata.normalize("NFKC", ch), hex(cp)


def test_nfkc_equals_unicodedata_on_mixed_text() -> None:
    rng = random.Random(7)
    # full-width forms and ligatures next to combining marks, Hangul jamo, and Chinese text
    pool = (
        "ＡＢａ１２，？！：；（）～…\u3000ﬁ①ⓐ𝐀"
        + "\u0301\u0308\u0327\u20dd\u3099"
        + "\u1100\u1161\u11a8가"
        + "您好，请问é"
    )
    for _ in range(20_000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)


def test_nfkc_of_chinese_turns() -> None:
    text = "您好，请问您的订单号是：ＡＢ１２３４？（稍等）\u3000好的！"
    assert nfkc(text) == unicodedata.normalize("NFKC", text) == "您好,请问您的订单号是:AB1234?(稍等) 好的!"
