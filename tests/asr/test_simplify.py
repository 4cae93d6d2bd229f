from __future__ import annotations

from qa_pipeline.asr.simplify import simplify_pieces, to_simplified


def test_to_simplified() -> None:
    assert to_simplified("廣州市協會分析") == "广州市协会分析"
    assert to_simplified("") == ""
    assert to_simplified("已经是简体") == "已经是简体"


def test_simplify_pieces_keeps_word_boundaries() -> None:
    pieces = ["廣", "州市", "頭髮", "乾淨"]
    assert simplify_pieces(pieces) == ["广", "州市", "头发", "干净"]


def test_simplify_pieces_uses_phrase_context() -> None:
    # character by character 乾 -> 干 and 藉 stays; as phrases 乾隆 stays and 藉口 -> 借口
    assert simplify_pieces(["乾", "隆"]) == ["乾", "隆"]
    assert simplify_pieces(["藉", "口"]) == ["借", "口"]
    assert [to_simplified(p) for p in ["乾", "隆", "藉", "口"]] == ["干", "隆", "藉", "口"]
