from __future__ import annotations

import pytest

from qa_pipeline.asr.cer import CerResult, cer, edit_distance, normalize_for_cer, pool


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("廣州市房地產", "广州市房地产"),  # Traditional -> Simplified
        ("您好，请问？需要办理什么！", "您好请问需要办理什么"),  # Chinese punctuation
        ('Hi, "OK" - fine.', "hiokfine"),  # ASCII punctuation and spaces, lower case
        ("工号幺三八两零〇", "工号138200"),  # 幺 -> 1, 两 -> 2, 〇 -> 0
        ("零一二三四五六七八九", "0123456789"),
        ("１２３ＡＢ　ｃ", "123abc"),  # full-width digits, letters and space
        ("《合同》【第1条】~ ￥100", "合同第1条100"),  # brackets and symbols
    ],
)
def test_normalize_for_cer(text: str, expected: str) -> None:
    assert normalize_for_cer(text) == expected


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "abc", 0), ("abc", "axc", 1), ("abc", "", 3), ("", "ab", 2),
     ("kitten", "sitting", 3), ("广州市房地产", "广州房产", 2), ("ab", "ba", 2)],
)  # fmt: skip
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_cer_compares_normalised_views() -> None:
    assert cer("身份证后六位三幺二八幺零。", "身分證後六位，312810").edits == 1  # 分 for 份 only
    assert cer("三幺二八幺零", "312810").cer == 0.0
    result = cer("广州市房地产中介协会分析", "廣州市佛地產中間協會分析")
    assert (result.edits, result.ref_chars, result.hyp_chars) == (2, 12, 12)
    assert result.cer == pytest.approx(2 / 12)


def test_cer_of_empty_reference() -> None:
    assert cer("。", "").cer == 0.0
    assert cer("", "多余").cer == 1.0


def test_pool_is_total_edits_over_total_reference() -> None:
    pooled = pool([CerResult(1, 10, 9), CerResult(9, 30, 30)])
    assert (pooled.edits, pooled.ref_chars, pooled.hyp_chars) == (10, 40, 39)
    assert pooled.cer == pytest.approx(0.25)
