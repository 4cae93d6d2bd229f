from __future__ import annotations

import pytest

from qa_pipeline.text.numerals import (
    convert_number,
    matching_view,
    normalize_numerals,
    parse_positional,
    to_arabic_digits,
    unspaced,
)

CASES = [
    # digit by digit (phone numbers, room numbers, years)
    ("一三八", "138"),
    ("幺", "1"),
    ("幺三八幺二三四五六七八", "13812345678"),
    ("房间一零二", "房间102"),
    ("二零二四年", "2024年"),
    ("工号二零六", "工号206"),
    ("两个", "2个"),
    ("〇", "0"),
    # positional
    ("二十", "20"),
    ("十五", "15"),
    ("一百二十三", "123"),
    ("一百一十九号", "119号"),
    ("三百八十八号七栋一零二", "388号7栋102"),
    ("一千零八十公里", "1080公里"),
    ("一千零五", "1005"),
    ("一万零五百", "10500"),
    ("两万", "20000"),
    ("十万", "100000"),
    ("五十万零三", "500003"),
    ("十二万三千四百五十六", "123456"),
    ("三千万", "30000000"),
    ("一亿二千万", "120000000"),
    # colloquial abbreviations
    ("三千五", "3500"),
    ("一万二", "12000"),
    ("两百五", "250"),
    ("一百五十块", "150块"),
    ("一万一", "11000"),
    # decimals, percentages, times
    ("三点五", "3.5"),
    ("零点五", "0.5"),
    ("一点五", "1.5"),
    ("一点五万", "15000"),
    ("百分之二十", "20%"),
    ("百分之二十五点五", "25.5%"),
    ("百分之百", "100%"),
    ("下午三点", "下午3点"),
    ("三点十分", "3点10分"),
    ("等十分钟", "等10分钟"),
    ("第一", "第1"),
    ("十八号到期", "18号到期"),
    # full-width and mixed
    ("１２３", "123"),
    ("138一二三四五六七八", "13812345678"),
    # words that are not numbers stay
    ("等一下", "等一下"),
    ("一样", "一样"),
    ("一些", "一些"),
    ("一直没到", "一直没到"),
    ("统一", "统一"),
    ("万一丢了", "万一丢了"),
    ("一般", "一般"),
    ("十分感谢", "十分感谢"),
    ("快一点", "快一点"),
    ("一点点", "一点点"),
    ("一起", "一起"),
    ("唯一", "唯一"),
    ("千万别挂", "千万别挂"),
    ("扫二维码", "扫二维码"),
    ("一模一样", "一模一样"),
    ("乱七八糟", "乱七八糟"),
    ("几十个", "几十个"),
    ("百货", "百货"),
    ("零钱", "零钱"),
    # approximations stay
    ("三四个", "三四个"),
    ("一两天", "一两天"),
    ("三五天", "三五天"),
    ("十七八岁", "十七八岁"),
    ("一两百", "一两百"),
    # text without numerals is unchanged
    ("您好，请问有什么可以帮您？", "您好，请问有什么可以帮您？"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_numerals(text: str, expected: str) -> None:
    assert normalize_numerals(text) == expected


def test_normalize_numerals_in_a_sentence() -> None:
    text = "您的套餐一个月一百二十八元，流量百分之八十用完了，三点五个G，稍等一下。"
    assert normalize_numerals(text) == "您的套餐1个月128元，流量80%用完了，3.5个G，稍等一下。"


@pytest.mark.parametrize(
    ("run", "value"),
    [("十", 10), ("十一", 11), ("二十一", 21), ("一百零一", 101), ("九千九百九十九", 9999), ("一万万", None),
     ("三四十", None), ("百", None), ("万", None), ("十百", None), ("一千二百万", 12_000_000)],
)  # fmt: skip
def test_parse_positional(run: str, value: int | None) -> None:
    assert parse_positional(run) == value


def test_convert_number_rejects_non_numbers() -> None:
    assert convert_number("千万") is None
    assert convert_number("三四") is None


def test_to_arabic_digits_is_one_to_one() -> None:
    text = "电话幺三八 一二三四 五六七八，卡号０１２３，两〇零"
    out = to_arabic_digits(text)
    assert len(out) == len(text)
    assert out == "电话138 1234 5678，卡号0123，200"
    assert to_arabic_digits("十百千万") == "十百千万"


def test_matching_view_lowercases_ascii_only() -> None:
    assert matching_view("百分之二十的VIP卡，ＡＢ") == "20%的vip卡，ＡＢ"


def test_unspaced_joins_words_written_apart_and_keeps_clause_spaces() -> None:
    assert unspaced("嗯 查 到 了 昨天 晚上 一 笔") == "嗯查到了昨天晚上一笔"
    assert unspaced("1 3 9 * * * * 9 4 2 1") == "139****9421"
    # a space every clause, not every word: kept
    assert unspaced("喂 你好 我那个无限流量套餐 这几天网速慢") == "喂 你好 我那个无限流量套餐 这几天网速慢"
    assert unspaced("喂 你好 我想问一下") == "喂你好我想问一下"  # short clauses: one space in four
    assert unspaced("VIP 会员 ok Yes") == "VIP 会员 ok Yes"
    assert unspaced("150 **** 3344") == "150****3344"  # a masked number's groups
    # numbers not read digit by digit stay apart (a code review's cases)
    assert unspaced("套餐 有 58 88 128") == "套餐有58 88 128"
    assert unspaced("房间 1208 2 个 人") == "房间1208 2个人"
    assert unspaced("后 四 位 ５ ５ ０ ８") == "后四位５５０８"


def test_matching_view_reads_word_spaced_numbers_as_one() -> None:
    assert matching_view("后 四 位 五 五 零 八") == "后4位5508"
