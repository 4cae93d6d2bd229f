from __future__ import annotations

from qa_pipeline.text.width import collapse_whitespace, to_halfwidth


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
