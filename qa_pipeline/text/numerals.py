"""Chinese numerals to Arabic numbers, for matching (never for display).

Two views:

* :func:`to_arabic_digits` maps each digit character (Chinese 零〇一幺二两三四五六七八九, full-width
  ０-９) to its ASCII digit, one character for one, so offsets hold. The pii stage detects on it.
* :func:`normalize_numerals` rewrites numbers as a reader means them: digit-by-digit runs
  (幺三八 → 138), positional numbers (一百二十三 → 123, colloquial 三千五 → 3500, 一万二 → 12000),
  decimals (三点五 → 3.5), percentages (百分之二十 → 20%). Words that merely contain numeral
  characters (一下, 一样, 统一, 万一, 十分, 一点点 …) are left alone, and so are approximations
  (三四个, 一两天, 十七八岁) and anything that does not parse as one number. Lengths change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from itertools import pairwise, takewhile

DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
SMALL_UNITS: dict[str, int] = {"十": 10, "百": 100, "千": 1000}
BIG_UNITS: dict[str, int] = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
POINTS = "点點"
ZEROS = "零〇"

_DIGIT_TABLE = {ord(ch): str(v) for ch, v in DIGITS.items()}
_DIGIT_TABLE.update({0xFF10 + i: str(i) for i in range(10)})
_FULLWIDTH_DIGITS = {0xFF10 + i: str(i) for i in range(10)}

#: words with numeral characters that are not numbers (longest first when matched)
PROTECTED_WORDS: tuple[str, ...] = (
    "一下", "一样", "一些", "一直", "统一", "万一", "一般", "十分", "一点", "一点点", "一点儿", "一起",
    "唯一", "一定", "一旦", "一切", "一致", "一边", "一向", "一再", "一律", "一会", "一阵", "一番",
    "一面", "一同", "一贯", "一概", "一味", "一心", "一时", "一度", "一带", "一路", "一流", "一手",
    "一口气", "一并", "一半", "一方面", "一开始", "一来", "一共", "一体", "一生", "一辈子", "一旁",
    "一则", "之一", "同一", "专一", "一一", "一模一样", "一塌糊涂", "一五一十", "一言难尽",
    "说一不二", "独一无二", "一清二楚", "一干二净", "三心二意", "不三不四", "乱七八糟", "七上八下",
    "七嘴八舌", "五花八门", "九死一生", "十全十美", "十足", "三番五次", "千方百计", "千万", "万万",
    "万分", "百分百", "百般", "百货", "二维码", "二手", "第三方", "零钱", "零食", "零件", "零售",
    "零星", "零散", "四处", "四周", "万能",
)  # fmt: skip
#: extra characters that must not follow a protected word for it to stay a word (十分钟 = 10 minutes)
_NOT_FOLLOWED_BY = {"十分": "钟", "一点": "钟半整"}

_NUMERAL = "".join(DIGITS) + "".join(SMALL_UNITS) + "".join(BIG_UNITS)
_N = f"[{_NUMERAL}]"
_EDGE = f"[{_NUMERAL}{POINTS}]"
_ASCII_LOWER = {cp: cp + 32 for cp in range(ord("A"), ord("Z") + 1)}
_APPROX = {(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9), (3, 5)}


def _protected_pattern(word: str) -> str:
    before = f"(?<!{_EDGE})" if word[0] in _NUMERAL else ""
    banned = _NOT_FOLLOWED_BY.get(word, "")
    after = f"(?![{_NUMERAL}{POINTS}{banned}])" if word[-1] in _NUMERAL + POINTS or banned else ""
    return before + re.escape(word) + after


_KEEP = "|".join(_protected_pattern(w) for w in sorted(PROTECTED_WORDS, key=len, reverse=True))
_NUMBER = rf"{_N}+(?:[{POINTS}]{_N}+)?"
# every alternative starts with one of these characters: the lookahead rejects other positions at once
_STARTS = re.escape("".join(sorted({w[0] for w in PROTECTED_WORDS} | set(_NUMERAL) | {"几", "百"})))
_PATTERN = re.compile(
    rf"(?=[{_STARTS}])(?:(?P<keep>{_KEEP}|几[十百千万亿]+)|百分之(?P<pct>{_NUMBER})|(?P<num>{_NUMBER}))"
)


def digit_characters() -> set[str]:
    """Every character :func:`to_arabic_digits` turns into a digit, and the ASCII digits."""
    return {chr(cp) for cp in _DIGIT_TABLE} | set("0123456789")


def to_arabic_digits(text: str) -> str:
    """Map every digit character (Chinese or full-width) to its ASCII digit, 1:1 (offsets hold)."""
    return text.translate(_DIGIT_TABLE)


def normalize_numerals(text: str) -> str:
    """Rewrite Chinese numerals as Arabic numbers for matching; leave non-number words alone."""
    return _PATTERN.sub(_replace, text.translate(_FULLWIDTH_DIGITS))


_HAN = re.compile(r"[\u3400-\u9fff]")
_SPACES = re.compile(r"[ \t\u3000]+")
_DIGITS = frozenset("0123456789０１２３４５６７８９*＊")
_STARS = frozenset("*＊")


def unspaced(text: str) -> str:
    """The text without the spaces between its words, where a recogniser wrote Chinese word by word
    (查 到 了 昨天 → 查到了昨天; 五 五 零 八, 1 3 9 * * * * → digits read one by one): at least one such
    space for every four Han characters. Spaces between numbers that are not read digit by digit
    (套餐 58 88 128) and next to Latin words stay; text with fewer spaces (喂 你好 我那个套餐这几天网速慢得很)
    is returned as it is."""
    if " " not in text and "\t" not in text and "\u3000" not in text:
        return text  # most texts: no split needed
    parts = _SPACES.split(text)
    joins = [_joins(a, b) for a, b in pairwise(parts)]
    if 4 * sum(joins) < len(_HAN.findall(text)):
        return text
    out = [parts[0]]
    for part, join in zip(parts[1:], joins, strict=True):
        out.append(part if join else " " + part)
    return "".join(out)


def _run(chars: Iterable[str]) -> str:
    """The leading run of digit (or mask) characters."""
    return "".join(takewhile(_DIGITS.__contains__, chars))


def _joins(left: str, right: str) -> bool:
    """Whether the space between two words is one a recogniser put inside Chinese text."""
    if not left or not right:
        return False
    a, b = left[-1], right[0]
    if a in _DIGITS and b in _DIGITS:  # one digit at a time, or a masked group (150 **** 3344)
        tail, head = _run(reversed(left)), _run(right)
        return (len(tail) == 1 and len(head) == 1) or set(tail) <= _STARS or set(head) <= _STARS
    han_a, han_b = _HAN.match(a) is not None, _HAN.match(b) is not None
    return (han_a or han_b) and (han_a or a in _DIGITS) and (han_b or b in _DIGITS)


def matching_view(text: str) -> str:
    """The matching form of a text (``Turn.norm``): words written apart joined (:func:`unspaced`),
    numerals normalised, ASCII lower-cased."""
    return normalize_numerals(unspaced(text)).translate(_ASCII_LOWER)


def _replace(m: re.Match[str]) -> str:
    if m.group("keep"):
        return m.group(0)
    if m.group("pct"):
        value = "100" if m.group("pct") == "百" else convert_number(m.group("pct"))
        return m.group(0) if value is None else value + "%"
    value = convert_number(m.group("num"))
    return m.group(0) if value is None else value


def convert_number(run: str) -> str | None:
    """Arabic form of one run of numeral characters (with at most one 点), or None if it is not one number."""
    head, point, tail = _split_point(run)
    whole = _integer(head)
    if whole is None:
        return None
    if not point:
        return whole
    fraction = _fraction(whole, tail)
    if fraction is not None:
        return fraction
    rest = _integer(tail)  # 三点二十 is a time of day, not a decimal
    return None if rest is None else f"{whole}点{rest}"


def _split_point(run: str) -> tuple[str, str, str]:
    for p in POINTS:
        if p in run:
            return run.partition(p)
    return run, "", ""


def _integer(run: str) -> str | None:
    """A run without 点: digit by digit when it has no units, else positional."""
    if not any(ch in SMALL_UNITS or ch in BIG_UNITS for ch in run):
        return None if _is_approximation(run) else run.translate(_DIGIT_TABLE)
    value = parse_positional(run)
    return None if value is None else str(value)


def _is_approximation(run: str) -> bool:
    """三四(个), 一两(天), 三五(天): two neighbouring digits mean 'three or four', not 34."""
    if len(run) != 2 or run[0] in ZEROS or run[1] in ZEROS:
        return False
    return (DIGITS[run[0]], DIGITS[run[1]]) in _APPROX


def _fraction(whole: str, tail: str) -> str | None:
    """Decimal part: digits only, optionally scaled by a trailing 万/亿 (一点五万 → 15000)."""
    scale = 1
    if tail and tail[-1] in BIG_UNITS:
        scale, tail = BIG_UNITS[tail[-1]], tail[:-1]
    if not tail or any(ch not in DIGITS for ch in tail):
        return None
    value = Decimal(f"{whole}.{tail.translate(_DIGIT_TABLE)}") * scale
    return _format_decimal(value) if scale > 1 else f"{whole}.{tail.translate(_DIGIT_TABLE)}"


def _format_decimal(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


class _Positional:
    """State of a positional parse: 亿 > 万 > section (千百十 + digit)."""

    def __init__(self) -> None:
        self.total = 0  # everything above the current 万-section
        self.section = 0
        self.digit: int | None = None
        self.last_unit = 0  # value of the unit just read (for 三千五 → 3500)
        self.section_unit = 10**5  # units inside a section must decrease
        self.zero = False

    def read_digit(self, ch: str) -> bool:
        if ch in ZEROS:
            self.zero, self.last_unit = True, 0
            return self.digit is None
        if self.digit is not None:
            return False  # 三四十: two digits without a unit between them
        self.digit = DIGITS[ch]
        return True

    def read_small(self, unit: int) -> bool:
        if unit >= self.section_unit or (self.digit is None and unit != 10):
            return False
        self.section += (1 if self.digit is None else self.digit) * unit
        self.digit, self.last_unit, self.section_unit, self.zero = None, unit, unit, False
        return True

    def read_big(self, unit: int) -> bool:
        body = self.section + (self.digit or 0)
        if body == 0 and self.total == 0:
            return False  # 万 / 亿 alone
        if unit > 10**4:
            self.total = (self.total + body) * unit
        elif self.total % 10**8 or body == 0:
            return False  # 万 twice in one 亿-section
        else:
            self.total += body * unit
        self.section, self.digit, self.last_unit, self.section_unit = 0, None, unit, 10**5
        self.zero = False
        return True

    def value(self) -> int:
        tail = self.digit or 0
        if self.last_unit >= 100 and not self.zero:
            tail *= self.last_unit // 10  # 三千五 = 3500, 一万二 = 12000
        return self.total + self.section + tail


def parse_positional(run: str) -> int | None:
    """Value of a positional numeral (一百二十三, 三千五, 一万二, 两万, 十五), or None."""
    state = _Positional()
    for ch in run:
        if ch in DIGITS:
            ok = state.read_digit(ch)
        elif ch in SMALL_UNITS:
            ok = state.read_small(SMALL_UNITS[ch])
        else:
            ok = state.read_big(BIG_UNITS[ch])
        if not ok:
            return None
    return state.value()
